import { describe, expect, it } from "vitest";
import { DefenderApiError } from "../../../shared/errors.js";
import {
  backoffMs,
  isRetriableError,
  isRetriableStatus,
  retryAfterMs,
  sendWithRetry,
  type HttpAnswer,
} from "../../../shared/defender/retry.js";
import { fakeClock } from "./clock.js";

const CALL = { method: "GET", path: "/api/deviceavinfo" };

function answer(status: number, headers: Record<string, string> = {}, body = ""): HttpAnswer {
  return { status, statusText: "", headers: new Headers(headers), body };
}

/** An attempt function that plays the given answers (or throws the given errors) in order, counting calls. */
function script(...steps: (HttpAnswer | Error)[]) {
  let calls = 0;
  const attempt = async () => {
    const step = steps[Math.min(calls++, steps.length - 1)]!;
    if (step instanceof Error) throw step;
    return step;
  };
  return { attempt, calls: () => calls };
}

function fetchFailed(code: string, message = code): TypeError {
  return new TypeError("fetch failed", { cause: Object.assign(new Error(message), { code }) });
}

describe("isRetriableStatus", () => {
  it.each([408, 429, 500, 502, 503, 504, 507, 599])("retries %i", (status) => expect(isRetriableStatus(status)).toBe(true));
  it.each([200, 204, 301, 400, 401, 403, 404, 409, 412, 501, 505])("does not retry %i", (status) => expect(isRetriableStatus(status)).toBe(false));
});

describe("isRetriableError", () => {
  it.each([
    ["a reset", Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" })],
    ["a refusal inside fetch failed", fetchFailed("ECONNREFUSED")],
    ["a timeout inside fetch failed", fetchFailed("ETIMEDOUT")],
    ["socket hang up", new Error("socket hang up")],
    ["undici's closed socket", fetchFailed("UND_ERR_SOCKET", "other side closed")],
    ["fetch failed with any cause", new TypeError("fetch failed", { cause: new Error("something odd") })],
    ["the per-attempt timeout", new DOMException("The operation was aborted due to timeout", "TimeoutError")],
  ])("retries %s", (_name, error) => expect(isRetriableError(error)).toBe(true));

  it.each([
    ["a certificate failure", fetchFailed("DEPTH_ZERO_SELF_SIGNED_CERT", "self-signed certificate")],
    ["fetch failed without a cause", new TypeError("fetch failed")],
    ["a programming error", new TypeError("Cannot read properties of undefined")],
    ["an abort by the caller", new DOMException("This operation was aborted", "AbortError")],
    ["a string", "ECONNRESET"],
  ])("does not retry %s", (_name, error) => expect(isRetriableError(error)).toBe(false));
});

describe("retryAfterMs", () => {
  const now = Date.UTC(2026, 11, 1, 2, 0, 0);
  it("reads delta seconds", () => expect(retryAfterMs(new Headers({ "retry-after": "17" }), now)).toBe(17_000));
  it("reads an HTTP date", () => expect(retryAfterMs(new Headers({ "retry-after": new Date(now + 42_000).toUTCString() }), now)).toBe(42_000));
  it("treats a date in the past as now", () => expect(retryAfterMs(new Headers({ "retry-after": new Date(now - 5_000).toUTCString() }), now)).toBe(0));
  it("ignores absent or unreadable values", () => {
    expect(retryAfterMs(new Headers(), now)).toBeUndefined();
    expect(retryAfterMs(new Headers({ "retry-after": "soon" }), now)).toBeUndefined();
    expect(retryAfterMs(new Headers({ "retry-after": "-3" }), now)).toBeUndefined();
  });
});

describe("backoffMs", () => {
  it("grows exponentially from 1 s, is capped at 60 s, and is fully jittered", () => {
    const top = () => 0.999999;
    expect([1, 2, 3, 4, 5, 6, 7, 8, 12].map((n) => Math.round(backoffMs(n, top) / 1000))).toEqual([1, 2, 4, 8, 16, 32, 60, 60, 60]);
    expect(backoffMs(5, () => 0.5)).toBe(8_000);
    expect(backoffMs(5, () => 0)).toBe(0);
  });
});

describe("sendWithRetry", () => {
  it("returns a success at once", async () => {
    const clock = fakeClock();
    const s = script(answer(200));
    const out = await sendWithRetry(CALL, s.attempt, { budgetMs: 60_000, ...clock });
    expect([out.answer.status, out.attempts, s.calls(), clock.sleeps]).toEqual([200, 1, 1, []]);
  });

  it.each([408, 429, 500, 502, 503, 504])("retries %i with jittered backoff until it succeeds", async (status) => {
    const clock = fakeClock();
    const s = script(answer(status), answer(status), answer(200));
    const out = await sendWithRetry(CALL, s.attempt, { budgetMs: 60_000, ...clock, random: () => 0.5 });
    expect(out.answer.status).toBe(200);
    expect(out.attempts).toBe(3);
    expect(clock.sleeps).toEqual([500, 1000]);
    expect(out.waitedMs).toBe(1500);
  });

  it.each([400, 401, 403, 404, 409, 501, 505])("hands %i back after one attempt", async (status) => {
    const clock = fakeClock();
    const s = script(answer(status), answer(200));
    const out = await sendWithRetry(CALL, s.attempt, { budgetMs: 60_000, ...clock });
    expect([out.answer.status, out.attempts, s.calls(), clock.sleeps]).toEqual([status, 1, 1, []]);
  });

  it("waits exactly Retry-After seconds, and an HTTP-date Retry-After to the second", async () => {
    const clock = fakeClock();
    const s = script(
      answer(429, { "retry-after": "7" }),
      answer(503, { "retry-after": new Date(clock.now() + 7_000 + 12_000).toUTCString() }),
      answer(200),
    );
    const out = await sendWithRetry(CALL, s.attempt, { budgetMs: 300_000, ...clock, random: () => 0.99 });
    expect(out.attempts).toBe(3);
    expect(clock.sleeps).toEqual([7_000, 12_000]);
  });

  it("retries network errors, then gives up naming the attempts when the budget is spent", async () => {
    const clock = fakeClock();
    const s = script(fetchFailed("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:9"));
    const error = await sendWithRetry(CALL, s.attempt, { budgetMs: 10_000, ...clock, random: () => 0.999 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DefenderApiError);
    const e = error as DefenderApiError;
    // Waits of 1 + 2 + 4 s fit in 10 s; the next one (8 s) would not.
    expect(clock.sleeps.map((ms) => Math.round(ms / 1000))).toEqual([1, 2, 4]);
    expect(e.attempts).toBe(4);
    expect(s.calls()).toBe(4);
    expect(e.status).toBeUndefined();
    expect(e.message).toContain("after 4 attempt(s)");
    expect(e.message).toContain("ECONNREFUSED");
    expect(e.message).toContain("DEFENDER_RETRY_BUDGET_SECONDS");
  });

  it("never sleeps past the budget, counting time spent inside attempts", async () => {
    const clock = fakeClock();
    let calls = 0;
    const attempt = async () => {
      calls++;
      clock.advance(20_000);
      return answer(503, { "retry-after": "30" });
    };
    const error = (await sendWithRetry(CALL, attempt, { budgetMs: 120_000, ...clock }).catch((e: unknown) => e)) as DefenderApiError;
    // 20 + 30 + 20 + 30 + 20 = 90 s; another wait of 30 s would pass 120 s.
    expect(calls).toBe(3);
    expect(clock.sleeps).toEqual([30_000, 30_000]);
    expect(clock.now() - fakeClock().now()).toBeLessThanOrEqual(120_000);
    expect(error.status).toBe(503);
    expect(error.attempts).toBe(3);
  });

  it("gives up at once when Retry-After asks for more than the budget left", async () => {
    const clock = fakeClock();
    const s = script(answer(429, { "retry-after": "3600", "x-request-id": "req-1" }));
    const error = (await sendWithRetry(CALL, s.attempt, { budgetMs: 300_000, ...clock }).catch((e: unknown) => e)) as DefenderApiError;
    expect(s.calls()).toBe(1);
    expect(clock.sleeps).toEqual([]);
    expect(error.message).toContain("asks to wait 3600 s (Retry-After)");
    expect([error.status, error.requestId, error.path]).toEqual([429, "req-1", "/api/deviceavinfo"]);
  });

  it("does not retry an error that is not a network failure", async () => {
    const clock = fakeClock();
    const s = script(fetchFailed("CERT_HAS_EXPIRED", "certificate has expired"));
    const error = (await sendWithRetry(CALL, s.attempt, { budgetMs: 300_000, ...clock }).catch((e: unknown) => e)) as DefenderApiError;
    expect(error).toBeInstanceOf(DefenderApiError);
    expect([s.calls(), error.attempts]).toEqual([1, 1]);
    expect(error.message).toContain("certificate has expired");
  });
});
