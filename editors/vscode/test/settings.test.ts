import { describe, expect, it } from "vitest";

import { completionsOn, launchFailure, launchSettings, serverSettings, toggledLanguage, type ConfigSource } from "../src/settings";

function config(values: Record<string, unknown>): ConfigSource {
  return { get: <T>(key: string) => values[key] as T | undefined };
}

describe("serverSettings", () => {
  it("maps fireside.* to the server's sections, with the server's defaults", () => {
    const s = serverSettings(config({ "models.completion": "qwen2.5-coder:0.5b", "completion.debounceMs": 80, "cascade.cloudModel": "cloud-coder" }));
    expect(s.models).toEqual({ completion: "qwen2.5-coder:0.5b", chat: "smollm2:135m" });
    expect(s.completion.debounceMs).toBe(80);
    expect(s.completion.enabled).toBe(true);
    expect(s.daemon).toEqual({ host: null, start: true });
    expect(s.cascade.cloudModel).toBe("cloud-coder");
  });

  it("passes a bad value through for the server to report by name", () => {
    expect(serverSettings(config({ "completion.maxTokens": "lots" })).completion.maxTokens).toBe("lots");
  });
});

describe("launchSettings", () => {
  it("runs `fireside lsp` with the extra arguments", () => {
    expect(launchSettings(config({}))).toEqual({ command: "fireside", args: ["lsp"] });
    expect(launchSettings(config({ "server.path": " /opt/fs/bin/fireside ", "server.args": ["--log-level", "debug"] }))).toEqual({
      command: "/opt/fs/bin/fireside",
      args: ["lsp", "--log-level", "debug"],
    });
  });

  it("explains a missing executable with the fix", () => {
    const missing = Object.assign(new Error("spawn fireside ENOENT"), { code: "ENOENT" });
    expect(launchFailure("fireside", missing)).toMatch(/was not found.*fireside\.server\.path/);
    expect(launchFailure("fireside", new Error("exit 1"))).toMatch(/failed to start: exit 1/);
  });
});

describe("toggles", () => {
  it("turns one language off and on again, leaving the others", () => {
    const off = toggledLanguage({ markdown: false }, "python");
    expect(off).toEqual({ markdown: false, python: false });
    expect(toggledLanguage(off, "python")).toEqual({ markdown: false });
    const settings = serverSettings(config({ "completion.languages": off }));
    expect(completionsOn(settings, "python")).toBe(false);
    expect(completionsOn(settings, "go")).toBe(true);
    expect(completionsOn(serverSettings(config({ "completion.enabled": false })), "go")).toBe(false);
  });
});
