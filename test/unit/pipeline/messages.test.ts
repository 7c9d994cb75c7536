import { describe, expect, it } from "vitest";
import { parseFileMessage, parseSummaryMessage } from "../../../shared/pipeline/messages.js";
import { decodeMessage, encodeMessage } from "../../../shared/storage.js";
import { readQueueHostSettings } from "../../../shared/hostSettings.js";

describe("queue messages", () => {
  const good = { runId: "20261201T0200Z", fileKey: "1_part.gz", url: "https://a.blob.core.windows.net/c/p?sig=s3cret", generation: 1 };

  it("round-trip through the base64 encoding host.json declares", () => {
    expect(readQueueHostSettings().messageEncoding).toBe("base64");
    expect(parseFileMessage(decodeMessage(encodeMessage(good)))).toEqual(good);
    expect(parseFileMessage(JSON.stringify(good))).toEqual(good);
  });

  it.each([
    [null, /not a JSON object/],
    ["{", /not JSON/],
    [{ ...good, runId: "2026-12-01" }, /runId/],
    [{ ...good, fileKey: "" }, /fileKey/],
    [{ ...good, url: 5 }, /url/],
    [{ ...good, generation: -1 }, /generation/],
  ])("rejects %j with a message naming the field", (body, pattern) => {
    expect(() => parseFileMessage(body)).toThrow(pattern);
    try {
      parseFileMessage(body);
    } catch (error) {
      expect((error as Error).message).not.toContain("s3cret");
    }
  });

  it("checks summary messages too", () => {
    expect(parseSummaryMessage({ runId: "20261201T0200Z" })).toEqual({ runId: "20261201T0200Z" });
    expect(() => parseSummaryMessage({})).toThrow(/runId/);
  });

  it("reads host.json's queue settings as the runtime applies them", () => {
    const settings = readQueueHostSettings();
    expect(settings).toMatchObject({ batchSize: 8, maxDequeueCount: 5, visibilityTimeoutMs: 30_000 });
  });
});
