import { randomUUID } from "node:crypto";
import type { TokenCredential } from "@azure/identity";
import { isLoopbackHost, SETTINGS } from "../config.js";
import { ConfigError, DefenderApiError, DefenderAuthError } from "../errors.js";
import { line, silentLogger, type LogFields, type Logger } from "../log.js";
import { safeUrl } from "../redact.js";
import { validateExportUrl } from "./exportUrl.js";
import { DEVICE_AV_INFO_LIMIT, RateLimiter, type RateLimit } from "./rateLimit.js";
import { describeError, requestIdOf, sendWithRetry, type HttpAnswer } from "./retry.js";

export interface DefenderClientOptions {
  apiBaseUrl: string;
  credential: TokenCredential;
  scope: string;
  /** Accept an http(s) loopback API base URL and loopback export URLs (the local simulator). */
  allowLoopback: boolean;
  retryBudgetMs: number;
  attemptTimeoutMs?: number;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  random?: () => number;
  logger?: Logger;
  /** The deviceavinfo budget this client keeps to; the documented 30 a minute, 1,000 an hour by default. */
  deviceAvInfoLimit?: RateLimit;
}

export interface InfoGatheringExport {
  /** ISO 8601 in UTC with a `Z`; identifies the snapshot. */
  generatedTime: string;
  /** Validated SAS URLs, one per file. May be empty: the caller decides what an empty snapshot means. */
  exportFiles: string[];
}

export interface DeviceAvInfoPage {
  records: unknown[];
  /** 1 for the first page, or `resume.page` onwards. */
  page: number;
  /** The link to the next page; absent on the last page. */
  nextLink?: string;
}

export const MAX_PAGE_SIZE = 10_000;
const DEFENDER_APP = "WindowsDefenderATP (appId fc780465-2017-40d4-a0c5-307022471b92)";
const PERMISSION = { export: "Vulnerability.Read.All", deviceAvInfo: "Machine.Read.All" } as const;
const ISO_TIME = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?)(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * The Defender for Endpoint API, the two calls this app makes. Every call gets a fresh token from
 * the credential (which caches it), a `client-request-id`, the one retry policy (retry.ts), and
 * one log line; failures are DefenderApiErrors with status, method, path and request id.
 */
export class DefenderClient {
  private readonly base: string;
  private readonly origin: string;
  private readonly logger: Logger;
  /** Shared by every paging through this client, so two runs in one process share one budget. */
  private readonly deviceAvInfoLimiter: RateLimiter;

  constructor(private readonly options: DefenderClientOptions) {
    let url: URL;
    try {
      url = new URL(options.apiBaseUrl);
    } catch {
      throw baseUrlError(`is not a URL ("${safeUrl(options.apiBaseUrl)}")`);
    }
    const loopback = isLoopbackHost(url.hostname);
    if (loopback && !options.allowLoopback) throw baseUrlError("points at a loopback host");
    if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) throw baseUrlError(`uses ${url.protocol.slice(0, -1)}`);
    this.base = `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
    this.origin = url.origin;
    this.logger = options.logger ?? silentLogger;
    this.deviceAvInfoLimiter = new RateLimiter(options.deviceAvInfoLimit ?? DEVICE_AV_INFO_LIMIT, options.now ?? Date.now);
  }

  /**
   * GET /api/machines/InfoGatheringExport: the latest snapshot's file URLs (each checked by
   * validateExportUrl) and its generation time. Needs Vulnerability.Read.All.
   */
  async infoGatheringExport({ sasValidHours }: { sasValidHours: number }): Promise<InfoGatheringExport> {
    const url = new URL(`${this.base}/api/machines/InfoGatheringExport?sasValidHours=${sasValidHours}`);
    return this.get("InfoGatheringExport", url, PERMISSION.export, (body, invalid) => this.parseExport(body, invalid), (r) => ({
      files: r.exportFiles.length,
      generatedTime: r.generatedTime,
    }));
  }

  /**
   * GET /api/deviceavinfo, page by page, following `@odata.nextLink` (same origin only) until it is
   * absent. To resume, pass the `nextLink` of the last page done and that page's number plus one.
   * Needs Machine.Read.All.
   */
  async *deviceAvInfoPages(
    opts: { pageSize?: number; filter?: string; resume?: { nextLink: string; page: number } } = {},
  ): AsyncIterable<DeviceAvInfoPage> {
    const sleep = this.options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    const pageSize = opts.pageSize ?? MAX_PAGE_SIZE;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
      throw new RangeError(`deviceAvInfoPages: pageSize is ${pageSize}; expected a whole number from 1 to ${MAX_PAGE_SIZE}.`);
    }
    const filter = opts.filter ? `&$filter=${encodeURIComponent(opts.filter)}` : "";
    let url = opts.resume
      ? this.sameOrigin(opts.resume.nextLink, (problem) => {
          throw new DefenderApiError(`Cannot resume deviceavinfo paging: the saved nextLink ${problem}.`, { method: "GET", path: "/api/deviceavinfo" });
        })
      : new URL(`${this.base}/api/deviceavinfo?$top=${pageSize}${filter}`);
    const seen = new Set<string>([url.href]);
    for (let page = opts.resume?.page ?? 1; ; page++) {
      // NOTE: the method's budget is kept here, before the call, rather than learnt from 429s: past
      // 1,000 calls an hour the server's Retry-After can exceed the retry budget and fail the run.
      const wait = this.deviceAvInfoLimiter.waitMs();
      if (wait > this.options.retryBudgetMs) {
        const { perMinute, perHour } = this.deviceAvInfoLimiter.limit;
        throw new DefenderApiError(
          `GET /api/deviceavinfo: page ${page} could only be read in ${Math.ceil(wait / 60_000)} min, when the budget of ` +
            `${perMinute} calls a minute and ${perHour} an hour has room again; that is past the wait this app allows ` +
            `(${Math.round(this.options.retryBudgetMs / 1000)} s, ${SETTINGS.defenderRetryBudgetSeconds}). Fewer, larger pages ` +
            `(${SETTINGS.exportJsonPageSize}, up to ${MAX_PAGE_SIZE}) keep a run inside it.`,
          { method: "GET", path: "/api/deviceavinfo" },
        );
      }
      if (wait > 0) {
        this.logger.info(line("defender", "waiting", "deviceavinfo", { page, waitMs: Math.ceil(wait) }));
        await sleep(wait);
      }
      this.deviceAvInfoLimiter.record();
      const result = await this.get(
        "deviceavinfo",
        url,
        PERMISSION.deviceAvInfo,
        (body, invalid) => {
          if (!isObject(body) || !Array.isArray(body.value)) return invalid('it has no "value" list');
          const link = body["@odata.nextLink"];
          if (link === undefined || link === null) return { records: body.value as unknown[], next: undefined };
          if (typeof link !== "string") return invalid("its @odata.nextLink is not a string");
          const next = this.sameOrigin(link, (problem) => invalid(`its @odata.nextLink ${problem}`));
          if (seen.has(next.href)) return invalid("its @odata.nextLink repeats a page already read");
          return { records: body.value as unknown[], next };
        },
        (r) => ({ page, records: r.records.length, more: r.next !== undefined }),
      );
      if (!result.next) {
        yield { records: result.records, page };
        return;
      }
      yield { records: result.records, page, nextLink: result.next.href };
      seen.add(result.next.href);
      url = result.next;
    }
  }

  /** One GET: token, retries, status and body checks, one log line. */
  private async get<T>(
    name: string,
    url: URL,
    permission: string,
    parse: (body: unknown, invalid: (problem: string) => never) => T,
    summary: (value: T) => LogFields,
  ): Promise<T> {
    const now = this.options.now ?? Date.now;
    const started = now();
    const call = { method: "GET", path: url.pathname };
    const clientRequestId = randomUUID();
    let fields: LogFields = {};
    try {
      const token = await this.token();
      const { answer, attempts, waitedMs } = await sendWithRetry(call, (signal) => this.send(url, token, clientRequestId, signal), {
        budgetMs: this.options.retryBudgetMs,
        attemptTimeoutMs: this.options.attemptTimeoutMs,
        sleep: this.options.sleep,
        now,
        random: this.options.random,
      });
      fields = { status: answer.status, attempts, waitedMs: waitedMs || undefined };
      const details = { ...call, status: answer.status, requestId: requestIdOf(answer.headers) ?? clientRequestId, attempts };
      if (answer.status < 200 || answer.status > 299) {
        throw new DefenderApiError(mask(this.statusMessage(call, answer, permission, url), token), details);
      }
      const invalid = (problem: string): never => {
        throw new DefenderApiError(`${call.method} ${call.path} answered ${answer.status} with a body this app cannot use: ${problem}.`, details);
      };
      let body: unknown;
      try {
        body = JSON.parse(answer.body);
      } catch {
        invalid("it is not JSON");
      }
      const value = parse(body, invalid);
      this.logger.info(line("defender", "called", name, { ...fields, ...summary(value), elapsedMs: now() - started }));
      return value;
    } catch (error) {
      const status = error instanceof DefenderApiError ? error.status : undefined;
      const attempts = error instanceof DefenderApiError ? error.attempts : undefined;
      this.logger.warn(
        line("defender", "failed", name, { status, attempts, ...fields, elapsedMs: now() - started, error: error instanceof Error ? error.name : "error" }),
      );
      throw error;
    }
  }

  private async token(): Promise<string> {
    let token;
    try {
      token = await this.options.credential.getToken(this.options.scope);
    } catch (error) {
      if (error instanceof DefenderAuthError) throw error;
      throw new DefenderAuthError(`Could not get a token for ${this.options.scope}: ${describeError(error)}.`, { cause: error });
    }
    if (!token) throw new DefenderAuthError(`Could not get a token for ${this.options.scope}: the credential returned none.`);
    return token.token;
  }

  private async send(url: URL, token: string, clientRequestId: string, signal: AbortSignal): Promise<HttpAnswer> {
    const response = await (this.options.fetch ?? fetch)(url, {
      headers: { authorization: `Bearer ${token}`, accept: "application/json", "client-request-id": clientRequestId },
      // A redirect is an answer to report, never a reason to send the token elsewhere.
      redirect: "manual",
      signal,
    });
    return { status: response.status, statusText: response.statusText, headers: response.headers, body: await response.text() };
  }

  private statusMessage(call: { method: string; path: string }, answer: HttpAnswer, permission: string, url: URL): string {
    const said = serverSays(answer.body);
    const head = `${call.method} ${call.path} answered ${answer.status} ${answer.statusText}`.trim() + (said ? ` ("${said}")` : "");
    switch (answer.status) {
      case 401:
        return (
          `${head}: the token was not accepted. The identity needs the ${permission} application permission on ${DEFENDER_APP}, ` +
          `granted by an admin; also check that ${SETTINGS.defenderScope} (${this.options.scope}) belongs to the API host ${this.origin}.`
        );
      case 403:
        return (
          `${head}: the identity lacks the ${permission} permission. An admin must grant ${permission} as an application ` +
          `permission (not delegated) on ${DEFENDER_APP} and give admin consent for the tenant.`
        );
      case 404:
        return `${head}. Check ${SETTINGS.defenderApiBaseUrl} (${this.base}) and ${SETTINGS.defenderCloud}.`;
      case 400:
        return url.searchParams.has("$filter") ? `${head}. Check ${SETTINGS.exportJsonFilter}.` : `${head}.`;
      default:
        return `${head}.`;
    }
  }

  private parseExport(body: unknown, invalid: (problem: string) => never): InfoGatheringExport {
    if (!isObject(body)) return invalid("it is not a JSON object");
    const files = body.exportFiles ?? body.ExportFiles;
    if (!Array.isArray(files)) return invalid('it has no "exportFiles" list');
    const exportFiles = files.map((file: unknown, i) => {
      if (typeof file !== "string") return invalid(`exportFiles[${i}] is not a string`);
      try {
        validateExportUrl(file, { allowLoopback: this.options.allowLoopback });
      } catch (error) {
        return invalid(`exportFiles[${i}]: ${describeError(error)}`);
      }
      return file;
    });
    const generated = body.generatedTime ?? body.GeneratedTime;
    const generatedTime = typeof generated === "string" ? isoTime(generated) : undefined;
    if (!generatedTime) return invalid(`"generatedTime" is ${describeValue(generated)}, not an ISO 8601 time`);
    return { generatedTime, exportFiles };
  }

  private sameOrigin(link: string, invalid: (problem: string) => never): URL {
    let url: URL;
    try {
      url = new URL(link, this.base);
    } catch {
      return invalid("is not a URL");
    }
    return url.origin === this.origin ? url : invalid(`points at ${safeUrl(url)}, not at ${this.origin}`);
  }
}

/** An ISO 8601 time as `YYYY-MM-DDTHH:mm:ss.sssZ`; a time without zone is taken as UTC. */
function isoTime(text: string): string | undefined {
  const m = ISO_TIME.exec(text.trim());
  if (!m) return undefined;
  // NOTE: Date.parse rolls a day past the month's end over (2026-02-30 is March 2) and reads 24:00 as
  // the next day: the date and time as written must come back unchanged.
  const written = Date.parse(`${m[1]}Z`);
  if (Number.isNaN(written) || new Date(written).toISOString().slice(0, m[1]!.length) !== m[1]!.toUpperCase()) return undefined;
  const ms = Date.parse(`${m[1]}${(m[2] ?? "").slice(0, 4)}${m[3] ?? "Z"}`);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/**
 * A value of a JSON answer, short, for a message. NOTE: never JSON.stringify of the value itself: a
 * deeply nested array overflows its stack, and a huge one would be written whole before being cut.
 */
function describeValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.slice(0, 60));
  if (Array.isArray(value)) return "an array";
  if (value === null || typeof value !== "object") return String(value);
  return "an object";
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The OData error's code and message, or the start of a body that is not one. */
function serverSays(body: string): string {
  try {
    const error = (JSON.parse(body) as { error?: { code?: unknown; message?: unknown } }).error;
    if (error) return [error.code, error.message].filter((x) => typeof x === "string" && x).join(": ").slice(0, 300);
  } catch {
    // not JSON: show the text
  }
  return body.replace(/\s+/g, " ").trim().slice(0, 300);
}

/** The token itself, should a server echo it back without its "Bearer" prefix. */
function mask(text: string, token: string): string {
  return token ? text.split(token).join("[redacted token]") : text;
}

function baseUrlError(problem: string): ConfigError {
  return new ConfigError([
    {
      setting: SETTINGS.defenderApiBaseUrl,
      problem,
      expected: `an https:// URL (http only on a loopback host with ${SETTINGS.defenderAllowLoopback}=true)`,
    },
  ]);
}
