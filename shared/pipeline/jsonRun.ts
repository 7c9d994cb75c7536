import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { SETTINGS } from "../config.js";
import { ensureError } from "../errors.js";
import { line } from "../log.js";
import { runIdOf, snapshotPrefix } from "../runs/layout.js";
import { ConcurrencyConflict, type FileRow, type RunRow } from "../runs/runStore.js";
import type { PipelineDeps } from "./deps.js";
import { advanceRun } from "./fanIn.js";
import { newRun, tendOtherRuns, type StartResult } from "./startExport.js";

/**
 * A run still `paging` with no page written for this long has lost its host (a page's call takes at
 * most the retry budget, 5 minutes by default): the next trigger closes it and starts again.
 */
export const PAGING_STALE_MS = 15 * 60 * 1000;

/**
 * The JSON method, for smaller tenants or ones that granted only Machine.Read.All: pages of
 * `deviceavinfo` are written as they arrive, as gzip NDJSON part files into the same snapshot layout
 * (`raw/date=…/generated=…/json/part-NNNNN.json.gz`), then summarised like an export's files.
 *
 * This method has no generatedTime, so the run's generation time is the minute it started. An
 * interrupted run is not resumed but restarted cleanly by the next trigger: pages are `$skip`
 * positions over live data, so pages fetched at different times would not form one snapshot (a
 * device could be skipped or counted twice), and a tenant this method suits takes a few calls.
 */
export async function startJsonRun(deps: PipelineDeps, trigger: string, fallbackReason?: string): Promise<StartResult> {
  const started = Date.now();
  const generatedTime = new Date(Math.floor(deps.now().getTime() / 60_000) * 60_000).toISOString();
  const runId = runIdOf(generatedTime);
  const { filter, pageSize } = { filter: deps.config.export.jsonFilter, pageSize: deps.config.export.jsonPageSize };

  const existing = await deps.runs.getRun(runId);
  if (existing) {
    deps.logger.info(line("startExport", "skipped", runId, { reason: "a JSON run started this minute already", state: existing.row.State }));
    return { runId, action: existing.row.State === "paging" ? "running" : "finished", state: existing.row.State, files: existing.row.FilesTotal, queued: 0, rejected: 0 };
  }
  const live = await closeInterruptedRuns(deps, runId);
  if (live) {
    deps.logger.info(line("startExport", "skipped", live.RunId, { reason: "a JSON run is paging now", updatedAt: live.UpdatedAt }));
    return { runId: live.RunId, action: "running", state: live.State, files: live.FilesTotal, queued: 0, rejected: 0 };
  }
  await tendOtherRuns(deps, runId);
  const { stored, created } = await deps.runs.createRun({
    ...newRun(deps, runId, generatedTime, 0),
    Method: "json",
    State: "paging",
    Filter: filter ?? "",
    Notes: fallbackReason,
  });
  if (!created) {
    // Another trigger of the same minute created the run first: it pages, this one does not.
    deps.logger.info(line("startExport", "skipped", runId, { reason: "another trigger started this JSON run a moment ago", state: stored.row.State }));
    return { runId, action: "running", state: stored.row.State, files: stored.row.FilesTotal, queued: 0, rejected: 0 };
  }
  let run = stored;

  const prefix = snapshotPrefix(generatedTime);
  let pages = 0;
  let records = 0;
  try {
    for await (const page of deps.defender.deviceAvInfoPages({ pageSize, filter })) {
      const name = `part-${String(page.page - 1).padStart(5, "0")}.json.gz`;
      const text = page.records.map((record) => JSON.stringify(record)).join("\n");
      const body = gzipSync(text.length > 0 ? `${text}\n` : "");
      const contentMD5 = createHash("md5").update(body).digest();
      const destination = `${prefix}/json/${name}`;
      await deps.storage.container.getBlockBlobClient(destination).uploadData(body, {
        blobHTTPHeaders: { blobContentType: "application/gzip", blobContentMD5: contentMD5 },
        metadata: { runid: runId, page: String(page.page) },
      });
      await deps.checkpoint("page-written");
      const row: FileRow = {
        RunId: runId,
        Kind: "file",
        FileKey: `json_${name}`,
        Source: "GET /api/deviceavinfo",
        SourcePath: `/api/deviceavinfo#page=${page.page}`,
        Destination: destination,
        RbacGroupId: "json",
        State: "copied",
        Bytes: body.length,
        ContentMD5: contentMD5.toString("base64"),
        Attempts: 1,
        LastError: "",
        UpdatedAt: deps.now().toISOString(),
        CopiedAt: deps.now().toISOString(),
      };
      await deps.runs.addFile(row);
      pages = page.page;
      records += page.records.length;
      run = await deps.runs.updateRun(runId, run.etag, { FilesTotal: pages, UpdatedAt: deps.now().toISOString() });
      deps.logger.info(line("startExport", "page", runId, { page: page.page, records: page.records.length, bytes: body.length, elapsedMs: Date.now() - started }));
    }
  } catch (error) {
    const message = ensureError(error).message;
    // Against this run's own version: only the paging this trigger did is failed.
    await deps.runs.updateRun(runId, run.etag, {
      State: "failed",
      Errors: JSON.stringify([{ file: "(deviceavinfo)", error: `paging stopped after ${pages} pages: ${message}; the next trigger starts a new run` }]),
      FinishedAt: deps.now().toISOString(),
      UpdatedAt: deps.now().toISOString(),
    }).catch((conflict: unknown) => {
      if (!(conflict instanceof ConcurrencyConflict)) throw conflict;
    });
    throw error;
  }
  if (records === 0) {
    // Nothing to summarise: an empty answer must not replace the day's rows with zeros.
    const reason = `deviceavinfo returned no devices${filter ? ` for $filter "${filter}" (${SETTINGS.exportJsonFilter})` : ""}; the day's rows are left as they are`;
    await deps.runs.updateRun(runId, run.etag, {
      State: "failed",
      Errors: JSON.stringify([{ file: "(deviceavinfo)", error: reason }]),
      FinishedAt: deps.now().toISOString(),
      UpdatedAt: deps.now().toISOString(),
    });
    deps.logger.error(line("startExport", "failed", runId, { reason }));
    return { runId, action: "started", state: "failed", files: pages, queued: 0, rejected: 0 };
  }

  await deps.runs.updateRun(runId, run.etag, { State: "copying", FilesTotal: pages, UpdatedAt: deps.now().toISOString() });
  await advanceRun(deps, runId, "startExport");
  deps.logger.info(line("startExport", "started", runId, { trigger, method: "json", pages, elapsedMs: Date.now() - started }));
  const final = await deps.runs.getRun(runId);
  return { runId, action: "started", state: final?.row.State ?? "summarising", files: pages, queued: 0, rejected: 0 };
}

/**
 * A JSON run still paging whose host died mid-way (no page for PAGING_STALE_MS) is closed as failed:
 * this run starts over cleanly. A run paging now is returned instead: it is not interrupted.
 */
async function closeInterruptedRuns(deps: PipelineDeps, runId: string): Promise<RunRow | undefined> {
  for (const run of await deps.runs.listRuns()) {
    if (run.State !== "paging" || run.RunId === runId) continue;
    if (deps.now().getTime() - Date.parse(run.UpdatedAt) < PAGING_STALE_MS) return run;
    await deps.runs.updateRun(run.RunId, "*", {
      State: "failed",
      Errors: JSON.stringify([{ file: "(deviceavinfo)", error: `interrupted after ${run.FilesTotal} pages; restarted cleanly as run ${runId}` }]),
      FinishedAt: deps.now().toISOString(),
      UpdatedAt: deps.now().toISOString(),
    });
    deps.logger.warn(line("startExport", "interrupted", run.RunId, { pages: run.FilesTotal, restartedAs: runId }));
  }
  return undefined;
}
