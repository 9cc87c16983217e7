import { describe, expect, it } from "vitest";

import { modelInformation, toChatMessages } from "../src/languageModels";

describe("language model provider", () => {
  it("turns the API's messages into the server's, keeping text parts only", () => {
    const messages = [
      { role: 1, content: [{ value: "Explain " }, { value: "this." }, { data: new Uint8Array([1]) }] },
      { role: 2, content: [{ value: "It adds." }] },
      { role: 1, content: [{ callId: "x" }] },
    ];
    expect(toChatMessages(messages)).toEqual([
      { role: "user", content: "Explain this." },
      { role: "assistant", content: "It adds." },
    ]);
  });

  it("describes a daemon model for the picker", () => {
    expect(modelInformation("qwen2.5-coder:1.5b")).toMatchObject({ id: "qwen2.5-coder:1.5b", family: "qwen2.5-coder", version: "1.5b" });
    expect(modelInformation("mymodel").version).toBe("latest");
  });
});
