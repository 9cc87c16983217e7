import { describe, expect, it } from "vitest";

import { segments } from "../src/codeBlocks";

describe("segments", () => {
  it("splits prose and fenced code, keeping the language", () => {
    const answer = "Use a loop:\n```python\nfor x in xs:\n    print(x)\n```\nThat is all.";
    expect(segments(answer)).toEqual([
      { kind: "text", text: "Use a loop:\n" },
      { kind: "code", text: "for x in xs:\n    print(x)", language: "python" },
      { kind: "text", text: "\nThat is all." },
    ]);
  });

  it("treats an unclosed block as code while it streams", () => {
    expect(segments("Here:\n```\nx = 1\ny =")).toEqual([
      { kind: "text", text: "Here:\n" },
      { kind: "code", text: "x = 1\ny =", language: undefined },
    ]);
  });

  it("gives plain prose one segment", () => {
    expect(segments("Nothing to apply.")).toEqual([{ kind: "text", text: "Nothing to apply." }]);
  });
});
