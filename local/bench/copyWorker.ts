/**
 * One method of the copy benchmark, in its own process: `pipeline` (the real handlers, server-side
 * copy) or `baseline` (download each file and upload it again, as other tools do). Prints one JSON line.
 */
import "../quietFunctions.js";
import { BlobClient } from "@azure/storage-blob";
import { LocalPipeline } from "../localPipeline.js";
import { silentLogger } from "../../shared/log.js";
import { destinationOf } from "../../shared/runs/layout.js";
import { blobPathOf } from "../../shared/defender/exportUrl.js";
import { drain } from "../pump.js";
import { bytesRead, peakRss } from "./measure.js";

const method = process.argv[2];
const env = JSON.parse(process.env.BENCH_SETTINGS ?? "{}") as Record<string, string>;
const ca = process.env.BENCH_CA ?? "";
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? "8");

const pipeline = await LocalPipeline.create({
  env,
  logger: silentLogger,
  isolate: true,
  queueSettings: { batchSize: concurrency, visibilityTimeoutMs: 0 },
  services: { credential: { tlsOptions: { ca } } },
});
const { container } = pipeline.deps.storage;

const readBefore = bytesRead();
const started = performance.now();
let files = 0;
if (method === "pipeline") {
  const start = await pipeline.start();
  files = start.files;
  await drain([pipeline.files], { deadlineMs: 30 * 60_000 });
} else if (method === "baseline") {
  const answer = await pipeline.deps.defender.infoGatheringExport({ sasValidHours: 6 });
  files = answer.exportFiles.length;
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < answer.exportFiles.length) {
      const url = answer.exportFiles[next++]!;
      const download = await new BlobClient(url).download();
      const destination = container.getBlockBlobClient(destinationOf(answer.generatedTime, blobPathOf(url)));
      await destination.uploadStream(download.readableStreamBody as NodeJS.ReadableStream as never, 8 * 1024 * 1024, 4);
    }
  }));
} else {
  throw new Error(`unknown method "${method}"`);
}
const wallMs = performance.now() - started;
const read = bytesRead() - readBefore;

// Outside the measurement: every file must be in place, whole.
let bytesCopied = 0;
let blobs = 0;
for await (const blob of container.listBlobsFlat({ prefix: "raw/" })) {
  bytesCopied += blob.properties.contentLength ?? 0;
  blobs++;
}
if (blobs !== files) throw new Error(`${method}: ${blobs} of ${files} files landed`);
process.stdout.write(`${JSON.stringify({ method, files, wallMs, bytesRead: read, bytesCopied, peakRss: peakRss() })}\n`);
process.exit(0);
