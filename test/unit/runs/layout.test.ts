import { describe, expect, it } from "vitest";
import { destinationOf, fileKeyOf, manifestPath, rbacGroupIdOf, runIdOf } from "../../../shared/runs/layout.js";

const PATH = "/temp-0f1/2026-12-01/0200/InfoGatheringExport/json/OrgId=abc/_RbacGroupId=12275/part-00010-3c6b.c000.json.gz";

describe("snapshot layout", () => {
  it("keys a run by the snapshot's generatedTime to the minute", () => {
    expect(runIdOf("2026-12-01T02:00:00Z")).toBe("20261201T0200Z");
    expect(runIdOf("2026-12-01T03:00:00+01:00")).toBe("20261201T0200Z");
    expect(() => runIdOf("yesterday")).toThrow(/not a date/);
  });

  it("places a file at its Hive path, keeping the source's part name", () => {
    expect(destinationOf("2026-12-01T02:00:00Z", PATH)).toBe(
      "raw/date=2026-12-01/generated=20261201T0200Z/rbacGroupId=12275/part-00010-3c6b.c000.json.gz",
    );
    expect(manifestPath("2026-12-01T02:00:00Z")).toBe("raw/date=2026-12-01/generated=20261201T0200Z/_manifest.json");
  });

  it("keeps same-named parts of different groups apart", () => {
    const other = PATH.replace("_RbacGroupId=12275", "_RbacGroupId=7");
    expect(fileKeyOf(PATH)).not.toBe(fileKeyOf(other));
    expect(destinationOf("2026-12-01T02:00:00Z", PATH)).not.toBe(destinationOf("2026-12-01T02:00:00Z", other));
  });

  it("files without a group go under rbacGroupId=none, and keys hold only Table-safe characters", () => {
    expect(rbacGroupIdOf("/c/x/part-1.json.gz")).toBe("none");
    expect(fileKeyOf("/c/_RbacGroupId=1/we#ird?na\\me.gz")).toMatch(/^[A-Za-z0-9._=-]+$/);
  });
});
