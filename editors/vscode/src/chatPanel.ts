// A chat panel (webview) for VS Code builds without a chat view, or when the user opens
// it with "Fireside: Open Chat". The answer streams from the server's `fireside/chat`;
// each code block has Apply (replaces the selection, or inserts at the cursor, in the
// editor the chat was opened from) and Copy.

import * as vscode from "vscode";
import type { LanguageClient } from "vscode-languageclient/node";

import { segments } from "./codeBlocks";

type FromWebview = { type: "ask"; text: string } | { type: "apply"; code: string } | { type: "copy"; code: string };

export class ChatPanel {
  private static current: ChatPanel | undefined;
  private conversationId: string | undefined;
  private editor: vscode.TextEditor | undefined;
  private pending: vscode.CancellationTokenSource | undefined;

  static show(client: () => LanguageClient | undefined): void {
    if (ChatPanel.current) {
      ChatPanel.current.editor = vscode.window.activeTextEditor ?? ChatPanel.current.editor;
      ChatPanel.current.panel.reveal();
      return;
    }
    const panel = vscode.window.createWebviewPanel("fireside.chat", "Fireside Chat", vscode.ViewColumn.Beside, { enableScripts: true, retainContextWhenHidden: true });
    ChatPanel.current = new ChatPanel(panel, client);
  }

  private constructor(private readonly panel: vscode.WebviewPanel, private readonly client: () => LanguageClient | undefined) {
    this.editor = vscode.window.activeTextEditor;
    panel.webview.html = html(panel.webview.cspSource, nonce());
    panel.webview.onDidReceiveMessage((message: FromWebview) => this.received(message));
    panel.onDidDispose(() => {
      this.pending?.cancel();
      ChatPanel.current = undefined;
    });
  }

  private async received(message: FromWebview): Promise<void> {
    if (message.type === "copy") {
      await vscode.env.clipboard.writeText(message.code);
    } else if (message.type === "apply") {
      await this.apply(message.code);
    } else if (message.type === "ask" && message.text.trim()) {
      await this.ask(message.text.trim());
    }
  }

  private async apply(code: string): Promise<void> {
    const editor = this.editor;
    if (!editor || editor.document.isClosed) {
      void vscode.window.showWarningMessage("Fireside: open the file to apply this code to, then ask again.");
      return;
    }
    await editor.edit((edit) => edit.replace(editor.selection, code));
  }

  private async ask(text: string): Promise<void> {
    const client = this.client();
    if (!client) {
      void this.panel.webview.postMessage({ type: "error", text: "The Fireside language server is not running: see Fireside: Show Logs." });
      return;
    }
    this.pending?.cancel();
    const cancel = (this.pending = new vscode.CancellationTokenSource());
    const token = `panel-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    let answer = "";
    void this.panel.webview.postMessage({ type: "start", question: text });
    const listener = client.onProgress({ method: "fireside/chat" } as never, token, (value: unknown) => {
      const delta = (value as { delta?: unknown } | undefined)?.delta;
      if (typeof delta !== "string") return;
      answer += delta;
      void this.panel.webview.postMessage({ type: "answer", segments: segments(answer) });
    });
    const editor = this.editor;
    const selection = editor && !editor.selection.isEmpty ? editor.selection : undefined;
    try {
      const result = (await client.sendRequest("fireside/chat", {
        conversationId: this.conversationId,
        messages: [{ role: "user", content: text }],
        context: editor ? { uri: editor.document.uri.toString(), range: selection ? [selection.start.line, selection.start.character, selection.end.line, selection.end.character] : null, file: !selection } : undefined,
        partialResultToken: token,
      }, cancel.token)) as { conversationId: string; content: string };
      this.conversationId = result.conversationId;
      void this.panel.webview.postMessage({ type: "answer", segments: segments(result.content), done: true });
    } catch (error) {
      void this.panel.webview.postMessage({ type: "error", text: error instanceof Error ? error.message : String(error) });
    } finally {
      listener.dispose();
    }
  }
}

function nonce(): string {
  return Array.from({ length: 24 }, () => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"[Math.floor(Math.random() * 62)]).join("");
}

function html(cspSource: string, n: string): string {
  return `<!DOCTYPE html><html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${cspSource} 'nonce-${n}'; script-src 'nonce-${n}';">
<style nonce="${n}">
body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 0 8px; }
.turn { margin: 8px 0; } .q { font-weight: bold; } .error { color: var(--vscode-errorForeground); }
pre { background: var(--vscode-textCodeBlock-background); padding: 6px; overflow-x: auto; }
button { margin-right: 4px; } textarea { width: 100%; box-sizing: border-box; }
</style></head><body>
<div id="log"></div>
<textarea id="input" rows="3" placeholder="Ask about the selection or this file (Enter sends, Shift+Enter for a new line)"></textarea>
<script nonce="${n}">
const vscode = acquireVsCodeApi();
const log = document.getElementById("log"), input = document.getElementById("input");
let current = null;
input.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); vscode.postMessage({ type: "ask", text: input.value }); input.value = ""; }
});
function render(target, segments) {
  target.textContent = "";
  for (const s of segments) {
    if (s.kind === "text") { const p = document.createElement("div"); p.textContent = s.text; p.style.whiteSpace = "pre-wrap"; target.appendChild(p); continue; }
    const pre = document.createElement("pre"); pre.textContent = s.code ?? s.text; target.appendChild(pre);
    for (const [label, type] of [["Apply", "apply"], ["Copy", "copy"]]) {
      const b = document.createElement("button"); b.textContent = label;
      b.onclick = () => vscode.postMessage({ type, code: s.text }); target.appendChild(b);
    }
  }
}
window.addEventListener("message", ({ data }) => {
  if (data.type === "start") {
    const q = document.createElement("div"); q.className = "turn q"; q.textContent = data.question; log.appendChild(q);
    current = document.createElement("div"); current.className = "turn"; log.appendChild(current);
  } else if (data.type === "answer" && current) { render(current, data.segments); }
  else if (data.type === "error") { const e = document.createElement("div"); e.className = "turn error"; e.textContent = data.text; log.appendChild(e); }
  window.scrollTo(0, document.body.scrollHeight);
});
</script></body></html>`;
}
