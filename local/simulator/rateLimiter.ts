export interface RateLimit {
  perMinute: number;
  perHour: number;
}

const MINUTE = 60_000;
const HOUR = 3_600_000;

/**
 * Sliding-window limiter over the last minute and the last hour, on an injectable clock. A refused
 * call is not counted; the answer says how many whole seconds to wait until one more call fits.
 */
export class RateLimiter {
  private readonly accepted: number[] = [];

  constructor(
    readonly limit: RateLimit,
    private readonly now: () => number,
  ) {}

  /** Counts the call and returns 0, or returns the seconds to wait (≥ 1) without counting it. */
  take(): number {
    const now = this.now();
    while (this.accepted.length > 0 && this.accepted[0]! <= now - HOUR) this.accepted.shift();
    const wait = Math.max(this.waitFor(now, MINUTE, this.limit.perMinute), this.waitFor(now, HOUR, this.limit.perHour));
    if (wait > 0) return Math.max(1, Math.ceil(wait / 1000));
    this.accepted.push(now);
    return 0;
  }

  /** The window that refused the last call, for the error message. */
  describe(): string {
    const now = this.now();
    return this.waitFor(now, MINUTE, this.limit.perMinute) > 0
      ? `${this.limit.perMinute} per 1 Minutes`
      : `${this.limit.perHour} per 1 Hours`;
  }

  /** Milliseconds until a call fits in the window ending now, 0 when it fits already. */
  private waitFor(now: number, window: number, max: number): number {
    if (!Number.isFinite(max)) return 0;
    if (max < 1) return window;
    const inWindow = this.accepted.filter((t) => t > now - window);
    if (inWindow.length < max) return 0;
    // The call fits once the oldest call that keeps the window full has left it.
    const oldest = inWindow[inWindow.length - max]!;
    return oldest + window - now;
  }
}
