import type { FileRow, RunRow } from "../runs/runStore.js";
import type { PipelineDeps } from "./deps.js";
import { reconcileRun } from "./fanIn.js";

export interface RunView {
  runId: string;
  method: string;
  filter: string | null;
  state: string;
  generatedTime: string;
  snapshotDate: string;
  prefix: string;
  files: { total: number; copied: number; failed: number; pending: number };
  bytes: number;
  records: number;
  devices: number;
  duplicates: number;
  malformedLines: number;
  errors: { file: string; error: string }[];
  createdAt: string;
  finishedAt: string | null;
  summaries: number;
  passes: number;
  notes: string | null;
}

function view(run: RunRow, files?: FileRow[]): RunView {
  const count = (state: string) => files?.filter((f) => f.State === state).length;
  return {
    runId: run.RunId,
    method: run.Method,
    filter: run.Filter || null,
    state: run.State,
    generatedTime: run.GeneratedTime,
    snapshotDate: run.SnapshotDate,
    prefix: run.Prefix,
    files: {
      total: run.FilesTotal,
      copied: count("copied") ?? run.FilesCopied,
      failed: count("failed") ?? run.FilesFailed,
      pending: count("pending") ?? Math.max(0, run.FilesTotal - run.FilesCopied - run.FilesFailed),
    },
    bytes: run.Bytes,
    records: run.Records,
    devices: run.Devices,
    duplicates: run.Duplicates,
    malformedLines: run.MalformedLines,
    errors: parseErrors(run.Errors),
    createdAt: run.CreatedAt,
    finishedAt: run.FinishedAt || null,
    summaries: run.Summaries,
    passes: run.Passes ?? 1,
    notes: run.Notes ?? null,
  };
}

function parseErrors(text: string): { file: string; error: string }[] {
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? (value as { file: string; error: string }[]) : [];
  } catch {
    return [];
  }
}

/** The latest trigger (timer or POST), as GET /api/runs shows it beside the runs. */
export interface TriggerView {
  at: string;
  trigger: string;
  outcome: string;
  runId: string | null;
  error: string | null;
}

/** The latest runs, newest first, and what the latest trigger did (a failed one makes no run). */
export async function listRunViews(deps: PipelineDeps, limit = 50): Promise<{ runs: RunView[]; lastTrigger: TriggerView | null }> {
  const [runs, last] = await Promise.all([deps.runs.listRuns(), deps.runs.lastTrigger()]);
  return {
    runs: runs.slice(0, limit).map((run) => view(run)),
    lastTrigger: last ? { at: last.At, trigger: last.Trigger, outcome: last.Outcome, runId: last.RunId || null, error: last.Error || null } : null,
  };
}

/**
 * One run with its files. Looking at a run also picks it up if it is stuck between states, so a
 * status check is enough to move a run whose summary message was lost.
 */
export async function getRunView(deps: PipelineDeps, runId: string): Promise<(RunView & { fileList: Pick<FileRow, "FileKey" | "State" | "Bytes" | "Attempts" | "LastError" | "Destination">[] }) | undefined> {
  const stored = await deps.runs.getRun(runId);
  if (!stored) return undefined;
  await reconcileRun(deps, stored, "runStatus");
  const run = (await deps.runs.getRun(runId)) ?? stored;
  const files = await deps.runs.listFiles(runId);
  return {
    ...view(run.row, files),
    fileList: files.map(({ FileKey, State, Bytes, Attempts, LastError, Destination }) => ({ FileKey, State, Bytes, Attempts, LastError, Destination })),
  };
}
