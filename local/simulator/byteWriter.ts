/**
 * A growable byte buffer that the generator writes file content into directly: building a gigabyte
 * of JSON as JavaScript strings first costs more in garbage collection than everything else.
 */
export class ByteWriter {
  buf: Buffer;
  pos = 0;

  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafe(Math.max(64, capacity));
  }

  reset(): void {
    this.pos = 0;
  }

  /** The bytes written so far (a view: valid until the next write or reset). */
  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  private grow(needed: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + needed));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** Writes a string whose characters are all ASCII (the caller knows; nothing is escaped). */
  ascii(s: string): void {
    const n = s.length;
    if (this.pos + n > this.buf.length) this.grow(n);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) buf[p++] = s.charCodeAt(i);
    this.pos = p;
  }

  byte(b: number): void {
    if (this.pos + 1 > this.buf.length) this.grow(1);
    this.buf[this.pos++] = b;
  }

  bytes(b: Uint8Array): void {
    if (this.pos + b.length > this.buf.length) this.grow(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Copies bytes already written (`start`..`end`) to the end. */
  repeat(start: number, end: number): void {
    if (this.pos + (end - start) > this.buf.length) this.grow(end - start);
    this.buf.copy(this.buf, this.pos, start, end);
    this.pos += end - start;
  }
}
