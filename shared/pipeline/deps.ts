import type { Config } from "../config.js";
import type { Logger } from "../log.js";
import type { RunStore } from "../runs/runStore.js";
import type { StorageClients } from "../storage.js";

/** What the pipeline needs of the Defender API: the files export, and the JSON method's pages. */
export interface ExportApi {
  infoGatheringExport(options: { sasValidHours: number }): Promise<{ generatedTime: string; exportFiles: string[] }>;
  deviceAvInfoPages(options: { pageSize?: number; filter?: string }): AsyncIterable<{ records: unknown[]; page: number }>;
}

/** Everything a pipeline step works with, passed in so the same code runs in Azure, locally and in tests. */
export interface PipelineDeps {
  config: Config;
  storage: StorageClients;
  runs: RunStore;
  defender: ExportApi;
  logger: Logger;
  now: () => Date;
  /**
   * Called between two storage writes with the step's name. It does nothing in production; tests
   * and the chaos run make it throw to crash a handler exactly there.
   */
  checkpoint: (step: string) => void | Promise<void>;
}

/** A queue message for one export file. The URL carries its SAS: it lives only in the host's private queue. */
export interface FileMessage {
  runId: string;
  fileKey: string;
  url: string;
  /** The run's URL generation when this message was queued; older messages are stale after a refresh. */
  generation: number;
}

export interface SummaryMessage {
  runId: string;
}

/** Queue settings the pipeline must know (from host.json): the last delivery is the one that fails the file. */
export interface Delivery {
  dequeueCount: number;
  maxDequeueCount: number;
}
