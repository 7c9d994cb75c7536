/**
 * The one canonical device-health record: the JSON method's camelCase names, whichever method the
 * data came from. The files' PascalCase records (with DeviceGatheredInfo and AvScanResults nested as
 * JSON strings) normalise to this, and so do the JSON method's records.
 */
export type UpToDate = "True" | "False" | "Unknown";
export type OsKind = "windows" | "linux" | "mac" | "other";

/** avMode codes as the API sends them ("" and "3" both mean Other). */
export const AV_MODES: Readonly<Record<string, string>> = {
  "": "Other",
  "0": "Active",
  "1": "Passive",
  "2": "Disabled",
  "3": "Other",
  "4": "EDRBlocked",
  "5": "PassiveAudit",
};

export interface DeviceHealthRecord {
  machineId: string;
  computerDnsName: string | null;
  osPlatform: string | null;
  osVersion: string | null;
  /** Derived from osPlatform. */
  osKind: OsKind;
  /** ISO 8601 timestamps, as given (null when missing, empty or a "-" placeholder). */
  lastSeenTime: string | null;
  rbacGroupId: number | null;
  rbacGroupName: string | null;
  dataRefreshTimestamp: string | null;
  /** The code as sent ("0".."5", or "" when empty or missing); see AV_MODES. */
  avMode: string;
  avSignatureVersion: string | null;
  avEngineVersion: string | null;
  avPlatformVersion: string | null;
  avSignatureUpdateTime: string | null;
  avEngineUpdateTime: string | null;
  avPlatformUpdateTime: string | null;
  avSignaturePublishTime: string | null;
  avIsSignatureUpToDate: UpToDate;
  avIsEngineUpToDate: UpToDate;
  avIsPlatformUpToDate: UpToDate;
  cloudProtectionState: string | null;
  quickScanResult: string | null;
  quickScanError: string | null;
  quickScanTime: string | null;
  fullScanResult: string | null;
  fullScanError: string | null;
  fullScanTime: string | null;
}
