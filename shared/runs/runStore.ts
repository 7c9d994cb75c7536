import type { TableClient, TableEntityResult } from "@azure/data-tables";
import { statusOf } from "../errors.js";
import { redact } from "../redact.js";

/**
 * Run state in the ExportRuns table: one row per run (PartitionKey `run`, RowKey the run id) and one
 * per file (PartitionKey the run id, RowKey the file key). Rows carry `Kind` so that Power BI can
 * read the table as a pipeline-health source. Nothing here ever holds a SAS query string.
 */
export const RUN_PARTITION = "run";
/** One row (RowKey `last`): what the latest trigger did, failures included (they make no run). */
export const TRIGGER_PARTITION = "trigger";

/** `paging` only for the JSON method, while its pages are fetched and written. */
export type RunState = "paging" | "copying" | "summarising" | "succeeded" | "partial" | "failed";
export type FileState = "pending" | "copied" | "failed";
export const FINAL_RUN_STATES: readonly RunState[] = ["succeeded", "partial", "failed"];

export interface RunRow {
  RunId: string;
  Kind: "run";
  Method: string;
  GeneratedTime: string;
  SnapshotDate: string;
  Prefix: string;
  State: RunState;
  FilesTotal: number;
  FilesCopied: number;
  FilesFailed: number;
  Bytes: number;
  Records: number;
  Devices: number;
  Duplicates: number;
  MalformedLines: number;
  /** JSON array of {file, error}: why the run is not `succeeded`. */
  Errors: string;
  CreatedAt: string;
  UpdatedAt: string;
  FinishedAt?: string;
  SummaryRequestedAt?: string;
  /** How many summaries finished this run: one per pass, so `Passes` for a finished run, `Passes - 1` otherwise. */
  Summaries: number;
  /** Times the run was opened for copying: 1, plus one each time a trigger resumed it after it ended. */
  Passes: number;
  /** The generation of the latest complete set of file messages; messages of an older one are stale. */
  UrlGeneration: number;
  RefreshesUsed: number;
  /** Set while one handler refreshes expired URLs: when, and which file's handler (it may take over on retry). */
  RefreshClaimedAt?: string;
  RefreshClaimedBy?: string;
  /** The JSON method's $filter, when one was set. */
  Filter?: string;
  Notes?: string;
}

export interface FileRow {
  RunId: string;
  Kind: "file";
  FileKey: string;
  /** Source host and path, without the query string. */
  Source: string;
  /** Source blob path (matches refreshed URLs to files). */
  SourcePath: string;
  Destination: string;
  RbacGroupId: string;
  State: FileState;
  Bytes: number;
  ContentMD5: string;
  Attempts: number;
  LastError: string;
  UpdatedAt: string;
  CopiedAt?: string;
}

/** The latest trigger of the pipeline (timer or POST /api/runs) and what came of it. */
export interface TriggerRow {
  Kind: "trigger";
  At: string;
  /** `timer` or `http`. */
  Trigger: string;
  /** What startExport did (`started`, `resumed`, …), or `failed`. */
  Outcome: string;
  RunId: string;
  /** Why it failed (redacted); "" otherwise. */
  Error: string;
}

export interface Stored<T> {
  row: T;
  etag: string;
}

type Entity<T> = T & { partitionKey: string; rowKey: string };

const INT64_FIELDS = new Set(["Bytes", "Records", "Devices", "Duplicates", "MalformedLines"]);

function toEntity<T extends object>(partitionKey: string, rowKey: string, row: T): Entity<Record<string, unknown>> {
  const entity: Entity<Record<string, unknown>> = { partitionKey, rowKey };
  for (const [key, value] of Object.entries(row)) {
    if (value === undefined) continue;
    // NOTE: Int64 so that byte and record counts above 2^31 keep their type for Power BI.
    entity[key] = INT64_FIELDS.has(key) ? { value: String(value), type: "Int64" } : value;
  }
  return entity;
}

function fromEntity<T>(entity: TableEntityResult<Record<string, unknown>>): Stored<T> {
  const row: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(entity)) {
    if (key === "partitionKey" || key === "rowKey" || key === "etag" || key === "timestamp" || key.startsWith("odata")) continue;
    row[key] = INT64_FIELDS.has(key) ? Number(value) : value;
  }
  return { row: row as T, etag: entity.etag };
}

/** Another writer changed the row first (ETag mismatch) or created it first. */
export class ConcurrencyConflict extends Error {
  override name = "ConcurrencyConflict";
}

export class RunStore {
  constructor(private readonly table: TableClient) {}

  async getRun(runId: string): Promise<Stored<RunRow> | undefined> {
    try {
      return fromEntity<RunRow>(await this.table.getEntity(RUN_PARTITION, runId, { disableTypeConversion: false }));
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** Inserts a new run; if one exists already (another trigger won), returns that one instead. */
  async createRun(row: RunRow): Promise<{ stored: Stored<RunRow>; created: boolean }> {
    try {
      await this.table.createEntity(toEntity(RUN_PARTITION, row.RunId, row));
    } catch (error) {
      if (statusOf(error) !== 409) throw error;
      const existing = await this.getRun(row.RunId);
      if (!existing) throw error;
      return { stored: existing, created: false };
    }
    const stored = await this.getRun(row.RunId);
    if (!stored) throw new Error(`run ${row.RunId} vanished right after it was created`);
    return { stored, created: true };
  }

  /** Merges changes into a run if it is still at `etag`; throws ConcurrencyConflict otherwise. */
  async updateRun(runId: string, etag: string, changes: Partial<RunRow>): Promise<Stored<RunRow>> {
    try {
      await this.table.updateEntity(toEntity(RUN_PARTITION, runId, changes), "Merge", { etag });
    } catch (error) {
      if (statusOf(error) === 412) throw new ConcurrencyConflict(`run ${runId} changed meanwhile`);
      throw error;
    }
    const stored = await this.getRun(runId);
    if (!stored) throw new Error(`run ${runId} vanished during an update`);
    return stored;
  }

  async listRuns(): Promise<RunRow[]> {
    const runs: RunRow[] = [];
    const filter = `PartitionKey eq '${RUN_PARTITION}'`;
    for await (const entity of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) {
      runs.push(fromEntity<RunRow>(entity).row);
    }
    return runs.sort((a, b) => b.RunId.localeCompare(a.RunId));
  }

  /** Records the latest trigger's outcome, replacing the previous one. */
  async recordTrigger(row: TriggerRow): Promise<void> {
    await this.table.upsertEntity(toEntity(TRIGGER_PARTITION, "last", { ...row, Error: redact(row.Error).slice(0, 2000) }), "Replace");
  }

  async lastTrigger(): Promise<TriggerRow | undefined> {
    try {
      return fromEntity<TriggerRow>(await this.table.getEntity(TRIGGER_PARTITION, "last")).row;
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  async getFile(runId: string, fileKey: string): Promise<Stored<FileRow> | undefined> {
    try {
      return fromEntity<FileRow>(await this.table.getEntity(runId, fileKey));
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  async listFiles(runId: string): Promise<FileRow[]> {
    const files: FileRow[] = [];
    const filter = `PartitionKey eq '${runId.replace(/'/g, "''")}'`;
    for await (const entity of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) {
      files.push(fromEntity<FileRow>(entity).row);
    }
    return files.sort((a, b) => a.FileKey.localeCompare(b.FileKey));
  }

  /** Inserts a file row unless one exists; returns the stored row either way. */
  async addFile(row: FileRow): Promise<FileRow> {
    try {
      await this.table.createEntity(toEntity(row.RunId, row.FileKey, row));
      return row;
    } catch (error) {
      if (statusOf(error) !== 409) throw error;
      const existing = await this.getFile(row.RunId, row.FileKey);
      if (!existing) throw error;
      return existing.row;
    }
  }

  /**
   * Merges changes into a file row, and returns its new ETag. With `etag`, only if the row is still at
   * that version: ConcurrencyConflict otherwise (another handler moved the file on meanwhile).
   */
  async updateFile(runId: string, fileKey: string, changes: Partial<FileRow>, etag = "*"): Promise<string> {
    if (changes.LastError !== undefined) changes = { ...changes, LastError: redact(changes.LastError).slice(0, 2000) };
    try {
      return (await this.table.updateEntity(toEntity(runId, fileKey, changes), "Merge", { etag })).etag ?? "";
    } catch (error) {
      if (statusOf(error) === 412) throw new ConcurrencyConflict(`file ${runId}/${fileKey} changed meanwhile`);
      throw error;
    }
  }

  /** Merges changes into a file row only while it is `pending`; false when it has been settled meanwhile. */
  async updatePendingFile(runId: string, fileKey: string, changes: Partial<FileRow>): Promise<boolean> {
    for (;;) {
      const file = await this.getFile(runId, fileKey);
      if (file?.row.State !== "pending") return false;
      try {
        await this.updateFile(runId, fileKey, changes, file.etag);
        return true;
      } catch (error) {
        if (!(error instanceof ConcurrencyConflict)) throw error;
      }
    }
  }
}
