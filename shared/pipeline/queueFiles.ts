import { blobPathOf, validateExportUrl } from "../defender/exportUrl.js";
import { ensureError } from "../errors.js";
import { line } from "../log.js";
import { safeUrl } from "../redact.js";
import { destinationOf, fileKeyOf, rbacGroupIdOf } from "../runs/layout.js";
import { ConcurrencyConflict, type FileRow, type RunRow, type Stored } from "../runs/runStore.js";
import { encodeMessage } from "../storage.js";
import type { FileMessage, PipelineDeps } from "./deps.js";

export interface QueueOutcome {
  /** Files queued for a copy now. */
  queued: number;
  /** Files already copied (nothing to do). */
  copied: number;
  /** Files rejected before any copy (URL not allowed). */
  rejected: number;
  /** File keys of every file this listing names. */
  listed: Set<string>;
}

/**
 * Makes sure every listed export file has a row in the run, then queues a copy for each one not yet
 * copied under the next URL generation, and only then records that generation on the run (with
 * `runChanges`): from that moment, messages holding older, possibly expired, URLs are stale. URLs
 * that fail validation are recorded as failed files and never copied.
 */
export async function queueFiles(deps: PipelineDeps, run: Stored<RunRow>, urls: readonly string[], runChanges: Partial<RunRow> = {}): Promise<QueueOutcome> {
  const { runs, config, logger } = deps;
  const runId = run.row.RunId;
  const listed: { sourcePath: string; url: string }[] = [];
  const keys = new Set<string>();
  let rejected = 0;

  for (const url of urls) {
    try {
      const valid = validateExportUrl(url, { allowLoopback: config.defender.allowLoopback });
      listed.push({ sourcePath: blobPathOf(valid), url });
    } catch (error) {
      rejected++;
      const message = ensureError(error).message;
      const sourcePath = safeSourcePath(url);
      const fileKey = fileKeyOf(sourcePath);
      keys.add(fileKey);
      await runs.addFile(newFileRow(runId, run.row.GeneratedTime, sourcePath, safeUrl(url), deps.now()));
      await runs.updateFile(runId, fileKey, { State: "failed", LastError: `UrlRejected: URL rejected before any copy: ${message}`, UpdatedAt: deps.now().toISOString() });
      logger.error(line("startExport", "rejected", `${runId}/${fileKey}`, { reason: message }));
    }
  }

  // Rows first, messages after: fan-in counts rows, so it can never see a run with files still missing.
  const rows: FileRow[] = [];
  for (const item of listed) {
    const row = await runs.addFile(newFileRow(runId, run.row.GeneratedTime, item.sourcePath, safeUrl(item.url), deps.now()));
    rows.push(row);
    keys.add(row.FileKey);
  }
  const todo = listed.map((item, i) => ({ ...item, row: rows[i]! })).filter((item) => item.row.State !== "copied");

  const generation = run.row.UrlGeneration + 1;
  for (const { row, url } of todo) {
    if (row.State === "failed") {
      await runs.updateFile(runId, row.FileKey, { State: "pending", LastError: "", Attempts: 0, UpdatedAt: deps.now().toISOString() });
    }
    const message: FileMessage = { runId, fileKey: row.FileKey, url, generation };
    await deps.storage.filesQueue.sendMessage(encodeMessage(message), { messageTimeToLive: config.export.sasValidHours * 3600 });
    await deps.checkpoint("file-queued");
  }

  let current = run;
  for (;;) {
    try {
      await runs.updateRun(runId, current.etag, {
        ...runChanges,
        UrlGeneration: Math.max(generation, current.row.UrlGeneration),
        UpdatedAt: deps.now().toISOString(),
      });
      break;
    } catch (error) {
      if (!(error instanceof ConcurrencyConflict)) throw error;
      current = (await runs.getRun(runId)) ?? current;
    }
  }
  if (todo.length > 0) logger.info(line("startExport", "queued", runId, { files: todo.length, generation }));
  return { queued: todo.length, copied: rows.length - todo.length, rejected, listed: keys };
}

function newFileRow(runId: string, generatedTime: string, sourcePath: string, source: string, now: Date): FileRow {
  return {
    RunId: runId,
    Kind: "file",
    FileKey: fileKeyOf(sourcePath),
    Source: source,
    SourcePath: sourcePath,
    Destination: destinationOf(generatedTime, sourcePath),
    RbacGroupId: rbacGroupIdOf(sourcePath),
    State: "pending",
    Bytes: 0,
    ContentMD5: "",
    Attempts: 0,
    LastError: "",
    UpdatedAt: now.toISOString(),
  };
}

/** A rejected URL still gets a row, under a path that is safe to store (no query, no user info). */
function safeSourcePath(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname) || "/unnamed";
  } catch {
    return `/invalid-url-${url.length}`;
  }
}
