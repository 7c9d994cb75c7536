import type { DeviceHealthRecord } from "../../shared/health/record.js";

/** One export file as the simulated tenant serves it. */
export interface SimulatedExportFile {
  /**
   * Blob path inside the export container, shaped like the real export's, e.g.
   * `2026-12-01/0200/InfoGatheringExport/json/OrgId=<org>/_RbacGroupId=412/part-00000-<guid>.c000.json.gz`.
   */
  path: string;
  rbacGroupId: number;
  /** The gzip bytes exactly as served (quirks included). */
  body: Buffer;
  /** Records (non-blank, well-formed lines) in the file. */
  records: number;
  /**
   * The canonical record of each of those lines, in file order: what a correct reader makes of them
   * (a device's older record in another group's file included). Tests recount files against it.
   */
  truth: DeviceHealthRecord[];
  /** Lines deliberately malformed by a fault switch (0 normally). */
  malformedLines: number;
}

/** A generated snapshot: what the simulated tenant serves, and the truth tests recount against. */
export interface SimulatedDataset {
  seed: number;
  deviceCount: number;
  /** The snapshot's generatedTime, ISO 8601 with a Z, whole minutes. */
  generatedTime: string;
  files: SimulatedExportFile[];
  /**
   * The truth: one canonical record per device, the one a correct reader keeps (a device present in
   * two groups' files keeps its latest record by dataRefreshTimestamp, then lastSeenTime). Sorted by
   * machineId. The JSON method serves exactly these, in this order.
   */
  devices: DeviceHealthRecord[];
}
