import type { Readable } from "node:stream";
import { summariseSnapshot } from "../health/summariseSnapshot.js";
import { writeDailySummary } from "../health/summaryTable.js";
import { writeQuarantine } from "../health/writeQuarantine.js";
import { quarantinePath } from "../runs/layout.js";
import type { Summariser } from "./buildSummary.js";

/**
 * The health summary of a run: streams every copied file from the customer's container (never from
 * Microsoft's URLs), writes the day's DeviceHealthDaily rows, and the quarantine sample of malformed
 * lines beside the snapshot. Rows are marked Partial when any file of the snapshot is missing.
 */
export const summariseRun: Summariser = async (deps, run, files) => {
  const copied = files.filter((f) => f.State === "copied");
  const keyOf = new Map(copied.map((f) => [f.Destination, f.FileKey]));
  const { rows, stats } = await summariseSnapshot({
    files: copied.map((f) => ({
      name: f.Destination,
      open: async () => {
        const body = (await deps.storage.container.getBlobClient(f.Destination).download()).readableStreamBody;
        if (!body) throw new Error(`download of ${f.Destination} returned no body`);
        return body as Readable;
      },
    })),
    generatedTime: run.GeneratedTime,
    runId: run.RunId,
    parallelism: deps.config.summary.parallelism,
    quarantineSampleLines: deps.config.summary.quarantineSampleLines,
    logger: deps.logger,
  });
  const missing = copied.length < files.length;
  // A day belongs to its latest snapshot: an older one finishing late (resumed, or slow) leaves it alone.
  const { newerSnapshot } = await writeDailySummary(
    deps.storage.summary,
    run.SnapshotDate,
    missing ? rows.map((r) => ({ ...r, partial: true })) : rows,
    deps.logger,
  );
  const quarantine = quarantinePath(run.GeneratedTime);
  if (stats.malformedSample.length > 0) await writeQuarantine(deps.storage.container, quarantine, stats.malformedSample);
  else await deps.storage.container.getBlobClient(quarantine).deleteIfExists();

  return {
    records: stats.recordsRead,
    devices: stats.devices,
    duplicates: stats.duplicates,
    malformedLines: stats.malformedLines,
    failedFiles: stats.failedFiles.map((f) => ({ file: keyOf.get(f.name) ?? f.name, reason: f.reason })),
    perFile: Object.fromEntries(stats.perFile.map((f) => [keyOf.get(f.name) ?? f.name, { records: f.recordsRead, malformedLines: f.malformedLines }])),
    note:
      newerSnapshot === undefined
        ? undefined
        : `the day's ${deps.config.storage.summaryTable} rows were left as they are: the newer snapshot ${newerSnapshot} already summarised ${run.SnapshotDate}`,
  };
};
