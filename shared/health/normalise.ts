import { RecordError } from "../errors.js";
import type { DeviceHealthRecord, OsKind, UpToDate } from "./record.js";

/** Where a record came from, for the error a malformed one raises. */
export interface RecordPlace {
  file: string;
  line: number;
}

type Fields = Record<string, unknown>;

const NOWHERE: RecordPlace = { file: "", line: 0 };

function isFields(value: unknown): value is Fields {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function field(fields: Fields, name: string): unknown {
  return pick(fields[name], fields, name);
}

/**
 * `value` (the field read by its documented name), or, when that is missing, the same name in another
 * letter case: the product's own pages spell `AvIsSignatureUptoDate` next to `AvIsEngineUptodate`.
 */
function pick(value: unknown, fields: Fields, name: string): unknown {
  if (value !== undefined) return value;
  const lower = name.toLowerCase();
  for (const key in fields) {
    if (key.toLowerCase() === lower) return fields[key];
  }
  return undefined;
}

/** Text as given, trimmed; null for missing, null, empty and the `-` placeholder. */
export function text(value: unknown): string | null {
  if (typeof value === "string") {
    const trimmed = value.trim();
    return trimmed === "" || trimmed === "-" ? null : trimmed;
  }
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return null;
}

export function upToDate(value: unknown): UpToDate {
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "string") {
    const lower = value.trim().toLowerCase();
    if (lower === "true") return "True";
    if (lower === "false") return "False";
  }
  return "Unknown";
}

/** The avMode code as a string: "" when missing or a placeholder, numbers as their digits. */
function avMode(value: unknown): string {
  return text(value) ?? "";
}

export function groupId(value: unknown): number | null {
  if (typeof value === "number") return Number.isSafeInteger(value) ? value : null;
  if (typeof value === "string" && /^\s*-?\d{1,15}\s*$/.test(value)) return Number(value);
  return null;
}

function deviceId(value: unknown, place: RecordPlace, name: string): string {
  const id = typeof value === "string" ? text(value) : null;
  if (id === null) {
    throw new RecordError(`The record has no usable device id (${name} is ${describe(value)}); it is counted as malformed.`, place.file, place.line);
  }
  return id;
}

function describe(value: unknown): string {
  if (value === undefined) return "missing";
  if (value === null) return "null";
  if (typeof value === "string") return value.trim() === "" ? "empty" : `"${value.slice(0, 40)}"`;
  return `a ${typeof value}`;
}

/** A nested object that may arrive JSON-encoded as a string (again); null when absent or a placeholder. */
function nested(value: unknown, name: string, place: RecordPlace): Fields | null {
  if (isFields(value)) return value;
  if (typeof value === "string") {
    const trimmed = value.trim();
    if (trimmed === "" || trimmed === "-") return null;
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (error) {
      throw new RecordError(`${name} is a string but not JSON (${(error as Error).message}).`, place.file, place.line);
    }
    if (parsed === null || isFields(parsed)) return parsed;
    throw new RecordError(`${name} holds JSON ${Array.isArray(parsed) ? "array" : typeof parsed}, not an object.`, place.file, place.line);
  }
  if (value === undefined || value === null) return null;
  throw new RecordError(`${name} is ${describe(value)}, not an object or a JSON string.`, place.file, place.line);
}

const EMPTY: Fields = {};

/**
 * The kind of operating system, from the platform name: `Windows10`, `WindowsServer2022` → windows;
 * `Linux`, `Ubuntu`, `RedHatEnterpriseLinux`, `Debian`, … → linux; `macOS`, `Mac` → mac.
 */
export function osKindOf(osPlatform: string | null): OsKind {
  if (osPlatform === null) return "other";
  const p = osPlatform.toLowerCase();
  if (p.startsWith("windows")) return "windows";
  if (p.startsWith("mac") || p === "osx" || p.startsWith("os x")) return "mac";
  if (LINUX.test(p)) return "linux";
  return "other";
}

const LINUX =
  /linux|ubuntu|redhat|red hat|rhel|centos|debian|suse|sles|oracle|amazon|fedora|alma|rocky|mariner|azurelinux/;

/**
 * A record of an export file (the "via files" method): PascalCase at the top, antivirus fields in
 * `DeviceGatheredInfo` (a JSON string, or an object), scan results in its `AvScanResults` (a JSON
 * string, or an object) as `Quick` / `Full` with `ScanStatus`, `ErrorCode`, `Timestamp`.
 * Throws RecordError when the record has no usable `DeviceId` or a nested JSON string is broken.
 */
export function normaliseFileRecord(obj: unknown, place: RecordPlace = NOWHERE): DeviceHealthRecord {
  if (!isFields(obj)) throw new RecordError(`The record is ${Array.isArray(obj) ? "an array" : describe(obj)}, not a JSON object.`, place.file, place.line);
  // NOTE: named property reads first (fast on records of one shape), any letter case as a fallback.
  const machineId = deviceId(pick(obj.DeviceId, obj, "DeviceId"), place, "DeviceId");
  const info = nested(pick(obj.DeviceGatheredInfo, obj, "DeviceGatheredInfo"), "DeviceGatheredInfo", place) ?? EMPTY;
  const scans = nested(pick(info.AvScanResults, info, "AvScanResults"), "DeviceGatheredInfo.AvScanResults", place) ?? EMPTY;
  const quick = nested(pick(scans.Quick, scans, "Quick"), "AvScanResults.Quick", place) ?? EMPTY;
  const full = nested(pick(scans.Full, scans, "Full"), "AvScanResults.Full", place) ?? EMPTY;
  const osPlatform = text(pick(obj.OsPlatform, obj, "OsPlatform"));
  return {
    machineId,
    computerDnsName: text(pick(obj.DeviceName, obj, "DeviceName")),
    osPlatform,
    osVersion: text(pick(obj.OsVersion, obj, "OsVersion")),
    osKind: osKindOf(osPlatform),
    lastSeenTime: text(pick(obj.LastSeenTime, obj, "LastSeenTime")),
    rbacGroupId: groupId(pick(obj.RbacGroupId, obj, "RbacGroupId")),
    rbacGroupName: text(pick(obj.RbacGroupName, obj, "RbacGroupName")),
    dataRefreshTimestamp: text(pick(obj.Timestamp, obj, "Timestamp")),
    avMode: avMode(pick(info.AvMode, info, "AvMode")),
    avSignatureVersion: text(pick(info.AvSignatureVersion, info, "AvSignatureVersion")),
    avEngineVersion: text(pick(info.AvEngineVersion, info, "AvEngineVersion")),
    avPlatformVersion: text(pick(info.AvPlatformVersion, info, "AvPlatformVersion")),
    avSignatureUpdateTime: text(pick(info.AvSignatureUpdateTime, info, "AvSignatureUpdateTime")),
    avEngineUpdateTime: text(pick(info.AvEngineUpdateTime, info, "AvEngineUpdateTime")),
    avPlatformUpdateTime: text(pick(info.AvPlatformUpdateTime, info, "AvPlatformUpdateTime")),
    avSignaturePublishTime: text(pick(info.AvSignaturePublishTime, info, "AvSignaturePublishTime")),
    avIsSignatureUpToDate: upToDate(pick(info.AvIsSignatureUptoDate, info, "AvIsSignatureUptoDate")),
    avIsEngineUpToDate: upToDate(pick(info.AvIsEngineUptodate, info, "AvIsEngineUptodate")),
    avIsPlatformUpToDate: upToDate(pick(info.AvIsPlatformUptodate, info, "AvIsPlatformUptodate")),
    cloudProtectionState: text(pick(info.CloudProtectionState, info, "CloudProtectionState")),
    quickScanResult: text(pick(quick.ScanStatus, quick, "ScanStatus")),
    quickScanError: text(pick(quick.ErrorCode, quick, "ErrorCode")),
    quickScanTime: text(pick(quick.Timestamp, quick, "Timestamp")),
    fullScanResult: text(pick(full.ScanStatus, full, "ScanStatus")),
    fullScanError: text(pick(full.ErrorCode, full, "ErrorCode")),
    fullScanTime: text(pick(full.Timestamp, full, "Timestamp")),
  };
}

/**
 * A record of the JSON method (`GET /api/deviceavinfo`): camelCase, flat. The device id is
 * `machineId`, or `id` when machineId is missing. Throws RecordError when neither is usable.
 */
export function normaliseJsonRecord(obj: unknown, place: RecordPlace = NOWHERE): DeviceHealthRecord {
  if (!isFields(obj)) throw new RecordError(`The record is ${Array.isArray(obj) ? "an array" : describe(obj)}, not a JSON object.`, place.file, place.line);
  const rawId = pick(obj.machineId, obj, "machineId");
  const machineId = text(rawId) === null ? deviceId(pick(obj.id, obj, "id"), place, "machineId and id") : deviceId(rawId, place, "machineId");
  const osPlatform = text(pick(obj.osPlatform, obj, "osPlatform"));
  return {
    machineId,
    computerDnsName: text(pick(obj.computerDnsName, obj, "computerDnsName")),
    osPlatform,
    osVersion: text(pick(obj.osVersion, obj, "osVersion")),
    osKind: osKindOf(osPlatform),
    lastSeenTime: text(pick(obj.lastSeenTime, obj, "lastSeenTime")),
    rbacGroupId: groupId(pick(obj.rbacGroupId, obj, "rbacGroupId")),
    rbacGroupName: text(pick(obj.rbacGroupName, obj, "rbacGroupName")),
    dataRefreshTimestamp: text(pick(obj.dataRefreshTimestamp, obj, "dataRefreshTimestamp")),
    avMode: avMode(pick(obj.avMode, obj, "avMode")),
    avSignatureVersion: text(pick(obj.avSignatureVersion, obj, "avSignatureVersion")),
    avEngineVersion: text(pick(obj.avEngineVersion, obj, "avEngineVersion")),
    avPlatformVersion: text(pick(obj.avPlatformVersion, obj, "avPlatformVersion")),
    avSignatureUpdateTime: text(pick(obj.avSignatureUpdateTime, obj, "avSignatureUpdateTime")),
    avEngineUpdateTime: text(pick(obj.avEngineUpdateTime, obj, "avEngineUpdateTime")),
    avPlatformUpdateTime: text(pick(obj.avPlatformUpdateTime, obj, "avPlatformUpdateTime")),
    avSignaturePublishTime: text(pick(obj.avSignaturePublishTime, obj, "avSignaturePublishTime")),
    avIsSignatureUpToDate: upToDate(pick(obj.avIsSignatureUpToDate, obj, "avIsSignatureUpToDate")),
    avIsEngineUpToDate: upToDate(pick(obj.avIsEngineUpToDate, obj, "avIsEngineUpToDate")),
    avIsPlatformUpToDate: upToDate(pick(obj.avIsPlatformUpToDate, obj, "avIsPlatformUpToDate")),
    cloudProtectionState: text(pick(obj.cloudProtectionState, obj, "cloudProtectionState")),
    quickScanResult: text(pick(obj.quickScanResult, obj, "quickScanResult")),
    quickScanError: text(pick(obj.quickScanError, obj, "quickScanError")),
    quickScanTime: text(pick(obj.quickScanTime, obj, "quickScanTime")),
    fullScanResult: text(pick(obj.fullScanResult, obj, "fullScanResult")),
    fullScanError: text(pick(obj.fullScanError, obj, "fullScanError")),
    fullScanTime: text(pick(obj.fullScanTime, obj, "fullScanTime")),
  };
}

/**
 * Either shape: a record with `DeviceId` or `DeviceGatheredInfo` is a file record, anything else is
 * read as the JSON method's (and fails there if it has no machineId / id either).
 */
export function normaliseRecord(obj: unknown, place: RecordPlace = NOWHERE): DeviceHealthRecord {
  return isFileShape(obj) ? normaliseFileRecord(obj, place) : normaliseJsonRecord(obj, place);
}

function isFileShape(obj: unknown): boolean {
  if (!isFields(obj)) return false;
  if ("DeviceId" in obj || "DeviceGatheredInfo" in obj) return true;
  if ("machineId" in obj || "id" in obj) return false;
  return field(obj, "DeviceId") !== undefined || field(obj, "DeviceGatheredInfo") !== undefined;
}
