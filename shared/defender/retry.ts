import { SETTINGS } from "../config.js";
import { DefenderApiError } from "../errors.js";
import { redact } from "../redact.js";

/** One HTTP answer, body read in full (a reset half-way through the body is retried like any other). */
export interface HttpAnswer {
  status: number;
  statusText: string;
  headers: Headers;
  body: string;
}

export interface RetryPolicy {
  /** Total time one call may take, waits included; then it gives up. */
  budgetMs: number;
  /** Abort one attempt after this long (default 120 s) and retry it. */
  attemptTimeoutMs?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** In [0, 1), for the jitter. */
  random?: () => number;
}

export interface RetryOutcome {
  answer: HttpAnswer;
  attempts: number;
  /** Time spent waiting between attempts. */
  waitedMs: number;
}

const RETRIABLE_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);
/** TLS and certificate failures do not heal by waiting. */
const TLS_FAILURE = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/;

/** 408, 429 and 5xx except 501 (Not Implemented) and 505 (HTTP Version Not Supported). */
export function isRetriableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599 && status !== 501 && status !== 505);
}

/** Network failures worth another attempt: resets, refusals, timeouts, and fetch's "fetch failed" with a cause. */
export function isRetriableError(error: unknown): boolean {
  const chain: unknown[] = [];
  for (let e: unknown = error; e instanceof Error && chain.length < 5; e = e.cause) chain.push(e);
  const codes = chain.map((e) => String((e as { code?: unknown }).code ?? ""));
  if (codes.some((c) => TLS_FAILURE.test(c))) return false;
  if (codes.some((c) => RETRIABLE_CODES.has(c))) return true;
  return chain.some(
    (e) =>
      e instanceof Error &&
      (e.name === "TimeoutError" ||
        /socket hang up|other side closed/i.test(e.message) ||
        (e instanceof TypeError && e.message === "fetch failed" && e.cause !== undefined)),
  );
}

/** `Retry-After` as milliseconds from now: delta seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(headers: Headers, now: number): number | undefined {
  const value = headers.get("retry-after")?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = /[a-z]/i.test(value) ? Date.parse(value) : NaN; // an HTTP date names a day or month
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Full jitter: a random wait up to base·2^(attempt-1), capped. */
export function backoffMs(attempt: number, random: () => number, baseMs = 1000, capMs = 60_000): number {
  return Math.floor(random() * Math.min(capMs, baseMs * 2 ** (attempt - 1)));
}

/**
 * Runs `attempt` until it gets an answer that is not worth retrying, and returns it (any status;
 * the caller judges it). Retries 408 / 429 / 5xx (not 501, 505) and network errors, waiting
 * `Retry-After` when the server sends one and jittered exponential backoff otherwise. Throws a
 * DefenderApiError when the budget would be overrun or a network error is not retriable.
 */
export async function sendWithRetry(
  call: { method: string; path: string },
  attempt: (signal: AbortSignal) => Promise<HttpAnswer>,
  policy: RetryPolicy,
): Promise<RetryOutcome> {
  const sleep = policy.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = policy.now ?? Date.now;
  const random = policy.random ?? Math.random;
  const started = now();
  let waitedMs = 0;
  for (let attempts = 1; ; attempts++) {
    let answer: HttpAnswer | undefined;
    let failure: unknown;
    try {
      answer = await attempt(AbortSignal.timeout(policy.attemptTimeoutMs ?? 120_000));
      if (!isRetriableStatus(answer.status)) return { answer, attempts, waitedMs };
    } catch (error) {
      if (!isRetriableError(error)) {
        throw new DefenderApiError(`${call.method} ${call.path} failed: ${describeError(error)}.`, { ...call, attempts, cause: error });
      }
      failure = error;
    }
    const serverWait = answer && retryAfterMs(answer.headers, now());
    const wait = serverWait ?? backoffMs(attempts, random, policy.baseDelayMs, policy.maxDelayMs);
    const elapsed = now() - started;
    if (elapsed + wait > policy.budgetMs) {
      const last = answer ? `${answer.status} ${answer.statusText}`.trim() : describeError(failure);
      const why =
        serverWait !== undefined && serverWait > policy.budgetMs - elapsed
          ? `the server asks to wait ${Math.ceil(serverWait / 1000)} s (Retry-After), beyond`
          : "that would overrun";
      throw new DefenderApiError(
        `${call.method} ${call.path} still failed after ${attempts} attempt(s) in ${Math.round(elapsed / 1000)} s (last: ${last}); ` +
          `gave up because ${why} the retry budget of ${Math.round(policy.budgetMs / 1000)} s (${SETTINGS.defenderRetryBudgetSeconds}). ` +
          "The Defender API is throttling or unavailable; a later run will try again.",
        { ...call, status: answer?.status, requestId: answer && requestIdOf(answer.headers), attempts, cause: failure },
      );
    }
    await sleep(wait);
    waitedMs += wait;
  }
}

/** The server's id for a request, for support cases. */
export function requestIdOf(headers: Headers): string | undefined {
  return headers.get("x-request-id") ?? headers.get("request-id") ?? headers.get("client-request-id") ?? undefined;
}

/** An error's message with its causes' codes and messages, redacted. */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error; e !== undefined && parts.length < 3; e = e instanceof Error ? e.cause : undefined) {
    const code = (e as { code?: unknown } | null)?.code;
    parts.push(e instanceof Error ? `${typeof code === "string" ? `${code} ` : ""}${e.message}` : String(e));
  }
  return redact(parts.join(": "));
}
