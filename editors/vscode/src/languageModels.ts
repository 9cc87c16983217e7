// Fireside's models in VS Code's model picker, where this VS Code lets extensions provide
// language models (`vscode.lm.registerLanguageModelChatProvider`, VS Code 1.104+). Older
// builds do not have it, so everything here is found at run time, and the types below
// are the part of that API this file uses.

import type * as vscode from "vscode";

/** A request message as the API hands it over: a role and parts, text among them. */
export interface RequestMessage {
  role: number; // 1 user, 2 assistant (vscode.LanguageModelChatMessageRole)
  content: readonly unknown[];
}

export interface ModelInformation {
  id: string;
  name: string;
  family: string;
  version: string;
  maxInputTokens: number;
  maxOutputTokens: number;
  tooltip: string;
  capabilities: Record<string, never>;
}

/** The messages as the server's `fireside/chat` takes them; parts that are not text
 * (images, tool calls) are left out, since the local models read text only. */
export function toChatMessages(messages: readonly RequestMessage[]): { role: "user" | "assistant"; content: string }[] {
  return messages
    .map((m) => ({
      role: m.role === 2 ? ("assistant" as const) : ("user" as const),
      content: m.content.map((part) => (typeof (part as { value?: unknown }).value === "string" ? (part as { value: string }).value : "")).join(""),
    }))
    .filter((m) => m.content);
}

/** One entry of the model picker per model the daemon has. */
export function modelInformation(name: string): ModelInformation {
  return { id: name, name: `${name} (Fireside, local)`, family: name.split(":")[0], version: name.split(":")[1] ?? "latest",
    maxInputTokens: 8192, maxOutputTokens: 2048, tooltip: "Runs on this machine through the Fireside daemon", capabilities: {} };
}

type Chat = (model: string, messages: { role: string; content: string }[], onDelta: (text: string) => void, token: vscode.CancellationToken) => Promise<void>;

/** Register the provider if this VS Code can take one; returns its disposable, or undefined. */
export function registerLanguageModels(api: typeof vscode, models: () => Promise<string[]>, chat: Chat): vscode.Disposable | undefined {
  const lm = api.lm as unknown as { registerLanguageModelChatProvider?: (vendor: string, provider: unknown) => vscode.Disposable };
  const TextPart = (api as unknown as { LanguageModelTextPart?: new (value: string) => unknown }).LanguageModelTextPart;
  if (typeof lm?.registerLanguageModelChatProvider !== "function" || !TextPart) return undefined;
  return lm.registerLanguageModelChatProvider("fireside", {
    provideLanguageModelChatInformation: async () => (await models()).map(modelInformation),
    provideLanguageModelChatResponse: async (model: ModelInformation, messages: readonly RequestMessage[], _options: unknown, progress: vscode.Progress<unknown>, token: vscode.CancellationToken) =>
      chat(model.id, toChatMessages(messages), (text) => progress.report(new TextPart(text)), token),
    provideTokenCount: async (_model: ModelInformation, text: string | RequestMessage) =>
      Math.ceil((typeof text === "string" ? text : toChatMessages([text]).map((m) => m.content).join("")).length / 3.5),
  });
}
