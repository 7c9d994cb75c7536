import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LineSplitter } from "../../../shared/health/lineSplitter.js";

interface Seen {
  lines: Array<[number, string]>;
  oversized: Array<[number, number, string]>;
}

function split(chunks: readonly Buffer[], maxLineBytes?: number): Seen {
  const seen: Seen = { lines: [], oversized: [] };
  const splitter = new LineSplitter(
    {
      line: (buf, start, end, n) => seen.lines.push([n, buf.toString("utf8", start, end)]),
      oversized: (head, n, bytes) => seen.oversized.push([n, bytes, head.toString("latin1")]),
    },
    maxLineBytes,
  );
  for (const chunk of chunks) splitter.push(chunk);
  splitter.end();
  return seen;
}

/** `text` cut into chunks at the given offsets. */
function chunked(text: string | Buffer, cuts: readonly number[]): Buffer[] {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    out.push(bytes.subarray(last, p));
    last = p;
  }
  out.push(bytes.subarray(last));
  return out;
}

/** What a splitter must produce: the reference, by splitting the whole text at once. */
function expected(text: string): Array<[number, string]> {
  return text
    .split("\n")
    .map((l, i): [number, string] => [i + 1, l.replace(/\r$/, "").replace(/^\uFEFF/, "")])
    .filter((entry, i, all) => !(i === all.length - 1 && entry[1] === "" && text.endsWith("\n")))
    .filter(([, l]) => !/^[ \t\r]*$/.test(l));
}

describe("LineSplitter", () => {
  it("splits LF and CRLF lines, skips blank ones, and numbers lines counting the blanks", () => {
    expect(split([Buffer.from('{"a":1}\r\n\n  \r\n{"b":2}\n\t\n{"c":3}')]).lines).toEqual([
      [1, '{"a":1}'],
      [4, '{"b":2}'],
      [6, '{"c":3}'],
    ]);
  });

  it("strips a UTF-8 BOM at the start of the file", () => {
    expect(split([Buffer.from('\uFEFF{"a":1}\n{"b":2}\n')]).lines).toEqual([
      [1, '{"a":1}'],
      [2, '{"b":2}'],
    ]);
  });

  it("hands on a last line without a line end, and nothing for a final line end", () => {
    expect(split([Buffer.from("x\ny")]).lines).toEqual([[1, "x"], [2, "y"]]);
    expect(split([Buffer.from("x\ny\n")]).lines).toEqual([[1, "x"], [2, "y"]]);
    expect(split([]).lines).toEqual([]);
  });

  it("joins a line split across chunks, a CRLF split between chunks, and a BOM split across chunks", () => {
    expect(split([Buffer.from('{"a"'), Buffer.from(':1}\r'), Buffer.from("\nnext")]).lines).toEqual([
      [1, '{"a":1}'],
      [2, "next"],
    ]);
    const bom = Buffer.from("\uFEFFabc\n");
    expect(split([bom.subarray(0, 1), bom.subarray(1, 2), bom.subarray(2)]).lines).toEqual([[1, "abc"]]);
  });

  it("keeps a multi-byte character split across chunks whole", () => {
    const text = Buffer.from("größe→✓\n");
    expect(split(chunked(text, [3, 7, 9])).lines).toEqual([[1, "größe→✓"]]);
  });

  it("gives any chunking of the input the same lines as splitting it whole", () => {
    const line = fc.string({ unit: fc.constantFrom("a", "{", '"', " ", "\t", "\r", "é", "\uFEFF", "\n", "\r\n") });
    fc.assert(
      fc.property(fc.array(line, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 10 }), (lines, cuts) => {
        const text = lines.join("");
        expect(split(chunked(text, cuts)).lines).toEqual(expected(text));
      }),
      { numRuns: 500 },
    );
  });

  it("reports a line longer than the cap as oversized, with its first bytes, and goes on with the next", () => {
    const long = "x".repeat(300);
    const seen = split([Buffer.from(`short\n${long}\nafter\n`)], 100);
    expect(seen.lines).toEqual([[1, "short"], [3, "after"]]);
    expect(seen.oversized).toEqual([[2, 300, "x".repeat(200)]]);
  });

  it("drops an oversized line as it streams in small chunks, never holding more than the cap", () => {
    const cap = 1000;
    const chunks = [Buffer.from("a\n" + "y".repeat(10))];
    for (let i = 0; i < 500; i++) chunks.push(Buffer.alloc(64, "z"));
    chunks.push(Buffer.from("\r\nb\n"));
    let held = 0;
    const splitter = new LineSplitter({ line() {}, oversized() {} }, cap);
    for (const chunk of chunks) {
      splitter.push(chunk);
      held = Math.max(held, (splitter as unknown as { carryBytes: number }).carryBytes);
    }
    expect(held).toBeLessThanOrEqual(cap);
    const seen = split(chunks, cap);
    expect(seen.lines).toEqual([[1, "a"], [3, "b"]]);
    expect(seen.oversized).toEqual([[2, 10 + 500 * 64 + 1, "y".repeat(10) + "z".repeat(190)]]);
  });

  it("reports an oversized last line without a line end", () => {
    const seen = split([Buffer.from("ok\n"), Buffer.alloc(50, "q"), Buffer.alloc(80, "q")], 100);
    expect(seen.lines).toEqual([[1, "ok"]]);
    expect(seen.oversized).toEqual([[2, 130, "q".repeat(130)]]);
  });

  it("accepts a line of exactly the cap", () => {
    expect(split([Buffer.from("x".repeat(100) + "\n")], 100).lines).toEqual([[1, "x".repeat(100)]]);
    expect(split([Buffer.from("x".repeat(60)), Buffer.from("x".repeat(40) + "\n")], 100).lines).toEqual([[1, "x".repeat(100)]]);
  });
});
