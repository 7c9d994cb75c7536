import { randomBytes } from "node:crypto";
import { spawnAzurite } from "../azurite.js";
import { simulatorSettings, startLocalTenant } from "../localPipeline.js";
import { fillerDataset } from "../simulator/generator.js";
import { mib, runWorker } from "./measure.js";

interface CopyResult {
  method: string;
  files: number;
  wallMs: number;
  bytesRead: number;
  bytesCopied: number;
  peakRss: number;
}

/**
 * The copy benchmark: K export files totalling at least 1 GiB (filler: a copy does not look inside),
 * some above the 256 MiB single-call limit, copied by the pipeline (server-side) and by a
 * download-and-upload baseline, each in its own process against the same Azurite (itself a child).
 */
export async function copyBench(options: { totalMiB: number }): Promise<void> {
  const MiB = 1024 * 1024;
  const large = 300 * MiB;
  const small = 160 * MiB;
  const largeFiles = 2;
  const smallFiles = Math.max(1, Math.ceil((options.totalMiB * MiB - largeFiles * large) / small));
  const dataset = fillerDataset({ files: largeFiles + smallFiles, bytesPerFile: large });
  dataset.files.forEach((f, i) => {
    if (i >= largeFiles) f.body = f.body.subarray(0, small);
  });
  const total = dataset.files.reduce((s, f) => s + f.body.length, 0);

  const azurite = await spawnAzurite();
  const local = await startLocalTenant({ exporter: azurite.exporter, dataset, rateLimit: { perMinute: 100, perHour: 1000 } });
  try {
    console.log(`copy: ${dataset.files.length} files, ${mib(total)} MiB (${largeFiles} above the 256 MiB single-call limit); Azurite in child process ${azurite.pid}`);
    const results: CopyResult[] = [];
    for (const method of ["baseline", "pipeline"]) {
      const settings = { ...simulatorSettings(azurite, local.tenant), DATA_CONTAINER: `bench-${method}-${randomBytes(3).toString("hex")}` };
      results.push(await runWorker<CopyResult>("copyWorker.ts", { BENCH_SETTINGS: JSON.stringify(settings), BENCH_CA: local.credential.tlsOptions?.ca as string }, [method]));
    }
    const [baseline, pipeline] = results as [CopyResult, CopyResult];
    console.table(results.map((r) => ({
      method: r.method === "pipeline" ? "pipeline (server-side)" : "download + upload",
      "wall s": (r.wallMs / 1000).toFixed(2),
      "MiB copied": mib(r.bytesCopied),
      "MiB read by process": mib(r.bytesRead),
      "read / copied": `${((100 * r.bytesRead) / r.bytesCopied).toFixed(3)}%`,
      "peak RSS MiB": mib(r.peakRss),
    })));
    console.log(`pipeline / baseline: wall ${(pipeline.wallMs / baseline.wallMs).toFixed(2)}x, bytes read ${(pipeline.bytesRead / baseline.bytesRead).toFixed(4)}x, peak RSS ${(pipeline.peakRss / baseline.peakRss).toFixed(2)}x`);
    const share = pipeline.bytesRead / pipeline.bytesCopied;
    console.log(`goal: the pipeline reads <= 1% of the bytes it copies: ${(100 * share).toFixed(3)}% ${share <= 0.01 ? "MET" : "NOT MET"}`);
  } finally {
    await local.close();
    await azurite.close();
  }
}
