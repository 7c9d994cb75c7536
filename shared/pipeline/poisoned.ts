import { line } from "../log.js";
import { ConcurrencyConflict } from "../runs/runStore.js";
import type { PipelineDeps } from "./deps.js";
import { advanceRun } from "./fanIn.js";
import { parseFileMessage, parseSummaryMessage } from "./messages.js";

/**
 * A file message the runtime gave up on (it failed on every delivery and went to the poison queue).
 * A handler that died on its last delivery never marked its file, which would stay `pending` and hold
 * its run in `copying` until the next trigger: it is failed here with its last recorded error, and the
 * fan-in runs, so the run ends `partial` now and the next trigger copies the file again.
 */
export async function fileMessagePoisoned(deps: PipelineDeps, body: unknown, maxDequeueCount: number): Promise<"failed" | "ignored"> {
  const message = parseFileMessage(body);
  const id = `${message.runId}/${message.fileKey}`;
  const [run, file] = await Promise.all([deps.runs.getRun(message.runId), deps.runs.getFile(message.runId, message.fileKey)]);
  if (!run || !file) {
    deps.logger.warn(line("copyExportFilePoisoned", "ignored", id, { reason: "no such run or file" }));
    return "ignored";
  }
  // A later URL generation queued this file again: that message, not this one, decides.
  if (file.row.State !== "pending" || message.generation < run.row.UrlGeneration) {
    deps.logger.info(line("copyExportFilePoisoned", "ignored", id, { state: file.row.State, generation: message.generation }));
    await advanceRun(deps, message.runId, "copyExportFilePoisoned");
    return "ignored";
  }
  const last = file.row.LastError || "none recorded (the handler stopped before it could record one)";
  const failed = await deps.runs.updatePendingFile(message.runId, message.fileKey, {
    State: "failed",
    LastError: `Poisoned: the copy failed on all ${maxDequeueCount} deliveries; last error: ${last}`,
    UpdatedAt: deps.now().toISOString(),
  });
  if (failed) deps.logger.error(line("copyExportFilePoisoned", "failed", id, { deliveries: maxDequeueCount, lastError: last }));
  await advanceRun(deps, message.runId, "copyExportFilePoisoned");
  return failed ? "failed" : "ignored";
}

/**
 * A summary message the runtime gave up on. The run stays `summarising` (its files are in), says why
 * in its notes, and is summarised again as soon as the next trigger or status check looks at it,
 * rather than after the usual wait for a lost summary.
 */
export async function summaryMessagePoisoned(deps: PipelineDeps, body: unknown, maxDequeueCount: number): Promise<"noted" | "ignored"> {
  const { runId } = parseSummaryMessage(body);
  for (;;) {
    const run = await deps.runs.getRun(runId);
    if (!run || run.row.State !== "summarising") {
      deps.logger.info(line("buildSummaryPoisoned", "ignored", runId, { state: run?.row.State ?? "missing" }));
      return "ignored";
    }
    try {
      await deps.runs.updateRun(runId, run.etag, {
        SummaryRequestedAt: "",
        Notes: `the summary failed on all ${maxDequeueCount} deliveries; the next trigger or status check asks for it again`,
        UpdatedAt: deps.now().toISOString(),
      });
    } catch (error) {
      if (error instanceof ConcurrencyConflict) continue;
      throw error;
    }
    deps.logger.error(line("buildSummaryPoisoned", "noted", runId, { deliveries: maxDequeueCount }));
    return "noted";
  }
}
