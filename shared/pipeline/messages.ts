import type { FileMessage, SummaryMessage } from "./deps.js";

const RUN_ID = /^\d{8}T\d{4}Z$/;

function asObject(body: unknown, what: string): Record<string, unknown> {
  // The Functions runtime hands over JSON messages already parsed; the local pump does the same.
  const value = typeof body === "string" ? safeParse(body, what) : body;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(`${what} message is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

function safeParse(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${what} message is not JSON (${text.length} characters)`);
  }
}

/** Checks a file message's shape; the error names the field, never the URL's query. */
export function parseFileMessage(body: unknown): FileMessage {
  const m = asObject(body, "export-file");
  const { runId, fileKey, url, generation } = m;
  if (typeof runId !== "string" || !RUN_ID.test(runId)) throw new Error("export-file message has no valid runId (YYYYMMDDTHHmmZ)");
  if (typeof fileKey !== "string" || fileKey === "") throw new Error("export-file message has no fileKey");
  if (typeof url !== "string" || url === "") throw new Error("export-file message has no url");
  if (typeof generation !== "number" || !Number.isInteger(generation) || generation < 0) {
    throw new Error("export-file message has no generation (a whole number)");
  }
  return { runId, fileKey, url, generation };
}

export function parseSummaryMessage(body: unknown): SummaryMessage {
  const { runId } = asObject(body, "export-summary");
  if (typeof runId !== "string" || !RUN_ID.test(runId)) throw new Error("export-summary message has no valid runId (YYYYMMDDTHHmmZ)");
  return { runId };
}
