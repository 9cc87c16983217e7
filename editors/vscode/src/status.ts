// The status bar item's text from the server's `$/fireside/status` notifications. Pure.

export type State = "idle" | "busy" | "error" | "offline" | "starting" | "disabled";

export interface StatusView {
  text: string;
  tooltip: string;
  warning: boolean;
}

const ICONS: Record<State, string> = {
  idle: "$(flame)",
  busy: "$(loading~spin)",
  error: "$(error)",
  offline: "$(debug-disconnect)",
  starting: "$(loading~spin)",
  disabled: "$(circle-slash)",
};

const WORDS: Record<State, string> = {
  idle: "idle",
  busy: "generating",
  error: "error",
  offline: "daemon offline",
  starting: "starting",
  disabled: "completions off",
};

/** What the server sent, checked: unknown states count as errors, so nothing is hidden. */
export function parseStatus(params: unknown): { state: State; message: string } {
  const p = (params ?? {}) as { state?: unknown; message?: unknown };
  const state = typeof p.state === "string" && p.state in ICONS ? (p.state as State) : "error";
  const message = typeof p.message === "string" ? p.message : "";
  return { state, message };
}

export function statusView(state: State, model: string, message: string): StatusView {
  const detail = message ? `: ${message}` : "";
  return {
    text: `${ICONS[state]} ${model}`,
    tooltip: `Fireside (${model}): ${WORDS[state]}${detail}. Click for options.`,
    warning: state === "error" || state === "offline",
  };
}
