import { existsSync, readFileSync } from "node:fs";

/**
 * The queue settings of host.json that the code must agree with: the Functions runtime applies them
 * in Azure, the local pump applies them on a laptop, and the copy activity needs maxDequeueCount to
 * know its last delivery.
 */
export interface QueueHostSettings {
  batchSize: number;
  newBatchThreshold: number;
  maxDequeueCount: number;
  visibilityTimeoutMs: number;
  maxPollingIntervalMs: number;
  messageEncoding: "base64" | "none";
}

function timeSpanMs(value: unknown, fallback: number): number {
  if (typeof value !== "string") return fallback;
  const match = /^(\d+):(\d{2}):(\d{2})(?:\.(\d+))?$/.exec(value);
  if (!match) throw new Error(`host.json: "${value}" is not a time span (hh:mm:ss)`);
  return ((Number(match[1]) * 60 + Number(match[2])) * 60 + Number(match[3])) * 1000;
}

/** host.json sits at the app root: one level up from shared/ in the sources, two from dist/shared/. */
function findHostJson(): URL {
  for (const relative of ["../host.json", "../../host.json"]) {
    const url = new URL(relative, import.meta.url);
    if (existsSync(url)) return url;
  }
  throw new Error("host.json not found next to the app (looked one and two folders above shared/)");
}

export function readQueueHostSettings(hostJson: URL = findHostJson()): QueueHostSettings {
  const host = JSON.parse(readFileSync(hostJson, "utf8")) as { extensions?: { queues?: Record<string, unknown> } };
  const q = host.extensions?.queues ?? {};
  const num = (key: string, fallback: number) => (typeof q[key] === "number" ? (q[key] as number) : fallback);
  return {
    batchSize: num("batchSize", 16),
    newBatchThreshold: num("newBatchThreshold", 8),
    maxDequeueCount: num("maxDequeueCount", 5),
    visibilityTimeoutMs: timeSpanMs(q.visibilityTimeout, 0),
    maxPollingIntervalMs: timeSpanMs(q.maxPollingInterval, 60_000),
    messageEncoding: q.messageEncoding === "none" ? "none" : "base64",
  };
}

export const { maxDequeueCount } = readQueueHostSettings();
