import { describe, expect, it } from "vitest";
import { RecordError } from "../../../shared/errors.js";
import { normaliseFileRecord, normaliseJsonRecord, normaliseRecord, osKindOf } from "../../../shared/health/normalise.js";
import type { DeviceHealthRecord } from "../../../shared/health/record.js";
import { fileRecord } from "./fixtures.js";

const place = { file: "raw/date=2026-12-01/part-0.json.gz", line: 7 };

/** The reference page's example record, as one export line. */
const REFERENCE_LINE =
  '{"DeviceId":"30a8fa2826abf24d24379b23f8a44d471f00feab","DeviceName":"host-17.contoso.com",' +
  '"OsPlatform":"Windows11","OsVersion":"10.0.22631.4317","LastSeenTime":"2026-11-30T12:44:02Z",' +
  '"RbacGroupId":412,"RbacGroupName":"Servers-EU","Timestamp":"2026-12-01T02:00:00Z",' +
  '"DeviceGatheredInfo":"{\\"AvMode\\":\\"0\\",\\"AvSignatureVersion\\":\\"1.421.123.0\\",\\"AvEngineVersion\\":\\"1.1.24090.11\\",' +
  '\\"AvPlatformVersion\\":\\"4.18.24090.11\\",\\"AvEngineUpdateTime\\":\\"2026-11-29T10:00:00Z\\",' +
  '\\"AvSignatureUpdateTime\\":\\"2026-11-30T10:00:00Z\\",\\"AvPlatformUpdateTime\\":\\"2026-11-20T10:00:00Z\\",' +
  '\\"AvSignaturePublishTime\\":\\"2026-11-30T08:00:00Z\\",\\"AvIsSignatureUptoDate\\":\\"True\\",\\"AvIsEngineUptodate\\":\\"True\\",' +
  '\\"AvIsPlatformUptodate\\":\\"False\\",\\"CloudProtectionState\\":\\"Enabled\\",\\"AvSignatureDataRefreshTime\\":\\"2026-11-30T12:00:00Z\\",' +
  '\\"AvModeDataRefreshTime\\":\\"2026-11-30T12:00:00Z\\",' +
  '\\"AvScanResults\\":\\"{\\\\\\"Quick\\\\\\":{\\\\\\"ScanStatus\\\\\\":\\\\\\"Completed\\\\\\",\\\\\\"ErrorCode\\\\\\":\\\\\\"\\\\\\",\\\\\\"Timestamp\\\\\\":\\\\\\"2026-11-30T03:00:00Z\\\\\\"},' +
  '\\\\\\"Full\\\\\\":{\\\\\\"ScanStatus\\\\\\":\\\\\\"\\\\\\",\\\\\\"ErrorCode\\\\\\":\\\\\\"\\\\\\",\\\\\\"Timestamp\\\\\\":null}}\\"}"}';

const EXPECTED: DeviceHealthRecord = {
  machineId: "30a8fa2826abf24d24379b23f8a44d471f00feab",
  computerDnsName: "host-17.contoso.com",
  osPlatform: "Windows11",
  osVersion: "10.0.22631.4317",
  osKind: "windows",
  lastSeenTime: "2026-11-30T12:44:02Z",
  rbacGroupId: 412,
  rbacGroupName: "Servers-EU",
  dataRefreshTimestamp: "2026-12-01T02:00:00Z",
  avMode: "0",
  avSignatureVersion: "1.421.123.0",
  avEngineVersion: "1.1.24090.11",
  avPlatformVersion: "4.18.24090.11",
  avSignatureUpdateTime: "2026-11-30T10:00:00Z",
  avEngineUpdateTime: "2026-11-29T10:00:00Z",
  avPlatformUpdateTime: "2026-11-20T10:00:00Z",
  avSignaturePublishTime: "2026-11-30T08:00:00Z",
  avIsSignatureUpToDate: "True",
  avIsEngineUpToDate: "True",
  avIsPlatformUpToDate: "False",
  cloudProtectionState: "Enabled",
  quickScanResult: "Completed",
  quickScanError: null,
  quickScanTime: "2026-11-30T03:00:00Z",
  fullScanResult: null,
  fullScanError: null,
  fullScanTime: null,
};

function recordError(run: () => unknown): RecordError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(RecordError);
    return error as RecordError;
  }
  throw new Error("expected a RecordError");
}

describe("normaliseFileRecord", () => {
  it("reads the reference record, DeviceGatheredInfo and AvScanResults each JSON-encoded once more", () => {
    expect(normaliseFileRecord(JSON.parse(REFERENCE_LINE))).toEqual(EXPECTED);
  });

  it("reads DeviceGatheredInfo and AvScanResults given as objects the same way", () => {
    expect(normaliseFileRecord(fileRecord({ nestedAsObjects: true }))).toEqual(EXPECTED);
    expect(normaliseFileRecord(fileRecord())).toEqual(EXPECTED);
  });

  it("takes booleans, 'True'/'False' in any case, and reads anything else as Unknown", () => {
    const r = normaliseFileRecord(fileRecord({ info: { AvIsSignatureUptoDate: true, AvIsEngineUptodate: false, AvIsPlatformUptodate: "true" } }));
    expect([r.avIsSignatureUpToDate, r.avIsEngineUpToDate, r.avIsPlatformUpToDate]).toEqual(["True", "False", "True"]);
    const u = normaliseFileRecord(fileRecord({ info: { AvIsSignatureUptoDate: "Unknown", AvIsEngineUptodate: null, AvIsPlatformUptodate: "yes" } }));
    expect([u.avIsSignatureUpToDate, u.avIsEngineUpToDate, u.avIsPlatformUpToDate]).toEqual(["Unknown", "Unknown", "Unknown"]);
    const missing = normaliseFileRecord({ DeviceId: "d1" });
    expect([missing.avIsSignatureUpToDate, missing.avIsEngineUpToDate, missing.avIsPlatformUpToDate]).toEqual(["Unknown", "Unknown", "Unknown"]);
  });

  it("turns missing, null, empty and '-' fields into null", () => {
    const r = normaliseFileRecord(
      fileRecord({
        top: { DeviceName: null, OsVersion: "", LastSeenTime: "-", RbacGroupName: undefined },
        info: { CloudProtectionState: " - ", AvSignatureVersion: null },
        quick: { ScanStatus: "-", ErrorCode: "-", Timestamp: "-" },
        full: { ScanStatus: null },
      }),
    );
    expect(r).toMatchObject({
      computerDnsName: null,
      osVersion: null,
      lastSeenTime: null,
      rbacGroupName: null,
      cloudProtectionState: null,
      avSignatureVersion: null,
      quickScanResult: null,
      quickScanError: null,
      quickScanTime: null,
      fullScanResult: null,
    });
  });

  it("reads a record with nothing but a DeviceId", () => {
    const r = normaliseFileRecord({ DeviceId: "d1" });
    expect(r.machineId).toBe("d1");
    expect(r.avMode).toBe("");
    expect(r.osKind).toBe("other");
    expect(Object.entries(r).filter(([, v]) => v !== null).map(([k]) => k).sort()).toEqual(
      ["avIsEngineUpToDate", "avIsPlatformUpToDate", "avIsSignatureUpToDate", "avMode", "machineId", "osKind"].sort(),
    );
  });

  it("ignores extra columns at every level", () => {
    const r = normaliseFileRecord(
      fileRecord({ top: { NewColumn: { x: 1 }, Tags: ["a"] }, info: { AvSomethingNew: "x" }, quick: { Extra: 1 } }),
    );
    expect(r).toEqual(EXPECTED);
  });

  it("keeps avMode as the code string: numbers become digits, missing and placeholders become ''", () => {
    expect(normaliseFileRecord(fileRecord({ info: { AvMode: 1 } })).avMode).toBe("1");
    expect(normaliseFileRecord(fileRecord({ info: { AvMode: "4" } })).avMode).toBe("4");
    expect(normaliseFileRecord(fileRecord({ info: { AvMode: "" } })).avMode).toBe("");
    expect(normaliseFileRecord(fileRecord({ info: { AvMode: null } })).avMode).toBe("");
    expect(normaliseFileRecord(fileRecord({ info: { AvMode: "-" } })).avMode).toBe("");
    expect(normaliseFileRecord(fileRecord({ info: { AvMode: undefined } })).avMode).toBe("");
  });

  it("reads RbacGroupId given as a number or as digits, and nothing else", () => {
    expect(normaliseFileRecord(fileRecord({ top: { RbacGroupId: "412" } })).rbacGroupId).toBe(412);
    expect(normaliseFileRecord(fileRecord({ top: { RbacGroupId: 0 } })).rbacGroupId).toBe(0);
    expect(normaliseFileRecord(fileRecord({ top: { RbacGroupId: "abc" } })).rbacGroupId).toBeNull();
    expect(normaliseFileRecord(fileRecord({ top: { RbacGroupId: 4.5 } })).rbacGroupId).toBeNull();
    expect(normaliseFileRecord(fileRecord({ top: { RbacGroupId: null } })).rbacGroupId).toBeNull();
  });

  it("finds fields spelled in another letter case (the product spells UptoDate and Uptodate)", () => {
    const r = normaliseFileRecord(fileRecord({ info: { AvIsSignatureUptoDate: undefined, AvIsSignatureUpToDate: "False", AvIsEngineUptodate: undefined, AvIsEngineUpToDate: "False" } }));
    expect(r.avIsSignatureUpToDate).toBe("False");
    expect(r.avIsEngineUpToDate).toBe("False");
  });

  it("prefers the exactly spelled field over another spelling", () => {
    expect(normaliseFileRecord({ DeviceId: "exact", deviceid: "other" }).machineId).toBe("exact");
  });

  it("trims text values", () => {
    const r = normaliseFileRecord(fileRecord({ top: { OsPlatform: " Windows11 " }, info: { CloudProtectionState: "Enabled  " } }));
    expect(r.osPlatform).toBe("Windows11");
    expect(r.cloudProtectionState).toBe("Enabled");
  });

  it("treats an empty or '-' DeviceGatheredInfo / AvScanResults as absent", () => {
    expect(normaliseFileRecord({ DeviceId: "d", DeviceGatheredInfo: "" }).avMode).toBe("");
    expect(normaliseFileRecord({ DeviceId: "d", DeviceGatheredInfo: "-" }).avMode).toBe("");
    expect(normaliseFileRecord({ DeviceId: "d", DeviceGatheredInfo: "null" }).avMode).toBe("");
    expect(normaliseFileRecord(fileRecord({ info: { AvScanResults: "" } })).quickScanResult).toBeNull();
    expect(normaliseFileRecord(fileRecord({ info: { AvScanResults: null } })).quickScanResult).toBeNull();
  });

  it.each([
    ["missing", {}],
    ["null", { DeviceId: null }],
    ["empty", { DeviceId: "" }],
    ["blank", { DeviceId: "   " }],
    ["a placeholder", { DeviceId: "-" }],
    ["a number", { DeviceId: 12 }],
  ])("rejects a record whose DeviceId is %s, naming file and line", (_, top) => {
    const error = recordError(() => normaliseFileRecord({ ...top, DeviceGatheredInfo: "{}" }, place));
    expect(error.message).toMatch(/no usable device id/);
    expect(error.file).toBe(place.file);
    expect(error.line).toBe(7);
  });

  it("rejects a DeviceGatheredInfo string that is not JSON, or JSON that is not an object", () => {
    expect(recordError(() => normaliseFileRecord({ DeviceId: "d", DeviceGatheredInfo: "{not json" }, place)).message).toMatch(/DeviceGatheredInfo is a string but not JSON/);
    expect(recordError(() => normaliseFileRecord({ DeviceId: "d", DeviceGatheredInfo: "[1,2]" }, place)).message).toMatch(/array/);
    expect(recordError(() => normaliseFileRecord({ DeviceId: "d", DeviceGatheredInfo: 5 }, place)).message).toMatch(/DeviceGatheredInfo is a number/);
    expect(recordError(() => normaliseFileRecord(fileRecord({ info: { AvScanResults: "{\"Quick\":" } }), place)).message).toMatch(/AvScanResults/);
  });

  it("rejects what is not an object at all", () => {
    expect(recordError(() => normaliseFileRecord([1], place)).message).toMatch(/an array/);
    expect(recordError(() => normaliseFileRecord("text", place)).message).toMatch(/not a JSON object/);
    expect(recordError(() => normaliseFileRecord(null, place)).message).toMatch(/not a JSON object/);
  });
});

describe("osKindOf", () => {
  it.each([
    ["Windows10", "windows"],
    ["WindowsServer2022", "windows"],
    ["windows11", "windows"],
    ["Linux", "linux"],
    ["Ubuntu", "linux"],
    ["RedHatEnterpriseLinux", "linux"],
    ["Debian", "linux"],
    ["CentOS", "linux"],
    ["SuSE", "linux"],
    ["macOS", "mac"],
    ["Mac", "mac"],
    ["MacOS", "mac"],
    ["iOS", "other"],
    ["Android", "other"],
    ["", "other"],
    [null, "other"],
  ] as const)("%s → %s", (platform, kind) => {
    expect(osKindOf(platform)).toBe(kind);
  });
});

describe("normaliseJsonRecord", () => {
  const json = {
    "@odata.etag": "x",
    id: "30a8fa2826abf24d24379b23f8a44d471f00feab",
    machineId: "30a8fa2826abf24d24379b23f8a44d471f00feab",
    computerDnsName: "host-17.contoso.com",
    osKind: "Windows",
    osPlatform: "Windows11",
    osVersion: "10.0.22631.4317",
    lastSeenTime: "2026-11-30T12:44:02Z",
    rbacGroupId: 412,
    rbacGroupName: "Servers-EU",
    dataRefreshTimestamp: "2026-12-01T02:00:00Z",
    avMode: "0",
    avSignatureVersion: "1.421.123.0",
    avEngineVersion: "1.1.24090.11",
    avPlatformVersion: "4.18.24090.11",
    avSignatureUpdateTime: "2026-11-30T10:00:00Z",
    avEngineUpdateTime: "2026-11-29T10:00:00Z",
    avPlatformUpdateTime: "2026-11-20T10:00:00Z",
    avSignaturePublishTime: "2026-11-30T08:00:00Z",
    avIsSignatureUpToDate: "True",
    avIsEngineUpToDate: true,
    avIsPlatformUpToDate: "False",
    cloudProtectionState: "Enabled",
    quickScanResult: "Completed",
    quickScanError: "",
    quickScanTime: "2026-11-30T03:00:00Z",
    fullScanResult: "",
    fullScanError: null,
    fullScanTime: null,
  };

  it("reads the JSON method's camelCase record into the same canonical record as the file's", () => {
    expect(normaliseJsonRecord(json)).toEqual(EXPECTED);
  });

  it("falls back to id when machineId is missing, and rejects a record with neither", () => {
    expect(normaliseJsonRecord({ ...json, machineId: undefined }).machineId).toBe(json.id);
    expect(normaliseJsonRecord({ ...json, machineId: "" }).machineId).toBe(json.id);
    expect(recordError(() => normaliseJsonRecord({ ...json, machineId: null, id: null }, place)).message).toMatch(/no usable device id/);
  });
});

describe("normaliseRecord", () => {
  it("tells the two shapes apart", () => {
    expect(normaliseRecord(JSON.parse(REFERENCE_LINE))).toEqual(EXPECTED);
    expect(normaliseRecord({ machineId: "m1", avMode: 2 }).avMode).toBe("2");
    expect(normaliseRecord({ deviceid: "d2" }).machineId).toBe("d2");
    expect(normaliseRecord({ DeviceGatheredInfo: "{}", DeviceId: "d3" }).machineId).toBe("d3");
  });

  it("rejects a record that names no device in either shape", () => {
    expect(recordError(() => normaliseRecord({ DeviceName: "x" }, place)).message).toMatch(/no usable device id/);
  });
});
