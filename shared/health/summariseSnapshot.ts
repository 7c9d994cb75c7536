import type { Readable } from "node:stream";
import { ExportFileError, ensureError, statusOf } from "../errors.js";
import { line, type Logger } from "../log.js";
import { aggregateDevices, type SummaryRow } from "./aggregate.js";
import { DeviceSet, ValueTable } from "./devices.js";
import { fileReader, type FileRead, type FileReader } from "./fileReaders.js";
import type { MalformedLine } from "./reader.js";

/** One gzip NDJSON file of a snapshot: a name for reports, and a way to stream its bytes. */
export interface SnapshotFile {
  name: string;
  open(): Promise<Readable>;
}

export interface SummariseOptions {
  files: AsyncIterable<SnapshotFile> | Iterable<SnapshotFile>;
  /** The snapshot's generatedTime (ISO 8601); ages and buckets are measured from it. */
  generatedTime: string;
  runId: string;
  /** Files read at the same time, each gunzipped on a thread of libuv's pool (settings: summary.parallelism). */
  parallelism: number;
  /** Malformed lines kept for quarantine, over all files (settings: summary.quarantineSampleLines). */
  quarantineSampleLines: number;
  logger: Logger;
  /** Lines longer than this are malformed. Default 1 MiB. */
  maxLineBytes?: number;
  /**
   * Mark the rows Partial even if every file given is read: the caller knows the snapshot has files
   * that are not among them (never copied). Files that fail here mark the rows Partial anyway.
   */
  partial?: boolean;
}

export interface FailedFile {
  name: string;
  reason: string;
}

export interface SummaryStats {
  /** Files read to their end. Failed files are not counted here, nor are any of their records. */
  filesRead: number;
  /** Non-blank lines of the files read: devices + duplicates + malformedLines. */
  recordsRead: number;
  /** Distinct devices (each counted once, its latest record kept). */
  devices: number;
  /** Records of a device already seen, in the same file or another one. */
  duplicates: number;
  malformedLines: number;
  failedFiles: FailedFile[];
  malformedSample: MalformedLine[];
  /** Per file read (for the manifest), in the order files finished. */
  perFile: FileStats[];
}

export interface FileStats {
  name: string;
  recordsRead: number;
  malformedLines: number;
  /** Distinct devices in this file alone. */
  devices: number;
  /** Bytes after decompression. */
  bytes: number;
}

export interface SnapshotSummary {
  rows: SummaryRow[];
  stats: SummaryStats;
}

/**
 * Reads every file of a snapshot (gunzip → lines → records), `parallelism` files at a time, keeps
 * each device once (its latest record), and aggregates the day's DeviceHealthDaily rows.
 *
 * A file that is broken (corrupt gzip) or gone (404) is listed in `failedFiles` with its reason and
 * contributes nothing; the rows are then marked Partial. A file that cannot be reached now (network,
 * storage unavailable) rejects the whole summary, for the queue to retry it. Malformed lines are
 * counted and sampled, never thrown. Anything else (a bug) rejects.
 */
export async function summariseSnapshot(options: SummariseOptions): Promise<SnapshotSummary> {
  const { logger, runId } = options;
  const started = Date.now();
  const values = new ValueTable();
  const devices = new DeviceSet(values);
  const stats: SummaryStats = { filesRead: 0, recordsRead: 0, devices: 0, duplicates: 0, malformedLines: 0, failedFiles: [], malformedSample: [], perFile: [] };

  const fail = (file: SnapshotFile, reason: string): void => {
    stats.failedFiles.push({ name: file.name, reason });
    logger.warn(line("summariseSnapshot", "failed", file.name, { runId, reason }));
  };

  const readOne = async (reader: FileReader, file: SnapshotFile): Promise<void> => {
    const fileStarted = Date.now();
    let source: Readable;
    try {
      source = await file.open();
    } catch (error) {
      // Only a file that is not there fails alone; storage that cannot be reached now fails the summary, to be retried.
      if (statusOf(error) !== 404) throw unreachable(file, error);
      fail(file, `Export file "${file.name}" could not be opened: ${ensureError(error).message}`);
      return;
    }
    let read: FileRead;
    try {
      read = await reader.read(source, file.name, devices, {
        maxLineBytes: options.maxLineBytes,
        sampleLines: options.quarantineSampleLines,
      });
    } catch (error) {
      if (!(error instanceof ExportFileError)) throw error;
      if (error.retriable) throw unreachable(file, error);
      fail(file, error.message);
      return;
    }
    const { result } = read;
    stats.filesRead++;
    stats.recordsRead += result.recordsRead;
    stats.malformedLines += result.malformedLines;
    const room = options.quarantineSampleLines - stats.malformedSample.length;
    if (room > 0) stats.malformedSample.push(...result.malformedSample.slice(0, room));
    stats.perFile.push({ name: file.name, recordsRead: result.recordsRead, malformedLines: result.malformedLines, devices: read.devices, bytes: result.bytes });
    logger.info(line("summariseSnapshot", "read", file.name, {
      runId,
      records: result.recordsRead,
      malformed: result.malformedLines,
      devices: read.devices,
      bytes: result.bytes,
      elapsedMs: Date.now() - fileStarted,
    }));
  };

  const queue = iterate(options.files);
  let broken = false;
  const parallelism = Math.max(1, options.parallelism);
  const work = async (index: number): Promise<void> => {
    const reader = fileReader(index);
    while (!broken) {
      const next = await queue.next();
      if (next.done) return;
      try {
        await readOne(reader, next.value);
      } catch (error) {
        broken = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: parallelism }, (_, index) => work(index)));

  stats.devices = devices.size;
  stats.duplicates = devices.duplicates;
  if (stats.recordsRead !== stats.devices + stats.duplicates + stats.malformedLines) {
    throw new Error(
      `Summary counts do not add up for run ${runId}: recordsRead ${stats.recordsRead} ≠ devices ${stats.devices} + duplicates ${stats.duplicates} + malformed ${stats.malformedLines}. This is a bug; nothing was written.`,
    );
  }
  const partial = options.partial === true || stats.failedFiles.length > 0;
  const rows = aggregateDevices(devices, { generatedTime: options.generatedTime, runId, partial });
  logger.info(line("summariseSnapshot", "summarised", runId, {
    files: stats.filesRead,
    failedFiles: stats.failedFiles.length,
    records: stats.recordsRead,
    devices: stats.devices,
    duplicates: stats.duplicates,
    malformed: stats.malformedLines,
    rows: rows.length,
    elapsedMs: Date.now() - started,
  }));
  return { rows, stats };
}

function iterate(files: AsyncIterable<SnapshotFile> | Iterable<SnapshotFile>): AsyncIterator<SnapshotFile> | Iterator<SnapshotFile> {
  return Symbol.asyncIterator in files ? files[Symbol.asyncIterator]() : files[Symbol.iterator]();
}

/** A file that could not be read for a reason that is not its own (network, storage): the whole summary is retried. */
function unreachable(file: SnapshotFile, error: unknown): Error {
  return new Error(`Export file "${file.name}" could not be read now (${ensureError(error).message}); the summary is retried`, { cause: error });
}
