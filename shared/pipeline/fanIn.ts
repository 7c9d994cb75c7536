import { line } from "../log.js";
import { ConcurrencyConflict, type RunRow, type Stored } from "../runs/runStore.js";
import { encodeMessage } from "../storage.js";
import type { PipelineDeps, SummaryMessage } from "./deps.js";

/** A summary requested this long ago and not finished is requested again (longer than functionTimeout). */
export const SUMMARY_STALE_MS = 35 * 60 * 1000;

/**
 * Fan-in: when every file of the run is copied or failed, moves the run from `copying` to
 * `summarising` with an ETag-guarded update. Only the writer that wins that update queues the summary,
 * so two files finishing together still give one summary message.
 */
export async function advanceRun(deps: PipelineDeps, runId: string, source: string): Promise<boolean> {
  const run = await deps.runs.getRun(runId);
  if (!run || run.row.State !== "copying") return false;
  const files = await deps.runs.listFiles(runId);
  if (files.length < run.row.FilesTotal || files.some((f) => f.State === "pending")) return false;

  const copied = files.filter((f) => f.State === "copied");
  const now = deps.now().toISOString();
  try {
    await deps.runs.updateRun(runId, run.etag, {
      State: "summarising",
      FilesCopied: copied.length,
      FilesFailed: files.length - copied.length,
      Bytes: copied.reduce((sum, f) => sum + f.Bytes, 0),
      SummaryRequestedAt: now,
      UpdatedAt: now,
    });
  } catch (error) {
    if (error instanceof ConcurrencyConflict) return false; // another file's handler won the fan-in
    throw error;
  }
  await deps.checkpoint("run-advanced");
  await sendSummary(deps, runId);
  deps.logger.info(line(source, "advanced", runId, { filesCopied: copied.length, filesFailed: files.length - copied.length }));
  return true;
}

async function sendSummary(deps: PipelineDeps, runId: string): Promise<void> {
  const message: SummaryMessage = { runId };
  await deps.storage.summariesQueue.sendMessage(encodeMessage(message));
}

/**
 * Picks up a run stuck between states (a crash after the fan-in update and before its message, or a
 * summary that died): re-checks the fan-in of a copying run, and asks again for a summary requested
 * long ago. The summary itself is idempotent and finishes a run once.
 */
export async function reconcileRun(deps: PipelineDeps, run: Stored<RunRow>, source: string): Promise<void> {
  if (run.row.State === "copying") {
    await advanceRun(deps, run.row.RunId, source);
    return;
  }
  if (run.row.State !== "summarising") return;
  const requested = Date.parse(run.row.SummaryRequestedAt ?? "");
  if (Number.isFinite(requested) && deps.now().getTime() - requested < SUMMARY_STALE_MS) return;
  try {
    await deps.runs.updateRun(run.row.RunId, run.etag, { SummaryRequestedAt: deps.now().toISOString() });
  } catch (error) {
    if (error instanceof ConcurrencyConflict) return;
    throw error;
  }
  await sendSummary(deps, run.row.RunId);
  deps.logger.warn(line(source, "resummarise", run.row.RunId, { requestedAt: run.row.SummaryRequestedAt }));
}
