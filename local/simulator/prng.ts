/**
 * A small, fast, seeded pseudo-random generator (mulberry32) for the simulator: the same seed gives
 * the same sequence on every machine, unlike Math.random.
 */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  uint32(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A uniform number in [0, 1). */
  next(): number {
    return this.uint32() / 4294967296;
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** A uniform integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("Prng.pick needs at least one item");
    return items[this.int(items.length)]!;
  }

  /**
   * `n` lower-case hex digits, as one flat string (millions of ids are kept). Each group of 8 is one
   * uint32, most significant digit first.
   */
  hex(n: number): string {
    const codes = new Array<number>(n);
    let v = 0;
    for (let i = 0; i < n; i++) {
      if ((i & 7) === 0) v = this.uint32();
      codes[i] = HEX_CODES[(v >>> (28 - 4 * (i & 7))) & 15]!;
    }
    return String.fromCharCode.apply(null, codes);
  }

  /** A version-4-shaped GUID, lower case. */
  guid(): string {
    const h = this.hex(32);
    const variant = "89ab"[this.int(4)]!;
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
  }
}

const HEX_CODES = Array.from("0123456789abcdef", (c) => c.charCodeAt(0));

/** Derives an independent 32-bit stream seed from a user seed and a stream name (FNV-1a + fmix32). */
export function streamSeed(seed: number, stream: string): number {
  let h = 0x811c9dc5;
  const text = `${seed}/${stream}`;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Samples ranks 0..n-1 with probability proportional to 1/(rank+1)^s (a Zipf-like long tail). */
export class ZipfSampler {
  private readonly cumulative: Float64Array;

  constructor(n: number, s: number) {
    if (n < 1) throw new RangeError("ZipfSampler needs at least one rank");
    this.cumulative = new Float64Array(n);
    let total = 0;
    for (let r = 0; r < n; r++) {
      total += 1 / Math.pow(r + 1, s);
      this.cumulative[r] = total;
    }
    for (let r = 0; r < n; r++) this.cumulative[r] = this.cumulative[r]! / total;
  }

  sample(rng: Prng): number {
    const u = rng.next();
    let lo = 0;
    let hi = this.cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cumulative[mid]! > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

/** Picks an index with the given (unnormalised) weights. */
export class WeightedPicker<T> {
  private readonly cumulative: Float64Array;
  constructor(private readonly items: readonly (readonly [T, number])[]) {
    if (items.length === 0) throw new RangeError("WeightedPicker needs at least one item");
    this.cumulative = new Float64Array(items.length);
    let total = 0;
    items.forEach(([, w], i) => {
      total += w;
      this.cumulative[i] = total;
    });
    for (let i = 0; i < items.length; i++) this.cumulative[i] = this.cumulative[i]! / total;
  }

  pick(rng: Prng): T {
    const u = rng.next();
    for (let i = 0; i < this.cumulative.length; i++) {
      if (u < this.cumulative[i]!) return this.items[i]![0];
    }
    return this.items[this.items.length - 1]![0];
  }
}
