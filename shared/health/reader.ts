import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { ExportFileError, RecordError } from "../errors.js";
import { DEFAULT_MAX_LINE_BYTES, LineSplitter } from "./lineSplitter.js";
import { DeviceSet } from "./devices.js";
import { normaliseRecord } from "./normalise.js";
import type { DeviceHealthRecord } from "./record.js";
import { RecordScanner } from "./recordScanner.js";

/** One line that could not be read as a record: kept (a bounded number of them) for quarantine. */
export interface MalformedLine {
  file: string;
  /** 1-based, blank lines counted. */
  line: number;
  /** The first ~200 bytes of the line, as UTF-8. */
  head: string;
  reason: string;
}

export interface FileReadResult {
  file: string;
  /** Every non-blank line: records handed on plus malformed lines. */
  recordsRead: number;
  malformedLines: number;
  /** The first `sampleLines` malformed lines. */
  malformedSample: MalformedLine[];
  /** Bytes after decompression. */
  bytes: number;
}

export interface ReadOptions {
  /** Lines longer than this are malformed (and never buffered whole). Default 1 MiB. */
  maxLineBytes?: number;
  /** How many malformed lines to keep for the report. Default 100. */
  sampleLines?: number;
}

/**
 * Gunzip's output chunk: 64–256 KiB is ~2× faster than the 16 KiB default, and 512 KiB ~5% faster again
 * on one core (half the hand-offs to zlib's thread); 1 MiB was no faster and peaked ~7 MiB higher.
 */
const GUNZIP_CHUNK = 512 * 1024;
const HEAD_BYTES = 200;
/** A file whose first lines the fast path all declines (the JSON method's camelCase) is not scanned further. */
const SCAN_TRIAL_LINES = 64;

/**
 * Streams one gzip NDJSON export file (one or several gzip members) and hands each record, normalised,
 * to `into`: a callback, or a DeviceSet (then lines go through the fast path, see recordScanner.ts,
 * and only the lines it declines are parsed in full). Memory does not grow with the file: one gunzip
 * chunk and at most one line are held. Malformed lines (not JSON, no device id, longer than the cap)
 * are counted and sampled, not thrown. Throws ExportFileError when the file cannot be read to its
 * end: any zlib error (a corrupt or truncated file, trailing garbage, an empty body) fails the whole
 * file, never a short success.
 */
export async function readRecordFile(
  source: Readable,
  file: string,
  into: ((record: DeviceHealthRecord) => void) | DeviceSet,
  options: ReadOptions = {},
): Promise<FileReadResult> {
  const sampleLines = options.sampleLines ?? 100;
  const result: FileReadResult = { file, recordsRead: 0, malformedLines: 0, malformedSample: [], bytes: 0 };
  const malformed = (line: number, head: string, reason: string): void => {
    result.recordsRead++;
    result.malformedLines++;
    if (result.malformedSample.length < sampleLines) result.malformedSample.push({ file, line, head, reason });
  };
  const devices = into instanceof DeviceSet ? into : undefined;
  const onRecord = devices === undefined ? (into as (record: DeviceHealthRecord) => void) : (record: DeviceHealthRecord) => devices.add(record);
  let scanner = devices === undefined ? undefined : new RecordScanner(devices.values);
  const splitter = new LineSplitter(
    {
      line(buf, start, end, line) {
        if (scanner !== undefined) {
          if (scanner.scan(buf, start, end, devices!)) {
            result.recordsRead++;
            return;
          }
          if (scanner.scanned === 0 && scanner.declined >= SCAN_TRIAL_LINES) scanner = undefined;
        }
        let record: DeviceHealthRecord;
        try {
          record = normaliseRecord(JSON.parse(buf.toString("utf8", start, end)), { file, line });
        } catch (error) {
          malformed(line, headOf(buf, start, end), reasonOf(error));
          return;
        }
        result.recordsRead++;
        onRecord(record);
      },
      oversized(head, line, bytes) {
        malformed(line, head.toString("utf8"), `line of ${bytes} bytes is longer than the ${options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES}-byte cap`);
      },
    },
    options.maxLineBytes,
  );

  let ownError: unknown;
  try {
    await pipeline(source, createGunzip({ chunkSize: GUNZIP_CHUNK }), async (chunks: AsyncIterable<Buffer>) => {
      const own = (work: () => void): void => {
        try {
          work();
        } catch (error) {
          ownError = error;
          throw error;
        }
      };
      for await (const chunk of chunks) {
        result.bytes += chunk.length;
        own(() => splitter.push(chunk));
      }
      own(() => splitter.end());
    });
  } catch (error) {
    // A failure of our own (or onRecord's) is not the file's fault: it goes up unchanged.
    if (ownError !== undefined && error === ownError) throw error;
    throw fileError(file, error, splitter.lines);
  }
  return result;
}

function headOf(buf: Buffer, start: number, end: number): string {
  return buf.toString("utf8", start, Math.min(end, start + HEAD_BYTES));
}

function reasonOf(error: unknown): string {
  if (error instanceof RecordError) return error.message;
  if (error instanceof SyntaxError) return `not JSON: ${error.message.slice(0, 200)}`;
  // Anything else is a bug in this code, not in the line: let it fail the run.
  throw error;
}

function fileError(file: string, error: unknown, lines: number): ExportFileError {
  const code = (error as { code?: unknown } | null)?.code;
  const zlib = typeof code === "string" && code.startsWith("Z_");
  const message = (error as Error | null)?.message ?? String(error);
  return new ExportFileError(
    zlib
      ? `Export file "${file}" is not valid gzip (${code}: ${message}) after ${lines} lines; the whole file is treated as failed. Copy it again from the export.`
      : `Export file "${file}" could not be read to its end (${message}) after ${lines} lines; the whole file is treated as failed.`,
    file,
    zlib ? "VerifyFailed" : "SourceUnavailable",
    !zlib,
    { cause: error },
  );
}
