/**
 * `npm start`: runs the whole pipeline once and reports. With no settings it brings its own world
 * (in-process Azurite playing both storage accounts, and a simulated Defender tenant); with the
 * Defender and storage settings in the environment it runs one real pass from a laptop.
 *
 *   npm start                         one pass on 20,000 simulated devices
 *   npm start -- --devices 100000     a bigger tenant
 *   npm start -- --keep               stay up: the timer fires on EXPORT_SCHEDULE, queues keep pumping
 *   npm start -- --verbose            print every log line
 */
import "./quietFunctions.js";
import { parseArgs } from "node:util";
import { ConfigError, ensureError } from "../shared/errors.js";
import type { Logger } from "../shared/log.js";
import type { RunView } from "../shared/pipeline/runStatus.js";
import { startAzurite, type RunningAzurite } from "./azurite.js";
import { LocalPipeline, simulatorSettings, startLocalTenant, type LocalTenant } from "./localPipeline.js";
import { nextOccurrence, parseSchedule } from "../shared/ncrontab.js";
import { generateDataset, toJsonRecord } from "./simulator/generator.js";

const { values: args } = parseArgs({
  options: {
    devices: { type: "string", default: "20000" },
    "records-per-file": { type: "string", default: "2500" },
    seed: { type: "string", default: "42" },
    keep: { type: "boolean", default: false },
    verbose: { type: "boolean", default: false },
  },
});

const tty = process.stdout.isTTY;
const out = (text = "") => process.stdout.write(`${text}\n`);

function consoleLogger(verbose: boolean): Logger {
  return {
    info: (m) => verbose && out(`  ${m}`),
    warn: (m) => out(`  warn  ${m}`),
    error: (m) => out(`  error ${m}`),
  };
}

function positiveInt(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} must be a whole number above 0, got "${value}"`);
  return n;
}

const realMode = Object.keys(process.env).some((k) => k === "DATA_STORAGE" || k.startsWith("DATA_STORAGE__"));

async function main(): Promise<void> {
  const logger = consoleLogger(args.verbose);
  let azurite: RunningAzurite | undefined;
  let local: LocalTenant | undefined;
  let pipeline: LocalPipeline;
  const started = Date.now();

  if (realMode) {
    out("Running one pass against the Defender tenant and storage account in your settings.");
    pipeline = await LocalPipeline.create({ env: process.env, logger });
  } else {
    const devices = positiveInt("devices", args.devices);
    const recordsPerFile = positiveInt("records-per-file", args["records-per-file"]);
    out(`Simulated tenant: ${devices.toLocaleString("en-US")} devices, in-process Azurite for both storage accounts.`);
    azurite = await startAzurite();
    const t = Date.now();
    const today = `${new Date().toISOString().slice(0, 10)}T02:00:00Z`;
    const dataset = generateDataset({ seed: positiveInt("seed", args.seed), devices, recordsPerFile, generatedTime: today });
    local = await startLocalTenant({ exporter: azurite.exporter, dataset, toJsonRecord });
    out(`Generated and published ${dataset.files.length} export files (${mb(dataset.files.reduce((s, f) => s + f.body.length, 0))}) in ${seconds(Date.now() - t)}.`);
    pipeline = await LocalPipeline.create({ env: simulatorSettings(azurite, local.tenant), logger, services: { credential: local.credential } });
  }

  const close = async () => {
    await local?.close();
    await azurite?.close();
  };
  try {
    if (args.keep) await keepRunning(pipeline);
    else await onePass(pipeline, started);
  } finally {
    await close();
  }
}

async function onePass(pipeline: LocalPipeline, started: number): Promise<void> {
  const start = await pipeline.start();
  out(`Run ${start.runId}: ${start.action}, ${start.files} files, ${start.queued} queued for a server-side copy.`);
  const progress = setInterval(() => void showProgress(pipeline, start.runId), 250);
  try {
    await pipeline.drain(30 * 60_000);
  } finally {
    clearInterval(progress);
  }
  const run = await pipeline.status(start.runId);
  if (tty) process.stdout.write("\r\x1b[K");
  if (!run) throw new Error(`run ${start.runId} vanished`);
  await report(pipeline, run, Date.now() - started);
  if (run.state !== "succeeded") process.exitCode = 1;
}

let lastLine = "";
async function showProgress(pipeline: LocalPipeline, runId: string): Promise<void> {
  const run = await pipeline.deps.runs.getRun(runId).catch(() => undefined);
  if (!run) return;
  const files = await pipeline.deps.runs.listFiles(runId).catch(() => []);
  const copied = files.filter((f) => f.State === "copied");
  const bytes = copied.reduce((s, f) => s + f.Bytes, 0);
  const text = `  ${run.row.State.padEnd(11)} ${bar(copied.length, run.row.FilesTotal)} ${copied.length}/${run.row.FilesTotal} files  ${mb(bytes)}`;
  if (text === lastLine) return;
  lastLine = text;
  process.stdout.write(tty ? `\r\x1b[K${text}` : `${text}\n`);
}

async function report(pipeline: LocalPipeline, run: RunView, elapsedMs: number): Promise<void> {
  const { config, storage } = pipeline.deps;
  out();
  out(`Run ${run.runId} ${run.state.toUpperCase()} in ${seconds(elapsedMs)}`);
  out(`  files     ${run.files.copied} copied, ${run.files.failed} failed of ${run.files.total}   ${mb(run.bytes)} copied server-side`);
  out(`  records   ${run.records.toLocaleString("en-US")} read: ${run.devices.toLocaleString("en-US")} devices, ${run.duplicates} duplicates across groups, ${run.malformedLines} malformed lines`);
  for (const e of run.errors.slice(0, 10)) out(`  error     ${e.file}: ${e.error}`);

  const all = await storage.summary.getEntity<Record<string, unknown>>(run.snapshotDate, "all|all").catch(() => undefined);
  if (all) {
    const n = Number(all.Devices) || 1;
    const pct = (key: string) => `${((100 * Number(all[key])) / n).toFixed(1)}%`;
    out(`  health    fully up to date ${pct("FullyUpToDate")}, signatures up to date ${pct("SignatureUpToDateTrue")}, not seen for 7+ days ${pct("Stale7d")}, active mode ${pct("ModeActive")}`);
  }
  let rows = 0;
  for await (const _ of storage.summary.listEntities({ queryOptions: { filter: `PartitionKey eq '${run.snapshotDate}'`, select: ["RowKey"] } })) rows++;

  out();
  out("Where the data landed");
  out(`  raw snapshot  ${storage.container.url}/${run.prefix}/  (gzip NDJSON per device group, as exported)`);
  out(`  manifest      ${run.prefix}/_manifest.json  (written last: a snapshot without one is incomplete)`);
  out(`  summary       table ${config.storage.summaryTable}, partition ${run.snapshotDate}: ${rows} rows (dimension x value, same measures on each)`);
  out(`  run state     table ${config.storage.runsTable}: one row for the run, one per file`);
  out();
  out("How to look at it");
  if (realMode) {
    out("  Power BI: see docs/power-bi.md. Storage Explorer: open the account above.");
  } else {
    out("  This Azurite lives in this process and is gone when it exits: run `npm start -- --keep` and open it");
    out("  in Azure Storage Explorer (Local emulator, the ports printed), or read docs/power-bi.md for a real account.");
  }
}

async function keepRunning(pipeline: LocalPipeline): Promise<void> {
  const schedule = parseSchedule(pipeline.config.export.schedule);
  for (const pump of pipeline.pumps) pump.start();
  const azure = pipeline.services.storage.queueService.url;
  out(`Queues are pumping (${azure}). Timer: "${pipeline.config.export.schedule}" (UTC). Ctrl-C to stop.`);
  const first = await pipeline.start();
  out(`Run ${first.runId}: ${first.action}.`);
  let stop = false;
  process.once("SIGINT", () => (stop = true));
  while (!stop) {
    const next = nextOccurrence(schedule, new Date());
    out(`Next run at ${next.toISOString()}.`);
    while (!stop && Date.now() < next.getTime()) await new Promise((r) => setTimeout(r, Math.min(1000, next.getTime() - Date.now())));
    if (stop) break;
    try {
      const result = await pipeline.start();
      out(`Run ${result.runId}: ${result.action}.`);
    } catch (error) {
      out(`  error ${ensureError(error).message}`);
    }
  }
  await Promise.all(pipeline.pumps.map((pump) => pump.stop()));
}

function bar(done: number, total: number): string {
  const width = 24;
  const filled = total > 0 ? Math.round((width * done) / total) : 0;
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}]`;
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

main().then(
  () => process.exit(),
  (error: unknown) => {
    const e = ensureError(error);
    process.stderr.write(`${e instanceof ConfigError ? "" : `${e.name}: `}${e.message}\n`);
    process.exit(1);
  },
);
