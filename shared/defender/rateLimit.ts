export interface RateLimit {
  perMinute: number;
  perHour: number;
}

/** deviceavinfo's documented limits: 30 calls a minute, 1,000 an hour. */
export const DEVICE_AV_INFO_LIMIT: RateLimit = { perMinute: 30, perHour: 1000 };

const MINUTE = 60_000;
const HOUR = 3_600_000;

/**
 * Sliding-window count of calls over the last minute and the last hour, on an injectable clock.
 * The Defender client waits on it before each call so it stays inside a documented budget; the
 * simulated tenant refuses with it. Only counted calls take room in the windows.
 */
export class RateLimiter {
  private readonly accepted: number[] = [];

  constructor(
    readonly limit: RateLimit,
    private readonly now: () => number,
  ) {}

  /** Milliseconds until one more call fits in both windows; 0 when it fits now. Counts nothing. */
  waitMs(): number {
    const now = this.now();
    while (this.accepted.length > 0 && this.accepted[0]! <= now - HOUR) this.accepted.shift();
    return Math.max(this.waitFor(now, MINUTE, this.limit.perMinute), this.waitFor(now, HOUR, this.limit.perHour));
  }

  /** Counts a call made now. */
  record(): void {
    this.accepted.push(this.now());
  }

  /** Counts the call and returns 0, or returns the whole seconds to wait (≥ 1) without counting it. */
  take(): number {
    const wait = this.waitMs();
    if (wait > 0) return Math.max(1, Math.ceil(wait / 1000));
    this.record();
    return 0;
  }

  /** The window that refused the last call, for the error message. */
  describe(): string {
    return this.waitFor(this.now(), MINUTE, this.limit.perMinute) > 0
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
