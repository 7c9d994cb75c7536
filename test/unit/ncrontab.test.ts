import { describe, expect, it } from "vitest";
import { nextOccurrence, parseSchedule } from "../../shared/ncrontab.js";

const next = (expr: string, after: string) => nextOccurrence(parseSchedule(expr), new Date(after)).toISOString();

describe("NCRONTAB schedules", () => {
  it("fires the default daily schedule at 03:30:00 UTC", () => {
    expect(next("0 30 3 * * *", "2026-12-03T19:45:00Z")).toBe("2026-12-04T03:30:00.000Z");
    expect(next("0 30 3 * * *", "2026-12-03T03:29:59Z")).toBe("2026-12-03T03:30:00.000Z");
    expect(next("0 30 3 * * *", "2026-12-03T03:30:00Z")).toBe("2026-12-04T03:30:00.000Z");
  });

  it("understands steps, ranges, lists and days of the week", () => {
    expect(next("*/15 * * * * *", "2026-12-03T10:00:14Z")).toBe("2026-12-03T10:00:15.000Z");
    expect(next("0 0 9-17/4 * * *", "2026-12-03T14:00:00Z")).toBe("2026-12-03T17:00:00.000Z");
    expect(next("0 0 6 * * 1", "2026-12-03T00:00:00Z")).toBe("2026-12-07T06:00:00.000Z"); // next Monday
    expect(next("0 0 0 1 1,7 *", "2026-12-03T00:00:00Z")).toBe("2027-01-01T00:00:00.000Z");
  });

  it("understands month and day names, and 7 as Sunday, as the Functions runtime does", () => {
    expect(next("0 0 6 * * Mon-Fri", "2026-12-05T00:00:00Z")).toBe("2026-12-07T06:00:00.000Z"); // Saturday → Monday
    expect(next("0 0 6 * * sun", "2026-12-03T00:00:00Z")).toBe("2026-12-06T06:00:00.000Z");
    expect(next("0 0 6 * * 7", "2026-12-03T00:00:00Z")).toBe("2026-12-06T06:00:00.000Z");
    expect(next("0 0 0 1 Jan,Jul *", "2026-12-03T00:00:00Z")).toBe("2027-01-01T00:00:00.000Z");
  });

  it.each(["0 30 3 * *", "0 61 3 * * *", "x 30 3 * * *", "0 30 3 * * 8", "0 30 5-3 * * *", "0 30 3 * * Funday", "a b c d e f"])("rejects %s", (expr) => {
    expect(() => parseSchedule(expr)).toThrow(/schedule/);
  });
});
