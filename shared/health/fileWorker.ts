/**
 * A worker thread of the summary (see fileReaders.ts): reads the export files the main thread streams
 * to it, one at a time, into a DeviceSet of its own, and sends back the set's packed data and the
 * file's counts. The main thread keeps the I/O; this thread does the gunzip and the parsing.
 */
import { PassThrough } from "node:stream";
import { parentPort } from "node:worker_threads";
import { ExportFileError } from "../errors.js";
import { DeviceSet, ValueTable } from "./devices.js";
import { readRecordFile, type ReadOptions } from "./reader.js";
import type { FromWorker, ToWorker } from "./fileReaders.js";

const port = parentPort;
if (port === null) throw new Error("fileWorker.ts runs only as a worker thread");

let input: PassThrough | undefined;

port.on("message", (message: ToWorker) => {
  if (message.type === "chunk") {
    // NOTE: the credit goes back once the chunk is consumed, so the main thread never runs far ahead.
    input!.write(message.chunk, () => port.postMessage({ type: "credit" } satisfies FromWorker));
  } else if (message.type === "end") {
    input!.end();
  } else if (message.type === "abort") {
    input!.destroy(new Error(message.reason));
  } else {
    input = new PassThrough({ highWaterMark: 256 * 1024 });
    void read(input, message.file, message.options);
  }
});

async function read(source: PassThrough, file: string, options: ReadOptions): Promise<void> {
  const values = new ValueTable();
  const devices = new DeviceSet(values);
  let reply: FromWorker;
  try {
    const result = await readRecordFile(source, file, devices, options);
    reply = { type: "done", result, devices: devices.data(), values: values.all() };
  } catch (error) {
    reply = error instanceof ExportFileError
      ? { type: "failed", message: error.message, code: error.code, retriable: error.retriable }
      : { type: "bug", message: error instanceof Error ? (error.stack ?? error.message) : String(error) };
  }
  const transfer = reply.type === "done" ? [reply.devices.ints.buffer, reply.devices.times.buffer, reply.devices.words.buffer] : [];
  port!.postMessage(reply, transfer as ArrayBuffer[]);
}
