import { Prng } from "../simulator/prng.js";
import type { CallFault, FaultEndpoint } from "../simulator/faults.js";

/** The kinds of fault the chaos run injects; the report counts each. */
export const FAULT_KINDS = [
  "api429",
  "api5xx",
  "apiReset",
  "apiSlow",
  "sasExpired",
  "emptyBlob",
  "missingBlob",
  "truncatedGzip",
  "malformedLines",
  "duplicateDelivery",
  "redelivery",
  "delayedDelivery",
  "handlerCrash",
  "concurrentTriggers",
  "storageOutage",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export const FAULT_LABELS: Record<FaultKind, string> = {
  api429: "429 storm on the Defender API",
  api5xx: "5xx from the Defender API",
  apiReset: "connection reset by the API",
  apiSlow: "slow API answer",
  sasExpired: "export URLs expired before the copy",
  emptyBlob: "empty 200 OK source blob",
  missingBlob: "missing source blob (404)",
  truncatedGzip: "truncated gzip source",
  malformedLines: "source with malformed lines",
  duplicateDelivery: "two copies of a message at once",
  redelivery: "message delivered again after success",
  delayedDelivery: "message delivered late",
  handlerCrash: "handler crash between storage writes",
  concurrentTriggers: "two triggers at the same moment",
  storageOutage: "storage refusing connections",
};

/** Everything one seeded run does wrong, decided up front from its seed. */
export interface FaultPlan {
  seed: number;
  method: "files" | "json" | "auto";
  /** `auto` with the files permission withheld: the run falls back to JSON. */
  withholdFilesPermission: boolean;
  devices: number;
  recordsPerFile: number;
  summaryParallelism: number;
  api: {
    throttle: CallFault;
    serverErrors: CallFault;
    resets: CallFault;
    slowMs: number;
    appliesTo: FaultEndpoint[];
    /** Seconds the export's URLs stay valid (`true`: already expired), while this fault is on. */
    sasExpiresEarly: boolean | number;
    seed: number;
  };
  /** Indexes of export files (taken modulo the file count). */
  blobs: { empty: number[]; missing: number[]; truncated: number[]; malformed: number[] };
  delivery: { delay: number; redeliver: number; duplicate: number };
  /** Chance that an invocation crashes, and after how many of its storage writes at most. */
  crash: { probability: number; maxWrites: number };
  /** When triggers fire (ms after the start), and how many at once. */
  triggers: { atMs: number; count: number }[];
  /** Storage outages: when (ms after the start) and how long. */
  outages: { atMs: number; forMs: number }[];
  /** Visibility delay before a failed message is retried (host.json's 30 s, shortened). */
  retryDelayMs: number;
}

/** Draws a run's faults from its seed: the same seed, the same plan. */
export function planFaults(seed: number, options: { maxDevices?: number } = {}): FaultPlan {
  const rng = new Prng(seed);
  const some = (p: number, max: number): number[] => (rng.chance(p) ? Array.from({ length: rng.between(1, max) }, () => rng.int(64)) : []);
  const callFault = (p: number, maxCount: number): CallFault =>
    !rng.chance(p) ? 0 : rng.chance(0.6) ? rng.between(1, maxCount) : { probability: Math.round(rng.between(5, 30)) / 100 };
  const method = rng.chance(0.75) ? "files" : rng.chance(0.6) ? "json" : "auto";
  const maxDevices = options.maxDevices ?? 500;
  const devices = rng.between(Math.min(60, maxDevices), maxDevices);
  const triggers = [{ atMs: 0, count: rng.chance(0.25) ? 2 : 1 }];
  if (rng.chance(0.3)) triggers.push({ atMs: rng.between(200, 2500), count: 1 });
  const outages = rng.chance(0.35) ? Array.from({ length: rng.between(1, 2) }, () => ({ atMs: rng.between(0, 3000), forMs: rng.between(200, 2500) })) : [];
  return {
    seed,
    method,
    withholdFilesPermission: method === "auto" && rng.chance(0.7),
    devices,
    recordsPerFile: rng.between(Math.max(15, Math.floor(devices / 12)), Math.max(30, Math.floor(devices / 3))),
    summaryParallelism: rng.chance(0.2) ? 2 : 1,
    api: {
      throttle: callFault(0.35, 6),
      serverErrors: callFault(0.3, 4),
      resets: callFault(0.25, 3),
      // Some slow answers outlast the chaos run's 1 s attempt timeout.
      slowMs: rng.chance(0.2) ? rng.between(50, 1300) : 0,
      appliesTo: rng.chance(0.15) ? ["export", "deviceavinfo", "token"] : ["export", "deviceavinfo"],
      sasExpiresEarly: !rng.chance(0.3) ? false : rng.chance(0.4) ? true : rng.between(1, 3),
      seed: rng.uint32(),
    },
    blobs: { empty: some(0.15, 2), missing: some(0.15, 2), truncated: some(0.15, 2), malformed: some(0.2, 3) },
    delivery: {
      delay: rng.chance(0.4) ? rng.between(5, 30) / 100 : 0,
      redeliver: rng.chance(0.4) ? rng.between(5, 30) / 100 : 0,
      duplicate: rng.chance(0.4) ? rng.between(5, 30) / 100 : 0,
    },
    crash: rng.chance(0.6) ? { probability: rng.between(5, 30) / 100, maxWrites: rng.between(1, 8) } : { probability: 0, maxWrites: 0 },
    triggers,
    outages,
    retryDelayMs: rng.pick([0, 0, 1000]),
  };
}
