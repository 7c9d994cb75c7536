import { line } from "../log.js";
import { manifestPath } from "../runs/layout.js";
import { ConcurrencyConflict, FINAL_RUN_STATES, type FileRow, type RunRow, type RunState } from "../runs/runStore.js";
import type { PipelineDeps } from "./deps.js";
import { advanceRun } from "./fanIn.js";
import { parseSummaryMessage } from "./messages.js";

/** What the health aggregation reports back for the run row and the manifest. */
export interface SnapshotSummary {
  records: number;
  devices: number;
  duplicates: number;
  malformedLines: number;
  /** Copied files that could not be read (corrupt gzip): the run ends `partial`. */
  failedFiles: { file: string; reason: string }[];
  /** Per file: records read and malformed lines, keyed by FileKey. */
  perFile: Record<string, { records: number; malformedLines: number }>;
  /** Said on the run when set (e.g. the day's rows were left to a newer snapshot). */
  note?: string;
}

/** Reads the run's copied files and writes the day's summary rows (summariseRun is the real one). */
export type Summariser = (deps: PipelineDeps, run: RunRow, files: FileRow[]) => Promise<SnapshotSummary>;

export interface Manifest {
  runId: string;
  method: string;
  /** The JSON method's $filter, when one was set. */
  filter?: string;
  generatedTime: string;
  snapshotDate: string;
  state: RunState;
  files: { name: string; rbacGroupId: string; bytes: number; contentMD5: string; records?: number; malformedLines?: number }[];
  failedFiles: { file: string; error: string }[];
  bytes: number;
  records: number;
  devices: number;
  duplicates: number;
  malformedLines: number;
  writtenAt: string;
}

const MAX_ERRORS = 50;

/**
 * The fan-in's single step: summarises the snapshot from the customer's copies, writes the manifest
 * (last, so readers can trust a snapshot that has one) and finishes the run with an ETag-guarded
 * update, so however often the message comes, a run is finished once.
 */
export async function buildSummary(deps: PipelineDeps, body: unknown, summarise: Summariser): Promise<RunState | "not-ready" | "already-finished"> {
  const { runId } = parseSummaryMessage(body);
  const started = Date.now();
  const run = await deps.runs.getRun(runId);
  if (!run) throw new Error(`export-summary message names a run that does not exist: ${runId}`);
  if (FINAL_RUN_STATES.includes(run.row.State)) {
    deps.logger.info(line("buildSummary", "skipped", runId, { state: run.row.State, reason: "already finished" }));
    return "already-finished";
  }
  if (run.row.State === "copying") {
    await advanceRun(deps, runId, "buildSummary");
    return "not-ready";
  }

  const files = await deps.runs.listFiles(runId);
  const summary = files.some((f) => f.State === "copied") ? await summarise(deps, run.row, files) : emptySummary();
  await deps.checkpoint("summarised");

  // A copy that cannot be read (corrupt gzip) is failed on its row too, so that the next trigger copies it again.
  const unreadable = new Map(summary.failedFiles.map((f) => [f.file, f.reason]));
  for (const file of files) {
    const reason = unreadable.get(file.FileKey);
    if (file.State !== "copied" || reason === undefined) continue;
    const changes = { State: "failed", LastError: `Unreadable: ${reason}`, UpdatedAt: deps.now().toISOString() } as const;
    await deps.runs.updateFile(runId, file.FileKey, changes);
    Object.assign(file, changes);
  }
  const copied = files.filter((f) => f.State === "copied");
  const failed = files.filter((f) => f.State !== "copied").map((f) => ({ file: f.FileKey, error: f.LastError || f.State }));
  const state: RunState = copied.length === 0 ? "failed" : failed.length > 0 ? "partial" : "succeeded";
  const bytes = copied.reduce((sum, f) => sum + f.Bytes, 0);
  const manifest: Manifest = {
    runId,
    method: run.row.Method,
    filter: run.row.Filter || undefined,
    generatedTime: run.row.GeneratedTime,
    snapshotDate: run.row.SnapshotDate,
    state,
    files: copied.map((f) => ({
      name: f.Destination,
      rbacGroupId: f.RbacGroupId,
      bytes: f.Bytes,
      contentMD5: f.ContentMD5,
      ...summary.perFile[f.FileKey],
    })),
    failedFiles: failed,
    bytes,
    records: summary.records,
    devices: summary.devices,
    duplicates: summary.duplicates,
    malformedLines: summary.malformedLines,
    writtenAt: deps.now().toISOString(),
  };
  const text = JSON.stringify(manifest, null, 2);
  await deps.storage.container.getBlockBlobClient(manifestPath(run.row.GeneratedTime)).upload(text, Buffer.byteLength(text), {
    blobHTTPHeaders: { blobContentType: "application/json" },
    metadata: { runid: runId, state },
  });
  await deps.checkpoint("manifest-written");

  const now = deps.now().toISOString();
  try {
    await deps.runs.updateRun(runId, run.etag, {
      State: state,
      FilesCopied: copied.length,
      FilesFailed: files.length - copied.length,
      Bytes: bytes,
      Records: summary.records,
      Devices: summary.devices,
      Duplicates: summary.duplicates,
      MalformedLines: summary.malformedLines,
      Errors: JSON.stringify(failed.slice(0, MAX_ERRORS)),
      Summaries: run.row.Summaries + 1,
      ...(summary.note ? { Notes: summary.note } : {}),
      FinishedAt: now,
      UpdatedAt: now,
    });
  } catch (error) {
    if (!(error instanceof ConcurrencyConflict)) throw error;
    deps.logger.info(line("buildSummary", "skipped", runId, { reason: "another summary finished this run first" }));
    return "already-finished";
  }
  const log = state === "succeeded" ? deps.logger.info : deps.logger.error;
  log.call(deps.logger, line("buildSummary", state, runId, {
    files: copied.length, failed: failed.length, bytes, records: summary.records, devices: summary.devices, elapsedMs: Date.now() - started,
  }));
  return state;
}

function emptySummary(): SnapshotSummary {
  return { records: 0, devices: 0, duplicates: 0, malformedLines: 0, failedFiles: [], perFile: {} };
}
