/** What a LineSplitter hands on. */
export interface LineSink {
  /**
   * One non-blank line, `buf[start, end)`, without its LF / CRLF and without a leading UTF-8 BOM.
   * Copy what you keep: `buf` may be a whole input chunk.
   */
  line(buf: Buffer, start: number, end: number, lineNumber: number): void;
  /** A line longer than the cap: only its first `head.length` bytes were kept. */
  oversized(head: Buffer, lineNumber: number, bytes: number): void;
}

export const DEFAULT_MAX_LINE_BYTES = 1024 * 1024;
const HEAD_BYTES = 200;
const LF = 0x0a;
const CR = 0x0d;
const EMPTY = Buffer.alloc(0);

/**
 * Splits a byte stream into lines over Buffers (no string per chunk, no readline). Line numbers count
 * every line, blank ones included, from 1. A line split across chunks is joined once it ends; a line
 * longer than `maxLineBytes` is dropped as it streams (its first bytes kept for the report), so memory
 * stays bounded by the cap whatever the input.
 */
export class LineSplitter {
  private carry: Buffer[] = [];
  private carryBytes = 0;
  /** Inside an oversized line: bytes seen so far, and its first bytes. */
  private skipping = false;
  private skippedBytes = 0;
  private head: Buffer = EMPTY;
  private lineNumber = 0;

  constructor(
    private readonly sink: LineSink,
    private readonly maxLineBytes = DEFAULT_MAX_LINE_BYTES,
  ) {}

  /** Lines seen so far, blank ones included. */
  get lines(): number {
    return this.lineNumber;
  }

  /** The splitter may keep `chunk` (not a copy) until its last line ends: do not reuse its memory. */
  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      const lf = chunk.indexOf(LF, pos);
      if (lf === -1) {
        this.hold(chunk, pos, chunk.length);
        return;
      }
      this.finish(chunk, pos, lf);
      pos = lf + 1;
    }
  }

  /** The end of the input: a last line without a line end is still a line. */
  end(): void {
    if (this.carryBytes > 0 || this.skipping) this.finish(EMPTY, 0, 0);
  }

  private hold(chunk: Buffer, start: number, end: number): void {
    const bytes = end - start;
    if (this.skipping) {
      this.skippedBytes += bytes;
      return;
    }
    const piece = chunk.subarray(start, end);
    if (this.carryBytes + bytes > this.maxLineBytes) {
      this.head = headOf([...this.carry, piece]);
      this.skippedBytes = this.carryBytes + bytes;
      this.skipping = true;
      this.carry = [];
      this.carryBytes = 0;
      return;
    }
    this.carry.push(piece);
    this.carryBytes += bytes;
  }

  private finish(chunk: Buffer, start: number, end: number): void {
    this.lineNumber++;
    if (this.skipping) {
      this.skipping = false;
      this.sink.oversized(this.head, this.lineNumber, this.skippedBytes + (end - start));
      this.head = EMPTY;
      return;
    }
    let buf = chunk;
    let s = start;
    let e = end;
    if (this.carryBytes > 0) {
      const pieces = [...this.carry, chunk.subarray(start, end)];
      const bytes = this.carryBytes + (end - start);
      this.carry = [];
      this.carryBytes = 0;
      if (bytes > this.maxLineBytes) {
        this.sink.oversized(headOf(pieces), this.lineNumber, bytes);
        return;
      }
      buf = Buffer.concat(pieces, bytes);
      s = 0;
      e = bytes;
    } else if (end - start > this.maxLineBytes) {
      this.sink.oversized(headOf([chunk.subarray(start, end)]), this.lineNumber, end - start);
      return;
    }
    if (e > s && buf[e - 1] === CR) e--;
    if (e - s >= 3 && buf[s] === 0xef && buf[s + 1] === 0xbb && buf[s + 2] === 0xbf) s += 3;
    if (isBlank(buf, s, e)) return;
    this.sink.line(buf, s, e, this.lineNumber);
  }
}

/** A copy of the first bytes of a line (a copy, so the chunks behind it can go). */
function headOf(pieces: Buffer[]): Buffer {
  const out: Buffer[] = [];
  let bytes = 0;
  for (const piece of pieces) {
    if (bytes >= HEAD_BYTES) break;
    const part = piece.subarray(0, HEAD_BYTES - bytes);
    out.push(part);
    bytes += part.length;
  }
  return Buffer.concat(out, bytes);
}

function isBlank(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const b = buf[i];
    if (b !== 0x20 && b !== 0x09 && b !== CR) return false;
  }
  return true;
}
