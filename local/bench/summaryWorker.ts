/**
 * One method of the summary benchmark, in its own process, over the gzip files in BENCH_DIR:
 * `gunzip` (Node's gunzip alone, 256 KiB chunks), `naive` (readline + JSON.parse, a Map of records),
 * or `ours` (summariseSnapshot, BENCH_PARALLELISM files at a time, from the build in BENCH_DIST: the
 * JavaScript that the Functions host runs). Built into BENCH_DIST itself and run by Node alone (see
 * summaryBench.ts). Prints one JSON line.
 */
import { createReadStream, readdirSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { pathToFileURL } from "node:url";
import { silentLogger } from "../../shared/log.js";
import type { summariseSnapshot as Summarise } from "../../shared/health/summariseSnapshot.js";
import { peakRss } from "./measure.js";

const method = process.argv[2];
const dir = process.env.BENCH_DIR ?? "";
const generatedTime = process.env.BENCH_GENERATED_TIME ?? "";
const parallelism = Number(process.env.BENCH_PARALLELISM ?? "1");
const CHUNK = 256 * 1024;
const files = readdirSync(dir).filter((f) => f.endsWith(".json.gz")).sort().map((f) => join(dir, f));

const started = performance.now();
let records = 0;
let devices = 0;
let bytes = 0;
if (method === "gunzip") {
  for (const file of files) {
    await pipeline(createReadStream(file, { highWaterMark: CHUNK }), createGunzip({ chunkSize: CHUNK }), async (chunks: AsyncIterable<Buffer>) => {
      for await (const chunk of chunks) bytes += chunk.length;
    });
  }
} else if (method === "naive") {
  // What a straightforward reader does: readline, JSON.parse the line and its nested strings, keep the latest record per device.
  const latest = new Map<string, { at: string; seen: string; info: unknown }>();
  for (const file of files) {
    const lines = createInterface({ input: createReadStream(file).pipe(createGunzip()), crlfDelay: Infinity });
    for await (const text of lines) {
      if (text.trim() === "") continue;
      records++;
      const record = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text) as Record<string, unknown>;
      let info = record.DeviceGatheredInfo;
      if (typeof info === "string" && info.startsWith("{")) info = JSON.parse(info);
      const scans = (info as Record<string, unknown> | null)?.AvScanResults;
      if (typeof scans === "string" && scans.startsWith("{")) (info as Record<string, unknown>).AvScanResults = JSON.parse(scans);
      const id = String(record.DeviceId);
      const at = String(record.Timestamp ?? "");
      const seen = String(record.LastSeenTime ?? "");
      const kept = latest.get(id);
      if (kept === undefined || at > kept.at || (at === kept.at && seen > kept.seen)) latest.set(id, { at, seen, info });
    }
  }
  devices = latest.size;
} else if (method === "ours") {
  const built = pathToFileURL(join(process.env.BENCH_DIST ?? "", "shared/health/summariseSnapshot.js")).href;
  const { summariseSnapshot } = (await import(built)) as { summariseSnapshot: typeof Summarise };
  const summary = await summariseSnapshot({
    files: files.map((file) => ({ name: file, open: async () => createReadStream(file, { highWaterMark: CHUNK }) })),
    generatedTime,
    runId: "bench",
    parallelism,
    quarantineSampleLines: 100,
    logger: silentLogger,
  });
  records = summary.stats.recordsRead;
  devices = summary.stats.devices;
  bytes = summary.stats.perFile.reduce((sum, f) => sum + f.bytes, 0);
  if (summary.stats.failedFiles.length > 0) throw new Error(`files failed: ${JSON.stringify(summary.stats.failedFiles)}`);
} else {
  throw new Error(`unknown method "${method}"`);
}
const wallMs = performance.now() - started;
process.stdout.write(`${JSON.stringify({ method, wallMs, records, devices, bytes, peakRss: peakRss() })}\n`);
process.exit(0);
