/**
 * Fault switches of the simulated tenant. Every field can be changed by a test at any moment
 * (`tenant.faults.throttle = 3`); the tenant reads them on each call.
 */

/** A per-call fault: the next `n` calls (a count, used up as it fires), or each call with a probability. */
export type CallFault = number | { probability: number };

/**
 * Which export files a blob fault touches: an index into `dataset.files`, a blob path, a list of
 * either, `true` for every file, or `false` / `null` for none.
 */
export type BlobSelector = boolean | number | string | readonly (number | string)[] | null;

/** The endpoints the per-call faults and `slowMs` apply to. */
export type FaultEndpoint = "export" | "deviceavinfo" | "token";

export interface TenantFaults {
  /** Answer 429 with `Retry-After: retryAfterSeconds` (a "429 storm"), without spending rate-limit budget. */
  throttle: CallFault;
  retryAfterSeconds: number;
  /** Answer `serverErrorStatus` (500 or 503 are the usual ones). */
  serverErrors: CallFault;
  serverErrorStatus: number;
  /** Destroy the socket without an answer. */
  resets: CallFault;
  /** Delay every answer by this much (through the tenant's injectable sleep). */
  slowMs: number;
  /** Endpoints that the four switches above apply to. Default: the two API endpoints. */
  appliesTo: FaultEndpoint[];
  /**
   * SAS URLs issued already expired (`true`: expiry 15 minutes before the tenant's clock) or valid for
   * only this many seconds (a number). Azurite judges SAS times by the real clock.
   */
  sasExpiresEarly: boolean | number;
  /**
   * Blob faults, materialised in the exporter account when the export is called (or on
   * `tenant.applyBlobFaults()`); clearing one restores the original blob on the next call.
   */
  emptyBlob: BlobSelector;
  missingBlob: BlobSelector;
  truncatedGzip: BlobSelector;
  malformedLines: BlobSelector;
  /** Seed of the PRNG behind probabilities; changing it restarts the sequence from the new seed. */
  seed: number;
}

export function defaultFaults(seed = 1): TenantFaults {
  return {
    throttle: 0,
    retryAfterSeconds: 1,
    serverErrors: 0,
    serverErrorStatus: 503,
    resets: 0,
    slowMs: 0,
    appliesTo: ["export", "deviceavinfo"],
    sasExpiresEarly: false,
    emptyBlob: null,
    missingBlob: null,
    truncatedGzip: null,
    malformedLines: null,
    seed,
  };
}

/** mulberry32: small, fast, seedable; good enough to decide whether a fault fires. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The kinds of per-call faults, in the order they are tried (one fault per call at most). */
export const CALL_FAULTS = ["resets", "serverErrors", "throttle"] as const;
export type CallFaultName = (typeof CALL_FAULTS)[number];

/** Decides whether `name` fires for this call, using up one count when it does. */
export function takeCallFault(faults: TenantFaults, name: CallFaultName, random: () => number): boolean {
  const value = faults[name];
  if (typeof value === "number") {
    if (value <= 0) return false;
    faults[name] = value - 1;
    return true;
  }
  return random() < value.probability;
}

/** Whether the selector picks the file at `index` with `path`. */
export function selects(selector: BlobSelector, index: number, path: string): boolean {
  if (selector === null || selector === false) return false;
  if (selector === true) return true;
  const list: readonly (number | string)[] = Array.isArray(selector) ? selector : [selector as number | string];
  return list.some((s) => (typeof s === "number" ? s === index : s === path));
}
