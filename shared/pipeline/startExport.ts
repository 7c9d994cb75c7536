import { line } from "../log.js";
import { runIdOf, snapshotDateOf, snapshotPrefix } from "../runs/layout.js";
import { ConcurrencyConflict, type RunRow, type RunState, type Stored } from "../runs/runStore.js";
import { DefenderApiError, ensureError } from "../errors.js";
import type { PipelineDeps } from "./deps.js";
import { startJsonRun } from "./jsonRun.js";
import { advanceRun, reconcileRun } from "./fanIn.js";
import { queueFiles } from "./queueFiles.js";

export interface StartResult {
  runId: string;
  /**
   * `started`: a new snapshot; `resumed`: a run left half-way, only missing files queued again;
   * `finished`: this snapshot was summarised already, nothing done; `summarising`: all files are in;
   * `running`: a JSON run started this minute is still paging.
   */
  action: "started" | "resumed" | "finished" | "summarising" | "running";
  state: RunState;
  files: number;
  queued: number;
  rejected: number;
}

/**
 * The orchestrator's first step: asks the Defender API for the current snapshot's files (one call),
 * records the run keyed by the snapshot's generatedTime, and queues one copy per file not yet copied.
 * What came of it, a failure included (which makes no run), is kept as the latest trigger's row.
 */
export async function startExport(deps: PipelineDeps, trigger: string): Promise<StartResult> {
  const at = deps.now().toISOString();
  let result: StartResult;
  try {
    result = await start(deps, trigger);
  } catch (error) {
    await deps.runs.recordTrigger({ Kind: "trigger", At: at, Trigger: trigger, Outcome: "failed", RunId: "", Error: ensureError(error).message }).catch(() => undefined);
    throw error;
  }
  await deps.runs.recordTrigger({ Kind: "trigger", At: at, Trigger: trigger, Outcome: result.action, RunId: result.runId, Error: "" });
  return result;
}

async function start(deps: PipelineDeps, trigger: string): Promise<StartResult> {
  const { method } = deps.config.export;
  if (method === "json") return startJsonRun(deps, trigger);
  const started = Date.now();
  let answer;
  try {
    answer = await deps.defender.infoGatheringExport({ sasValidHours: deps.config.export.sasValidHours });
  } catch (error) {
    if (method !== "auto" || !(error instanceof DefenderApiError) || error.status !== 403) throw error;
    const reason = "EXPORT_METHOD=auto: the files export was refused (403; the app lacks Vulnerability.Read.All), so this run used the JSON method";
    deps.logger.warn(line("startExport", "fallback", "json", { reason }));
    return startJsonRun(deps, trigger, reason);
  }
  const runId = runIdOf(answer.generatedTime);
  const log = (verb: string, fields: Record<string, string | number>) =>
    deps.logger.info(line("startExport", verb, runId, { trigger, ...fields, elapsedMs: Date.now() - started }));

  let run = await deps.runs.getRun(runId);
  await tendOtherRuns(deps, runId);
  if (run?.row.State === "succeeded") {
    log("skipped", { reason: "snapshot already summarised", state: run.row.State });
    return { runId, action: "finished", state: run.row.State, files: run.row.FilesTotal, queued: 0, rejected: 0 };
  }
  if (run?.row.State === "summarising") {
    await reconcileRun(deps, run, "startExport");
    log("skipped", { reason: "summary in progress", state: run.row.State });
    return { runId, action: "summarising", state: run.row.State, files: run.row.FilesTotal, queued: 0, rejected: 0 };
  }

  let action: StartResult["action"] = "resumed";
  if (!run) {
    const created = await deps.runs.createRun(newRun(deps, runId, answer.generatedTime, answer.exportFiles.length));
    run = created.stored;
    if (created.created) action = "started";
  } else if (run.row.State !== "copying") {
    run = await reopen(deps, run, answer.exportFiles.length);
  }
  await deps.checkpoint("run-recorded");

  if (answer.exportFiles.length === 0) {
    await deps.runs.updateRun(runId, run.etag, {
      State: "failed",
      Errors: JSON.stringify([{ file: "(export)", error: "the export listed no files" }]),
      FinishedAt: deps.now().toISOString(),
      UpdatedAt: deps.now().toISOString(),
    });
    deps.logger.error(line("startExport", "failed", runId, { reason: "the export listed no files" }));
    return { runId, action, state: "failed", files: 0, queued: 0, rejected: 0 };
  }

  const outcome = await queueFiles(deps, run, answer.exportFiles);
  const latest = (await deps.runs.getRun(runId)) ?? run;
  // Nothing queued (all copied or rejected): the fan-in will not be triggered by a copy, so check it here.
  if (outcome.queued === 0) await reconcileRun(deps, latest, "startExport");
  log(action, { files: answer.exportFiles.length, queued: outcome.queued, rejected: outcome.rejected });
  const final = (await deps.runs.getRun(runId)) ?? latest;
  return { runId, action, state: final.row.State, files: answer.exportFiles.length, ...outcome };
}

export function newRun(deps: PipelineDeps, runId: string, generatedTime: string, files: number): RunRow {
  const now = deps.now().toISOString();
  return {
    RunId: runId,
    Kind: "run",
    Method: "files",
    GeneratedTime: new Date(generatedTime).toISOString(),
    SnapshotDate: snapshotDateOf(generatedTime),
    Prefix: snapshotPrefix(generatedTime),
    State: "copying",
    FilesTotal: files,
    FilesCopied: 0,
    FilesFailed: 0,
    Bytes: 0,
    Records: 0,
    Devices: 0,
    Duplicates: 0,
    MalformedLines: 0,
    Errors: "[]",
    CreatedAt: now,
    UpdatedAt: now,
    Summaries: 0,
    Passes: 1,
    UrlGeneration: 0,
    RefreshesUsed: 0,
  };
}

/** A run that ended partial or failed is copied again: only its missing files, with fresh URLs. */
async function reopen(deps: PipelineDeps, run: Stored<RunRow>, files: number): Promise<Stored<RunRow>> {
  try {
    return await deps.runs.updateRun(run.row.RunId, run.etag, {
      State: "copying",
      Passes: (run.row.Passes ?? 1) + 1,
      FilesTotal: Math.max(files, run.row.FilesTotal),
      RefreshesUsed: 0,
      Errors: "[]",
      FinishedAt: "",
      Notes: `resumed after ${run.row.State}`,
      UpdatedAt: deps.now().toISOString(),
    });
  } catch (error) {
    if (!(error instanceof ConcurrencyConflict)) throw error;
    const fresh = await deps.runs.getRun(run.row.RunId);
    if (!fresh) throw error;
    return fresh;
  }
}

/**
 * Other snapshots' runs left between states. One still copying when its URLs have long expired will
 * never get them back (the export now serves a newer snapshot): its missing files are failed with the
 * reason, and the run is summarised from what it has, so every file ends copied or accounted for. One
 * left summarising (its summary lost or failed) is asked for its summary again.
 */
export async function tendOtherRuns(deps: PipelineDeps, currentRunId: string): Promise<void> {
  const expiredBefore = deps.now().getTime() - deps.config.export.sasValidHours * 3600_000;
  for (const run of await deps.runs.listRuns()) {
    if (run.RunId === currentRunId) continue;
    if (run.State === "summarising") {
      const stored = await deps.runs.getRun(run.RunId);
      if (stored) await reconcileRun(deps, stored, "startExport");
      continue;
    }
    if (run.State !== "copying" || Date.parse(run.UpdatedAt) > expiredBefore) continue;
    for (const file of await deps.runs.listFiles(run.RunId)) {
      if (file.State !== "pending") continue;
      await deps.runs.updatePendingFile(run.RunId, file.FileKey, {
        State: "failed",
        LastError: `Abandoned: not copied before its URLs expired, and the export now serves snapshot ${currentRunId}`,
        UpdatedAt: deps.now().toISOString(),
      });
    }
    deps.logger.warn(line("startExport", "abandoned", run.RunId, { replacedBy: currentRunId }));
    await advanceRun(deps, run.RunId, "startExport");
  }
}
