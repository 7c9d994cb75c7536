import { redact } from "./redact.js";

/** What shared/ needs to log: the Functions InvocationContext satisfies it, and so does the console. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export type LogFields = Record<string, string | number | boolean | undefined | null>;

/**
 * One structured line: `<function> <verb> "<id>" key=value …`, redacted. Tests and log queries can
 * count on the shape (`copyExportFile copied "2026-12-01T0200Z/…" bytes=… elapsedMs=…`).
 */
export function line(source: string, verb: string, id: string, fields: LogFields = {}): string {
  const parts = [`${source} ${verb} "${id}"`];
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined || value === null) continue;
    const text = String(value);
    parts.push(`${key}=${/[\s"]/.test(text) ? JSON.stringify(text) : text}`);
  }
  return redact(parts.join(" "));
}

/** A logger that drops everything (library defaults). */
export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

/** A logger that keeps its lines, for tests and the local host's report. */
export class MemoryLogger implements Logger {
  readonly lines: string[] = [];
  info(message: string): void {
    this.lines.push(`info ${message}`);
  }
  warn(message: string): void {
    this.lines.push(`warn ${message}`);
  }
  error(message: string): void {
    this.lines.push(`error ${message}`);
  }
}
