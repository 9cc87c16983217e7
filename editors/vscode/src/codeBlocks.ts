// An answer's fenced code blocks, for the chat panel's Apply buttons. Pure.

export interface Segment {
  kind: "text" | "code";
  text: string;
  language?: string;
}

const FENCE = /^```([^\n`]*)\n([\s\S]*?)(?:^```[ \t]*$|(?![\s\S]))/gm;

/** The answer as text and code segments, in order; an unclosed block (still streaming)
 * is code up to the end. */
export function segments(answer: string): Segment[] {
  const out: Segment[] = [];
  let last = 0;
  for (const match of answer.matchAll(FENCE)) {
    const start = match.index ?? 0;
    if (start > last) out.push({ kind: "text", text: answer.slice(last, start) });
    out.push({ kind: "code", text: match[2].replace(/\n$/, ""), language: match[1].trim() || undefined });
    last = start + match[0].length;
  }
  if (last < answer.length) out.push({ kind: "text", text: answer.slice(last) });
  return out.filter((s) => s.kind === "code" || s.text.trim());
}
