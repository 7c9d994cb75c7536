import type { Readable } from "node:stream";
import { DeviceSet } from "./devices.js";
import { type FileReadResult, readRecordFile, type ReadOptions } from "./reader.js";

/** What one file read gives: the reader's counts, and how many distinct devices the file held. */
export interface FileRead {
  result: FileReadResult;
  devices: number;
}

/**
 * Reads one export file at a time into a snapshot's DeviceSet: the file's devices count only once it
 * is read to its end, so a failed file (ExportFileError) leaves no trace in the counts.
 */
export interface FileReader {
  read(source: Readable, file: string, into: DeviceSet, options: ReadOptions): Promise<FileRead>;
}

/**
 * The reader `index` of a summary that reads several files at a time, all in this thread: the first
 * straight into the snapshot's set, each other into a set of its own, merged once its file is read to
 * its end. Each file's gunzip runs on libuv's thread pool, so N files at a time keep N zlib threads
 * busy beside this one.
 * NOTE: measured on 2 cores (1 M devices), a worker thread for the second file (the earlier design)
 * was no faster and held ~80 MiB more at peak: a second V8 isolate, and a second lot of gunzip output
 * buffers waiting for its collector.
 */
export function fileReader(index: number): FileReader {
  return index === 0 ? new InPlaceReader() : new OwnSetReader();
}

/**
 * Reads straight into the snapshot's set, taking a failed file's records back (DeviceSet.rollback);
 * what the other readers merge meanwhile waits for the file to be done (see DeviceSet.merge).
 */
class InPlaceReader implements FileReader {
  async read(source: Readable, file: string, into: DeviceSet, options: ReadOptions): Promise<FileRead> {
    into.checkpoint();
    let result: FileReadResult;
    try {
      result = await readRecordFile(source, file, into, options);
    } catch (error) {
      into.rollback();
      throw error;
    }
    return { result, devices: into.commit() };
  }
}

/** Reads into a set of its own (on the snapshot's ValueTable), merged only once the file is read to its end. */
class OwnSetReader implements FileReader {
  async read(source: Readable, file: string, into: DeviceSet, options: ReadOptions): Promise<FileRead> {
    const own = new DeviceSet(into.values);
    const result = await readRecordFile(source, file, own, options);
    into.merge(own);
    return { result, devices: own.size };
  }
}
