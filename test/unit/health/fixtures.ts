import { gzipSync } from "node:zlib";
import { Readable } from "node:stream";
import type { DeviceSet, DeviceSummary } from "../../../shared/health/devices.js";
import type { DeviceHealthRecord } from "../../../shared/health/record.js";

/** A file-method record as the export serves it: DeviceGatheredInfo and AvScanResults JSON-encoded. */
export interface FileRecordOptions {
  deviceId?: string;
  top?: Record<string, unknown>;
  info?: Record<string, unknown>;
  quick?: Record<string, unknown>;
  full?: Record<string, unknown>;
  /** Keep DeviceGatheredInfo / AvScanResults as objects instead of JSON strings. */
  nestedAsObjects?: boolean;
}

export function fileRecord(options: FileRecordOptions = {}): Record<string, unknown> {
  const scans = {
    Quick: { ScanStatus: "Completed", ErrorCode: "", Timestamp: "2026-11-30T03:00:00Z", ...options.quick },
    Full: { ScanStatus: "", ErrorCode: "", Timestamp: null, ...options.full },
  };
  const info = {
    AvMode: "0",
    AvSignatureVersion: "1.421.123.0",
    AvEngineVersion: "1.1.24090.11",
    AvPlatformVersion: "4.18.24090.11",
    AvEngineUpdateTime: "2026-11-29T10:00:00Z",
    AvSignatureUpdateTime: "2026-11-30T10:00:00Z",
    AvPlatformUpdateTime: "2026-11-20T10:00:00Z",
    AvSignaturePublishTime: "2026-11-30T08:00:00Z",
    AvIsSignatureUptoDate: "True",
    AvIsEngineUptodate: "True",
    AvIsPlatformUptodate: "False",
    CloudProtectionState: "Enabled",
    AvSignatureDataRefreshTime: "2026-11-30T12:00:00Z",
    AvModeDataRefreshTime: "2026-11-30T12:00:00Z",
    AvScanResults: options.nestedAsObjects ? scans : JSON.stringify(scans),
    ...options.info,
  };
  return {
    DeviceId: options.deviceId ?? "30a8fa2826abf24d24379b23f8a44d471f00feab",
    DeviceName: "host-17.contoso.com",
    OsPlatform: "Windows11",
    OsVersion: "10.0.22631.4317",
    LastSeenTime: "2026-11-30T12:44:02Z",
    RbacGroupId: 412,
    RbacGroupName: "Servers-EU",
    Timestamp: "2026-12-01T02:00:00Z",
    DeviceGatheredInfo: options.nestedAsObjects ? info : JSON.stringify(info),
    ...options.top,
  };
}

const PLATFORMS = ["Windows10", "Windows11", "WindowsServer2019", "WindowsServer2022", "Linux", "macOS"];
const BOOLS = ["True", "False", "Unknown", true, false];

/** A deterministic, varied file record for device number `i` (~1 KB as a line). */
export function variedFileRecord(i: number): Record<string, unknown> {
  const pick = <T>(list: readonly T[], salt: number): T => list[(i * 2654435761 + salt) % list.length >>> 0]!;
  const platform = pick(PLATFORMS, 1);
  const unix = platform === "Linux" || platform === "macOS";
  return fileRecord({
    deviceId: (i * 2654435761 >>> 0).toString(16).padStart(8, "0") + i.toString(16).padStart(32, "0"),
    top: {
      OsPlatform: platform,
      DeviceName: `host-${i}.contoso.com`,
      LastSeenTime: new Date(Date.UTC(2026, 10, 30) - (i % 45) * 86_400_000).toISOString(),
      RbacGroupId: 400 + (i % 7),
      RbacGroupName: `Group/${i % 7}`,
    },
    info: {
      AvMode: pick(["0", "1", "2", "", "4", "5"], 2),
      AvSignatureVersion: `1.421.${100 + (i % 12)}.0`,
      AvIsSignatureUptoDate: pick(BOOLS, 3),
      AvIsEngineUptodate: pick(BOOLS, 4),
      AvIsPlatformUptodate: pick(BOOLS, 5),
      AvSignatureUpdateTime: new Date(Date.UTC(2026, 10, 30) - (i % 40) * 86_400_000).toISOString(),
    },
    quick: unix ? { ScanStatus: "-", ErrorCode: "-", Timestamp: "-" } : { ScanStatus: pick(["Completed", "Failed", "Cancelled"], 6) },
  });
}

export function gzipLines(lines: readonly string[], eol = "\n"): Buffer {
  return gzipSync(Buffer.from(lines.join(eol) + eol));
}

/** A Readable over `buffer`, in chunks of `chunk` bytes (to exercise boundaries). */
export function streamOf(buffer: Buffer, chunk = 64 * 1024): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < buffer.length; i += chunk) parts.push(buffer.subarray(i, i + chunk));
  return Readable.from(parts, { objectMode: false });
}

/** A canonical record with every field set to something ordinary, for the aggregation tests. */
export function canonical(overrides: Partial<DeviceHealthRecord> & { machineId: string }): DeviceHealthRecord {
  return {
    computerDnsName: `${overrides.machineId}.contoso.com`,
    osPlatform: "Windows11",
    osVersion: "10.0.22631.4317",
    osKind: "windows",
    lastSeenTime: "2026-12-01T01:00:00Z",
    rbacGroupId: 412,
    rbacGroupName: "Servers-EU",
    dataRefreshTimestamp: "2026-12-01T02:00:00Z",
    avMode: "0",
    avSignatureVersion: "1.421.123.0",
    avEngineVersion: "1.1.24090.11",
    avPlatformVersion: "4.18.24090.11",
    avSignatureUpdateTime: "2026-12-01T00:00:00Z",
    avEngineUpdateTime: null,
    avPlatformUpdateTime: null,
    avSignaturePublishTime: null,
    avIsSignatureUpToDate: "True",
    avIsEngineUpToDate: "True",
    avIsPlatformUpToDate: "True",
    cloudProtectionState: "Enabled",
    quickScanResult: "Completed",
    quickScanError: null,
    quickScanTime: null,
    fullScanResult: null,
    fullScanError: null,
    fullScanTime: null,
    ...overrides,
  };
}

/** A device's kept summary with ids resolved to their strings, for comparing sets. */
export function resolved(set: DeviceSet, machineId: string): Record<string, unknown> | undefined {
  const s = set.get(machineId);
  if (s === undefined) return undefined;
  const text = (id: number) => set.values.value(id);
  return {
    ...s,
    osPlatform: text(s.osPlatform),
    avMode: text(s.avMode),
    rbacGroup: text(s.rbacGroup),
    cloudProtectionState: text(s.cloudProtectionState),
    avSignatureVersion: text(s.avSignatureVersion),
    avEngineVersion: text(s.avEngineVersion),
    avPlatformVersion: text(s.avPlatformVersion),
    quickScanResult: text(s.quickScanResult),
    fullScanResult: text(s.fullScanResult),
  } satisfies Record<keyof DeviceSummary, unknown>;
}
