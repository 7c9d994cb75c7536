import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateDataset } from "../simulator/generator.js";
import { mib, runWorker } from "./measure.js";

interface SummaryResult {
  method: string;
  wallMs: number;
  records: number;
  devices: number;
  bytes: number;
  peakRss: number;
}

/**
 * The summary benchmark: `devices` simulated devices (every quirk of the real files) in gzip files of
 * at most `recordsPerFile` records, read by Node's gunzip alone (the floor), a naive readline +
 * JSON.parse reader, and ours on one core (pinned with taskset) and on all cores, each in its own
 * process so that its peak RSS is its own.
 */
export async function summaryBench(options: { devices: number; recordsPerFile: number; seed: number }): Promise<void> {
  const generating = performance.now();
  const dataset = generateDataset({ seed: options.seed, devices: options.devices, recordsPerFile: options.recordsPerFile });
  const generateMs = performance.now() - generating;
  const dir = mkdtempSync(join(tmpdir(), "summary-bench-"));
  try {
    let gzipBytes = 0;
    dataset.files.forEach((file, i) => {
      writeFileSync(join(dir, `part-${String(i).padStart(4, "0")}.json.gz`), file.body);
      gzipBytes += file.body.length;
    });
    const cores = availableParallelism();
    console.log(`summary: ${options.devices.toLocaleString("en")} devices generated in ${(generateMs / 1000).toFixed(1)} s; ` +
      `${dataset.files.length} files, ${mib(gzipBytes)} MiB gzip; ${cores} cores`);
    // Every method runs as built (ours as the Functions host runs it), by Node alone: through the
    // TypeScript loader, ours measured ~35% slower and ~28 MiB larger (its hooks thread, and the built
    // JavaScript transformed again on load).
    const root = fileURLToPath(new URL("../../", import.meta.url));
    const dist = join(dir, "dist");
    const tsconfig = join(dir, "tsconfig.json");
    writeFileSync(tsconfig, JSON.stringify({
      extends: join(root, "tsconfig.build.json"),
      include: [join(root, "functions"), join(root, "shared"), join(root, "local/bench/summaryWorker.ts")],
      compilerOptions: { rootDir: root, outDir: dist, typeRoots: [join(root, "node_modules/@types")] },
    }));
    execFileSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", tsconfig], { stdio: "inherit" });
    const worker = join(dist, "local/bench/summaryWorker.js");
    const env = { BENCH_DIR: dir, BENCH_GENERATED_TIME: dataset.generatedTime, BENCH_DIST: dist };
    const oneCore = ["taskset", "-c", "0"];
    const runs: [string, string, Record<string, string>, string[]][] = [
      ["gunzip only (256 KiB chunks)", "gunzip", {}, oneCore],
      ["naive readline + JSON.parse", "naive", {}, oneCore],
      ["ours, one core", "ours", { BENCH_PARALLELISM: "1" }, oneCore],
      [`ours, all ${cores} cores`, "ours", { BENCH_PARALLELISM: String(cores) }, []],
    ];
    const results: [string, SummaryResult][] = [];
    for (const [label, method, extra, prefix] of runs) {
      results.push([label, await runWorker<SummaryResult>(worker, { ...env, ...extra }, [method], prefix)]);
    }
    const floor = results[0]![1];
    const naive = results[1]![1];
    const records = results[2]![1].records;
    for (const [label, r] of results.slice(1)) {
      if (r.records !== records) throw new Error(`${label} read ${r.records} records, ours ${records}`);
    }
    console.table(results.map(([label, r]) => ({
      method: label,
      "wall s": (r.wallMs / 1000).toFixed(2),
      "records/s": Math.round(records / (r.wallMs / 1000)).toLocaleString("en"),
      "peak RSS MiB": mib(r.peakRss),
      "x gunzip-only": (r.wallMs / floor.wallMs).toFixed(2),
    })));
    const [, one] = results[2]!;
    const all = results[3]![1];
    const goal = (text: string, met: boolean) => console.log(`goal: ${text}: ${met ? "MET" : "NOT MET"}`);
    goal(`one core <= 2.0x gunzip-only (${(one.wallMs / floor.wallMs).toFixed(2)}x)`, one.wallMs <= 2 * floor.wallMs);
    goal(`all cores <= 1.2x gunzip-only (${(all.wallMs / floor.wallMs).toFixed(2)}x)`, all.wallMs <= 1.2 * floor.wallMs);
    goal(`>= 4x faster than naive (one core ${(naive.wallMs / one.wallMs).toFixed(2)}x, all cores ${(naive.wallMs / all.wallMs).toFixed(2)}x)`, naive.wallMs >= 4 * one.wallMs);
    goal(`peak RSS <= 200 MB (one core ${mib(one.peakRss)} MiB, all cores ${mib(all.peakRss)} MiB)`, Math.max(one.peakRss, all.peakRss) <= 200e6);
    console.log(`${records.toLocaleString("en")} records, ${one.devices.toLocaleString("en")} devices, ${mib(one.bytes)} MiB uncompressed`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
