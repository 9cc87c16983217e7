// The extension's `fireside.*` settings, as the language server takes them
// (`initializationOptions` and `workspace/didChangeConfiguration`, under "fireside").
// Pure: tested without VS Code.

/** What `vscode.workspace.getConfiguration("fireside")` offers: a typed getter. */
export interface ConfigSource {
  get<T>(key: string): T | undefined;
}

export interface ServerSettings {
  daemon: { host: string | null; start: boolean };
  models: { completion: string; chat: string };
  completion: {
    enabled: boolean;
    languages: Record<string, boolean>;
    debounceMs: number;
    maxTokens: number;
    contextTokens: number;
    exclude: string[];
  };
  cascade: { cloudModel: string | null; neverSend: string[] };
}

export interface LaunchSettings {
  command: string;
  args: string[];
}

/** Settings the server validates itself: values pass through as the user wrote them, so
 * a bad one is reported by the server, by name, rather than silently replaced here. */
export function serverSettings(config: ConfigSource): ServerSettings {
  const pick = <T>(key: string, fallback: T): T => {
    const value = config.get<T>(key);
    return value === undefined ? fallback : value;
  };
  return {
    daemon: { host: pick<string | null>("daemon.host", null), start: pick("daemon.start", true) },
    models: { completion: pick("models.completion", "smollm2:135m"), chat: pick("models.chat", "smollm2:135m") },
    completion: {
      enabled: pick("completion.enabled", true),
      languages: pick<Record<string, boolean>>("completion.languages", {}),
      debounceMs: pick("completion.debounceMs", 120),
      maxTokens: pick("completion.maxTokens", 64),
      contextTokens: pick("completion.contextTokens", 1024),
      exclude: pick<string[]>("completion.exclude", []),
    },
    cascade: { cloudModel: pick<string | null>("cascade.cloudModel", null), neverSend: pick<string[]>("cascade.neverSend", []) },
  };
}

export function launchSettings(config: ConfigSource): LaunchSettings {
  const command = (config.get<string>("server.path") ?? "").trim() || "fireside";
  const extra = config.get<string[]>("server.args") ?? [];
  return { command, args: ["lsp", ...extra.filter((a) => typeof a === "string")] };
}

/** Whether inline completions are on for a language, as the toggles say. */
export function completionsOn(settings: ServerSettings, languageId: string): boolean {
  return settings.completion.enabled && settings.completion.languages[languageId] !== false;
}

/** The `completion.languages` map after toggling one language. */
export function toggledLanguage(languages: Record<string, boolean>, languageId: string): Record<string, boolean> {
  const next = { ...languages };
  if (next[languageId] === false) {
    delete next[languageId];
  } else {
    next[languageId] = false;
  }
  return next;
}

/** A message for a server that would not start, with what to do about it. */
export function launchFailure(command: string, error: unknown): string {
  const code = (error as { code?: string } | undefined)?.code;
  const text = error instanceof Error ? error.message : String(error);
  if (code === "ENOENT" || /ENOENT|not found/i.test(text)) {
    return `Fireside: \`${command}\` was not found. Install Fireside (pip install . in its repository) or set "fireside.server.path" to the fireside executable.`;
  }
  return `Fireside: the language server (\`${command} lsp\`) failed to start: ${text}. See "Fireside: Show Logs".`;
}
