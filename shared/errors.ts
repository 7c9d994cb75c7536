import { redact } from "./redact.js";

export interface SettingProblem {
  setting: string;
  problem: string;
  expected: string;
}

/** One or more settings are missing or malformed. Thrown at start-up, before any work is done. */
export class ConfigError extends Error {
  override name = "ConfigError";
  readonly problems: readonly SettingProblem[];
  constructor(problems: readonly SettingProblem[]) {
    super(
      problems.length === 1
        ? describe(problems[0]!)
        : `${problems.length} settings are wrong:\n${problems.map((p) => `- ${describe(p)}`).join("\n")}`,
    );
    this.problems = problems;
  }
  /** The first setting named (most errors name one). */
  get setting(): string {
    return this.problems[0]?.setting ?? "";
  }
}

function describe(p: SettingProblem): string {
  return redact(`Setting ${p.setting} ${p.problem}; expected ${p.expected}.`);
}

export interface DefenderApiErrorDetails {
  /** HTTP status, or undefined when no answer came (network error, time budget spent). */
  status?: number;
  method: string;
  /** Path without the query string. */
  path: string;
  requestId?: string;
  attempts?: number;
  cause?: unknown;
}

/** A call to the Defender API failed after its retries. Never carries a token or a query string. */
export class DefenderApiError extends Error {
  override name = "DefenderApiError";
  readonly status: number | undefined;
  readonly method: string;
  readonly path: string;
  readonly requestId: string | undefined;
  readonly attempts: number | undefined;
  constructor(message: string, details: DefenderApiErrorDetails) {
    super(redact(message), details.cause === undefined ? undefined : { cause: details.cause });
    this.status = details.status;
    this.method = details.method;
    this.path = details.path.split("?")[0] ?? details.path;
    this.requestId = details.requestId;
    this.attempts = details.attempts;
  }
}

/** Why an export file could not be saved; the pipeline acts on the code, never on message text. */
export type ExportFileErrorCode =
  | "UrlRejected"
  | "SourceExpired"
  | "SourceMissing"
  | "SourceEmpty"
  | "SourceUnavailable"
  | "CopyFailed"
  | "VerifyFailed"
  | "SnapshotReplaced"
  | "RefreshBudgetSpent";

/** One export file could not be copied or verified. `retriable` says whether another attempt may help. */
export class ExportFileError extends Error {
  override name = "ExportFileError";
  readonly status: number | undefined;
  constructor(
    message: string,
    readonly file: string,
    readonly code: ExportFileErrorCode,
    readonly retriable: boolean,
    options?: { cause?: unknown; status?: number },
  ) {
    super(redact(message), options?.cause === undefined ? undefined : { cause: options.cause });
    this.status = options?.status;
  }
}

/** A record (one line of an export file or one item of a page) could not be read. */
export class RecordError extends Error {
  override name = "RecordError";
  constructor(
    message: string,
    readonly file: string,
    readonly line: number,
  ) {
    super(redact(message));
  }
}

/** The HTTP status an Azure SDK error carries (`statusCode`), if any. */
export function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number } | null | undefined)?.statusCode;
}

/** Anything thrown, as an Error (the host and our logs expect one). */
export function ensureError(value: unknown): Error {
  if (value instanceof Error) return value;
  if (typeof value === "string") return new Error(redact(value));
  try {
    return new Error(redact(JSON.stringify(value)));
  } catch {
    return new Error(String(value));
  }
}

/** No token for the Defender API could be had from the configured identity. Never carries a secret. */
export class DefenderAuthError extends Error {
  override name = "DefenderAuthError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(redact(message), options?.cause === undefined ? undefined : { cause: options.cause });
  }
}
