// Fireside for VS Code: a thin client of `fireside lsp`.
//
// The language server does the work (completions, code actions, chat, escalation); this
// extension starts it, keeps its settings in sync, shows its status, asks the user what
// the server cannot (a refactor's instruction, a model choice) and offers chat in VS Code's
// chat view (`@fireside`).

import * as vscode from "vscode";
import { LanguageClient, LanguageClientOptions, ServerOptions, State as ClientState } from "vscode-languageclient/node";

import { ChatPanel } from "./chatPanel";
import { registerLanguageModels } from "./languageModels";
import { completionsOn, launchFailure, launchSettings, serverSettings, toggledLanguage } from "./settings";
import { parseStatus, statusView, State } from "./status";

const LANGUAGES = ["python", "javascript", "javascriptreact", "typescript", "typescriptreact", "go", "rust", "java", "c", "cpp", "lua"];
const REFACTOR = "fireside.refactor";

interface RefactorResult {
  edit: unknown;
  title: string;
  passed: boolean;
  provenance: string;
  model: string;
  notes: string[];
}

class Fireside {
  private client: LanguageClient | undefined;
  private readonly output = vscode.window.createOutputChannel("Fireside", { log: true });
  private readonly status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  private state: State = "starting";
  private message = "";

  constructor(private readonly context: vscode.ExtensionContext) {
    this.status.command = "fireside.statusMenu";
    context.subscriptions.push(this.output, this.status);
  }

  private config(): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration("fireside");
  }

  async start(): Promise<void> {
    const launch = launchSettings(this.config());
    const serverOptions: ServerOptions = { command: launch.command, args: launch.args };
    const clientOptions: LanguageClientOptions = {
      documentSelector: LANGUAGES.flatMap((language) => [{ scheme: "file", language }, { scheme: "untitled", language }]),
      initializationOptions: serverSettings(this.config()),
      outputChannel: this.output,
      middleware: {
        // The server's "refactor selection…" action carries [uri, range]: ask for the instruction here.
        executeCommand: async (command, args, next) => (command === REFACTOR ? this.refactor(args, next) : next(command, args)),
        provideInlineCompletionItems: async (document, position, context, token, next) =>
          completionsOn(serverSettings(this.config()), document.languageId) ? next(document, position, context, token) : undefined,
      },
    };
    const client = new LanguageClient("fireside", "Fireside", serverOptions, clientOptions);
    client.onNotification("$/fireside/status", (params) => {
      const { state, message } = parseStatus(params);
      this.show(state, message);
    });
    client.onDidChangeState((event) => {
      if (event.newState === ClientState.Stopped) this.show("error", "the language server stopped");
    });
    this.client = client;
    this.show("starting", "");
    try {
      await client.start();
      this.show(serverSettings(this.config()).completion.enabled ? "idle" : "disabled", "");
    } catch (error) {
      const message = launchFailure(launch.command, error);
      this.show("error", message);
      const choice = await vscode.window.showErrorMessage(message, "Open Settings", "Show Logs");
      if (choice === "Open Settings") void vscode.commands.executeCommand("workbench.action.openSettings", "fireside.server.path");
      if (choice === "Show Logs") this.output.show();
    }
  }

  async stop(): Promise<void> {
    await this.client?.stop();
    this.client = undefined;
  }

  /** Settings changed: the server gets them at once, no restart (except where it runs from). */
  async configurationChanged(event: vscode.ConfigurationChangeEvent): Promise<void> {
    if (!event.affectsConfiguration("fireside")) return;
    if (event.affectsConfiguration("fireside.server")) {
      await this.stop();
      await this.start();
      return;
    }
    await this.client?.sendNotification("workspace/didChangeConfiguration", { settings: { fireside: serverSettings(this.config()) } });
    this.show(serverSettings(this.config()).completion.enabled ? "idle" : "disabled", "");
  }

  private show(state: State, message: string): void {
    this.state = state;
    this.message = message;
    const view = statusView(state, serverSettings(this.config()).models.completion, message);
    this.status.text = view.text;
    this.status.tooltip = view.tooltip;
    this.status.backgroundColor = view.warning ? new vscode.ThemeColor("statusBarItem.warningBackground") : undefined;
    this.status.show();
  }

  private async refactor(args: unknown[], next: (command: string, args: unknown[]) => Promise<unknown>): Promise<unknown> {
    const [uri, range] = args;
    let instruction = typeof args[2] === "string" ? args[2] : undefined;
    instruction ??= await vscode.window.showInputBox({ title: "Fireside: refactor selection", prompt: "What should change?", placeHolder: "e.g. extract the loop into a helper" });
    if (!instruction?.trim() || !this.client) return undefined;
    const result = (await next(REFACTOR, [uri, range, instruction])) as RefactorResult | undefined;
    if (!result) return undefined;
    const edit = await this.client.protocol2CodeConverter.asWorkspaceEdit(result.edit as never);
    const verdict = result.passed ? "checks passed" : "checks FAILED";
    const notes = result.notes.length ? ` (${result.notes.join("; ")})` : "";
    const choice = await vscode.window.showInformationMessage(`${result.title}: ${result.provenance} draft by ${result.model}, ${verdict}${notes}.`, "Apply", "Discard");
    if (choice === "Apply" && edit) await vscode.workspace.applyEdit(edit);
    return undefined;
  }

  async refactorSelection(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor || editor.selection.isEmpty) {
      void vscode.window.showWarningMessage("Fireside: select the code to refactor first.");
      return;
    }
    const s = editor.selection;
    await vscode.commands.executeCommand(REFACTOR, editor.document.uri.toString(), [s.start.line, s.start.character, s.end.line, s.end.character]);
  }

  async menu(): Promise<void> {
    const settings = serverSettings(this.config());
    const language = vscode.window.activeTextEditor?.document.languageId;
    const items: (vscode.QuickPickItem & { run: () => Thenable<unknown> | void })[] = [
      { label: settings.completion.enabled ? "$(circle-slash) Turn inline completions off" : "$(check) Turn inline completions on", run: () => this.toggleCompletions() },
      ...(language ? [{ label: `$(symbol-keyword) Toggle completions for ${language}`, run: () => this.toggleLanguage() }] : []),
      { label: `$(hubot) Completion model: ${settings.models.completion}`, description: "choose another", run: () => this.chooseModel() },
      { label: "$(comment-discussion) Open chat", run: () => this.openChat() },
      { label: "$(graph) Show the escalation ledger", run: () => this.showLedger() },
      { label: "$(output) Show logs", run: () => this.showLogs() },
      { label: "$(debug-restart) Restart the language server", run: () => this.restart() },
    ];
    const picked = await vscode.window.showQuickPick(items, { title: `Fireside: ${this.state}${this.message ? ` (${this.message})` : ""}` });
    await picked?.run();
  }

  toggleCompletions(): Thenable<void> {
    return this.config().update("completion.enabled", !serverSettings(this.config()).completion.enabled, vscode.ConfigurationTarget.Global);
  }

  toggleLanguage(): Thenable<void> | void {
    const language = vscode.window.activeTextEditor?.document.languageId;
    if (!language) return;
    return this.config().update("completion.languages", toggledLanguage(serverSettings(this.config()).completion.languages, language), vscode.ConfigurationTarget.Global);
  }

  async chooseModel(): Promise<void> {
    const models = await this.daemonModels();
    const picked = await vscode.window.showQuickPick(models, { title: "Fireside: completion model", placeHolder: "models the daemon has (fireside pull NAME adds more)" });
    if (picked) await this.config().update("models.completion", picked, vscode.ConfigurationTarget.Global);
  }

  /** One streamed answer from the server's `fireside/chat` (no history kept there). */
  async chat(model: string, messages: { role: string; content: string }[], onDelta: (text: string) => void, token: vscode.CancellationToken): Promise<void> {
    const client = this.client;
    if (!client) throw new Error("the Fireside language server is not running");
    const partialResultToken = `lm-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const listener = client.onProgress({ method: "fireside/chat" } as never, partialResultToken, (value: unknown) => {
      const delta = (value as { delta?: unknown } | undefined)?.delta;
      if (typeof delta === "string" && delta) onDelta(delta);
    });
    try {
      await client.sendRequest("fireside/chat", { model, messages, partialResultToken }, token);
    } finally {
      listener.dispose();
    }
  }

  /** The daemon's models, through its own `/api/tags`. */
  async daemonModels(): Promise<string[]> {
    const host = serverSettings(this.config()).daemon.host ?? process.env.FIRESIDE_HOST ?? "127.0.0.1:11435";
    const base = host.startsWith("http") ? host : `http://${host}`;
    try {
      const response = await fetch(`${base}/api/tags`);
      const body = (await response.json()) as { models?: { name: string }[] };
      return (body.models ?? []).map((m) => m.name);
    } catch (error) {
      void vscode.window.showErrorMessage(`Fireside: the daemon at ${base} did not answer (${String(error)}).`);
      return [];
    }
  }

  async showLedger(): Promise<void> {
    const launch = launchSettings(this.config());
    const { execFile } = await import("node:child_process");
    execFile(launch.command, ["ledger"], (error, stdout, stderr) => {
      this.output.appendLine(error ? `fireside ledger failed: ${stderr || error.message}` : stdout);
      this.output.show();
    });
  }

  /** VS Code's chat view with @fireside where it exists, else Fireside's own panel. */
  async openChat(): Promise<void> {
    if (hasChatView()) {
      try {
        await vscode.commands.executeCommand("workbench.action.chat.open", { query: "@fireside " });
        return;
      } catch {
        // no chat view in this build: the panel below
      }
    }
    ChatPanel.show(() => this.client);
  }

  get languageClient(): LanguageClient | undefined {
    return this.client;
  }

  showLogs(): void {
    this.output.show();
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** `@fireside` in VS Code's chat view: the server's `fireside/chat`, streamed. */
  chatHandler(): vscode.ChatRequestHandler {
    const conversations = new WeakMap<vscode.ChatContext["history"], string>();
    return async (request, context, stream, token) => {
      if (!this.client) {
        stream.markdown("The Fireside language server is not running: see *Fireside: Show Logs*.");
        return;
      }
      const editor = vscode.window.activeTextEditor;
      const selection = editor && !editor.selection.isEmpty ? editor.selection : undefined;
      const partialResultToken = `chat-${Date.now()}-${Math.random().toString(36).slice(2)}`;
      const listener = this.client.onProgress({ method: "fireside/chat" } as never, partialResultToken, (value: unknown) => {
        const delta = (value as { delta?: unknown } | undefined)?.delta;
        if (typeof delta === "string" && delta) stream.markdown(delta);
      });
      const history = context.history
        .map((turn) => (turn instanceof vscode.ChatRequestTurn ? { role: "user", content: turn.prompt } : { role: "assistant", content: (turn as vscode.ChatResponseTurn).response.map((p) => (p instanceof vscode.ChatResponseMarkdownPart ? p.value.value : "")).join("") }))
        .filter((m) => m.content);
      try {
        await this.client.sendRequest("fireside/chat", {
          conversationId: conversations.get(context.history),
          messages: [...history, { role: "user", content: request.prompt }],
          context: editor ? { uri: editor.document.uri.toString(), range: selection ? [selection.start.line, selection.start.character, selection.end.line, selection.end.character] : null, file: !selection } : undefined,
          partialResultToken,
        }, token);
      } finally {
        listener.dispose();
      }
    };
  }
}

/** Whether this VS Code has the chat view's API (1.90+; builds without it get the panel). */
function hasChatView(): boolean {
  const chat = (vscode as { chat?: Partial<typeof vscode.chat> }).chat;
  return typeof chat?.createChatParticipant === "function";
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const fireside = new Fireside(context);
  context.subscriptions.push(
    vscode.commands.registerCommand("fireside.statusMenu", () => fireside.menu()),
    vscode.commands.registerCommand("fireside.toggleCompletions", () => fireside.toggleCompletions()),
    vscode.commands.registerCommand("fireside.toggleLanguage", () => fireside.toggleLanguage()),
    vscode.commands.registerCommand("fireside.chooseModel", () => fireside.chooseModel()),
    vscode.commands.registerCommand("fireside.showLedger", () => fireside.showLedger()),
    vscode.commands.registerCommand("fireside.showLogs", () => fireside.showLogs()),
    vscode.commands.registerCommand("fireside.refactorWithInstruction", () => fireside.refactorSelection()),
    vscode.commands.registerCommand("fireside.restart", () => fireside.restart()),
    vscode.commands.registerCommand("fireside.openChat", () => fireside.openChat()),
    vscode.commands.registerCommand("fireside.openChatPanel", () => ChatPanel.show(() => fireside.languageClient)),
    vscode.workspace.onDidChangeConfiguration((event) => fireside.configurationChanged(event)),
    { dispose: () => void fireside.stop() },
  );
  const models = registerLanguageModels(vscode, () => fireside.daemonModels(), (model, messages, onDelta, token) => fireside.chat(model, messages, onDelta, token));
  if (models) context.subscriptions.push(models);
  if (hasChatView()) {
    const participant = vscode.chat.createChatParticipant("fireside.chat", fireside.chatHandler());
    participant.iconPath = new vscode.ThemeIcon("flame");
    context.subscriptions.push(participant);
  }
  await fireside.start();
}

export function deactivate(): void {
  // Disposables (the client among them) are stopped by VS Code.
}
