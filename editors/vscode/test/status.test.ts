import { describe, expect, it } from "vitest";

import { parseStatus, statusView } from "../src/status";

describe("status", () => {
  it("shows the model and what it is doing", () => {
    expect(statusView("busy", "qwen2.5-coder:0.5b", "")).toEqual({
      text: "$(loading~spin) qwen2.5-coder:0.5b",
      tooltip: "Fireside (qwen2.5-coder:0.5b): generating. Click for options.",
      warning: false,
    });
    const offline = statusView("offline", "m", "no Fireside daemon answers at http://127.0.0.1:11435");
    expect(offline.warning).toBe(true);
    expect(offline.tooltip).toContain("daemon offline: no Fireside daemon answers");
  });

  it("reads the server's notification, and calls anything unknown an error", () => {
    expect(parseStatus({ state: "idle", message: "" })).toEqual({ state: "idle", message: "" });
    expect(parseStatus({ state: "exploded" })).toEqual({ state: "error", message: "" });
    expect(parseStatus(undefined).state).toBe("error");
  });
});
