import { copyExportBlob } from "../copy/copyBlob.js";
import { validateExportUrl } from "../defender/exportUrl.js";
import { ExportFileError, ensureError } from "../errors.js";
import { line } from "../log.js";
import { runIdOf } from "../runs/layout.js";
import { ConcurrencyConflict, type FileRow, type RunRow, type Stored } from "../runs/runStore.js";
import type { Delivery, FileMessage, PipelineDeps } from "./deps.js";
import { advanceRun } from "./fanIn.js";
import { parseFileMessage } from "./messages.js";
import { queueFiles } from "./queueFiles.js";

export type CopyOutcome = "copied" | "present" | "already-copied" | "already-failed" | "stale" | "refreshed" | "failed";

/**
 * The activity: copies one export file server-side into the customer's container, marks it copied,
 * and runs the fan-in. Safe to run twice for the same message, and after a crash at any line.
 * Retriable failures are rethrown for the queue to retry (the last delivery marks the file failed
 * first, so the run can end `partial`); permanent ones are recorded on the file at once.
 */
export async function copyFile(deps: PipelineDeps, body: unknown, delivery: Delivery): Promise<CopyOutcome> {
  const message = parseFileMessage(body);
  const { runs, logger } = deps;
  const id = `${message.runId}/${message.fileKey}`;
  const started = Date.now();

  const [run, stored] = await Promise.all([runs.getRun(message.runId), runs.getFile(message.runId, message.fileKey)]);
  if (!run || !stored) throw new Error(`export-file message names a run or file that does not exist: ${id}`);
  const file = stored.row;
  if (file.State !== "pending") {
    logger.info(line("copyExportFile", "skipped", id, { state: file.State }));
    await advanceRun(deps, message.runId, "copyExportFile");
    return file.State === "copied" ? "already-copied" : "already-failed";
  }
  if (message.generation < run.row.UrlGeneration) {
    logger.info(line("copyExportFile", "stale", id, { generation: message.generation, current: run.row.UrlGeneration }));
    return "stale";
  }

  // Every later change to the row is made against this version: a duplicate delivery running at the
  // same moment, or a refresh that failed the file meanwhile, is not overwritten.
  const etag = await runs.updateFile(message.runId, message.fileKey, { Attempts: file.Attempts + 1, UpdatedAt: deps.now().toISOString() }, stored.etag);
  try {
    validateExportUrl(message.url, { allowLoopback: deps.config.defender.allowLoopback });
  } catch (error) {
    const rejected = new ExportFileError(`URL rejected before any copy: ${ensureError(error).message}`, message.fileKey, "UrlRejected", false, { cause: error });
    return fail(deps, message, rejected, started, etag);
  }

  try {
    const result = await copyExportBlob(message.url, deps.storage.container.getBlockBlobClient(file.Destination), message.fileKey, {
      ...deps.config.copy,
      metadata: { runid: message.runId, rbacgroupid: file.RbacGroupId, source: file.SourcePath.slice(0, 1024) },
    });
    await deps.checkpoint("copied");
    const marked = await settle(deps, message, etag, {
      State: "copied",
      Bytes: result.bytes,
      ContentMD5: result.contentMD5,
      LastError: "",
      CopiedAt: deps.now().toISOString(),
      UpdatedAt: deps.now().toISOString(),
    });
    if (!marked) return "already-failed";
    await deps.checkpoint("marked");
    logger.info(line("copyExportFile", result.outcome, id, { bytes: result.bytes, method: result.method, attempt: delivery.dequeueCount, elapsedMs: Date.now() - started }));
    await advanceRun(deps, message.runId, "copyExportFile");
    return result.outcome;
  } catch (error) {
    const failure = error instanceof ExportFileError ? error : new ExportFileError(ensureError(error).message, message.fileKey, "CopyFailed", true, { cause: error });
    if (failure.code === "SourceExpired") return refreshUrls(deps, message, file, started);
    if (failure.retriable && delivery.dequeueCount < delivery.maxDequeueCount) {
      await runs.updateFile(message.runId, message.fileKey, { LastError: failure.message, UpdatedAt: deps.now().toISOString() }, etag).catch((e: unknown) => {
        if (!(e instanceof ConcurrencyConflict)) throw e;
      });
      logger.warn(line("copyExportFile", "retrying", id, { attempt: delivery.dequeueCount, code: failure.code, error: failure.message }));
      throw failure;
    }
    await fail(deps, message, failure, started, etag);
    // NOTE: a retriable failure on the last delivery is rethrown so the message lands in the poison queue.
    if (failure.retriable) throw failure;
    return "failed";
  }
}

/**
 * Settles this handler's file (copied or failed) if the row is still at `etag`. When another handler
 * settled it first (a refresh failed it, a duplicate delivery finished it), its verdict stands: the
 * run moves on with it, and a copy left in the container is found present by the next trigger.
 */
async function settle(deps: PipelineDeps, message: FileMessage, etag: string, changes: Partial<FileRow>): Promise<boolean> {
  try {
    await deps.runs.updateFile(message.runId, message.fileKey, changes, etag);
    return true;
  } catch (error) {
    if (!(error instanceof ConcurrencyConflict)) throw error;
  }
  const now = await deps.runs.getFile(message.runId, message.fileKey);
  deps.logger.warn(line("copyExportFile", "superseded", `${message.runId}/${message.fileKey}`, { wanted: changes.State, state: now?.row.State }));
  await advanceRun(deps, message.runId, "copyExportFile");
  return false;
}

/** Fails every pending file of the run that is not in `keep` (the snapshot is gone, or the file is). */
async function failPending(deps: PipelineDeps, message: FileMessage, error: ExportFileError, keep: ReadonlySet<string>, started: number): Promise<"failed"> {
  for (const row of await deps.runs.listFiles(message.runId)) {
    if (row.State !== "pending" || keep.has(row.FileKey)) continue;
    const failed = await deps.runs.updatePendingFile(message.runId, row.FileKey, { State: "failed", LastError: `${error.code}: ${error.message}`, UpdatedAt: deps.now().toISOString() });
    if (failed) deps.logger.error(line("copyExportFile", "failed", `${message.runId}/${row.FileKey}`, { code: error.code, error: error.message, elapsedMs: Date.now() - started }));
  }
  await advanceRun(deps, message.runId, "copyExportFile");
  return "failed";
}

async function fail(deps: PipelineDeps, message: FileMessage, error: ExportFileError, started: number, etag: string): Promise<"failed"> {
  if (!(await settle(deps, message, etag, { State: "failed", LastError: `${error.code}: ${error.message}`, UpdatedAt: deps.now().toISOString() }))) return "failed";
  deps.logger.error(line("copyExportFile", "failed", `${message.runId}/${message.fileKey}`, { code: error.code, error: error.message, elapsedMs: Date.now() - started }));
  await advanceRun(deps, message.runId, "copyExportFile");
  return "failed";
}

/** A refresh claim older than this was abandoned (its handler died): another handler may take over. */
export const REFRESH_CLAIM_MS = 10 * 60 * 1000;

/**
 * The source answered 403: its SAS has expired. One handler per run claims the refresh (ETag-guarded,
 * within the run's budget), calls the export again, matches the new URLs to files by blob path and
 * queues every file not yet copied under a new generation. Other handlers meanwhile drop their
 * messages: the claimer queues their files again. The claimer's own retry may take its claim back.
 */
async function refreshUrls(deps: PipelineDeps, message: FileMessage, file: FileRow, started: number): Promise<CopyOutcome> {
  const { runs, config, logger } = deps;
  const id = `${message.runId}/${message.fileKey}`;
  let claimed: Stored<RunRow> | undefined;
  while (!claimed) {
    const run = await runs.getRun(message.runId);
    if (!run) throw new Error(`run ${message.runId} disappeared`);
    if (message.generation < run.row.UrlGeneration) return "stale";
    const claimAge = deps.now().getTime() - Date.parse(run.row.RefreshClaimedAt || "");
    if (claimAge < REFRESH_CLAIM_MS && run.row.RefreshClaimedBy !== message.fileKey) {
      logger.info(line("copyExportFile", "stale", id, { reason: "another handler is refreshing the URLs" }));
      return "stale";
    }
    if (run.row.RefreshesUsed >= config.export.urlRefreshBudget) {
      const spent = new ExportFileError(
        `the source's SAS expired and this run's URL refresh budget (${config.export.urlRefreshBudget}) is spent; the next trigger resumes the run`,
        file.FileKey, "RefreshBudgetSpent", false,
      );
      return failPending(deps, message, spent, new Set(), started);
    }
    try {
      claimed = await runs.updateRun(message.runId, run.etag, {
        RefreshesUsed: run.row.RefreshesUsed + 1,
        RefreshClaimedAt: deps.now().toISOString(),
        RefreshClaimedBy: message.fileKey,
        UpdatedAt: deps.now().toISOString(),
      });
    } catch (error) {
      if (!(error instanceof ConcurrencyConflict)) throw error; // changed meanwhile: look again
    }
  }
  await deps.checkpoint("refresh-claimed");
  const answer = await deps.defender.infoGatheringExport({ sasValidHours: config.export.sasValidHours });
  if (runIdOf(answer.generatedTime) !== message.runId) {
    const replaced = new ExportFileError(
      `the export was regenerated (now ${answer.generatedTime}) before this snapshot was copied; its files are gone`,
      file.FileKey, "SnapshotReplaced", false,
    );
    await runs.updateRun(message.runId, "*", { RefreshClaimedAt: "", RefreshClaimedBy: "" });
    return failPending(deps, message, replaced, new Set(), started);
  }
  const outcome = await queueFiles(deps, claimed, answer.exportFiles, { RefreshClaimedAt: "", RefreshClaimedBy: "" });
  const gone = new ExportFileError("the refreshed export no longer lists this file", file.FileKey, "SourceMissing", false);
  await failPending(deps, message, gone, outcome.listed, started);
  logger.warn(line("copyExportFile", "refreshed", id, { queued: outcome.queued, refreshesUsed: claimed.row.RefreshesUsed, elapsedMs: Date.now() - started }));
  return "refreshed";
}
