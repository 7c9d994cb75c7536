/**
 * The simulated tenant's vocabulary: platforms and OS builds, device-group names, and the antivirus
 * version catalogs (newest first, so a Zipf rank is an age).
 */
import type { OsKind } from "../../shared/health/record.js";

export interface PlatformSpec {
  name: string;
  weight: number;
  /** OS builds, most common first. */
  versions: readonly string[];
  hostPrefix: string;
  /** Which antivirus platform-version family the platform reports. */
  family: "windows" | "unix";
}

export const PLATFORMS: readonly PlatformSpec[] = [
  {
    name: "Windows10",
    weight: 30,
    versions: ["10.0.19045.5131", "10.0.19045.5011", "10.0.19045.4894", "10.0.19044.5131", "10.0.19045.4780", "10.0.19043.2364", "10.0.18363.2274"],
    hostPrefix: "desktop",
    family: "windows",
  },
  {
    name: "Windows11",
    weight: 34,
    versions: ["10.0.26100.2314", "10.0.22631.4460", "10.0.22631.4317", "10.0.26100.2161", "10.0.22621.4460", "10.0.22000.2538"],
    hostPrefix: "laptop",
    family: "windows",
  },
  {
    name: "WindowsServer2016",
    weight: 3,
    versions: ["10.0.14393.7515", "10.0.14393.7428", "10.0.14393.6452"],
    hostPrefix: "srv16",
    family: "windows",
  },
  {
    name: "WindowsServer2019",
    weight: 8,
    versions: ["10.0.17763.6532", "10.0.17763.6414", "10.0.17763.5936"],
    hostPrefix: "srv19",
    family: "windows",
  },
  {
    name: "WindowsServer2022",
    weight: 9,
    versions: ["10.0.20348.2849", "10.0.20348.2762", "10.0.20348.2527"],
    hostPrefix: "srv22",
    family: "windows",
  },
  {
    name: "WindowsServer2025",
    weight: 3,
    versions: ["10.0.26100.2314", "10.0.26100.2161"],
    hostPrefix: "srv25",
    family: "windows",
  },
  {
    name: "Linux",
    weight: 7,
    versions: ["Ubuntu 22.04", "Ubuntu 24.04", "RHEL 9.4", "RHEL 8.10", "Debian 12", "SLES 15 SP5", "Amazon Linux 2023"],
    hostPrefix: "lnx",
    family: "unix",
  },
  {
    name: "macOS",
    weight: 5,
    versions: ["15.1", "14.7.1", "15.0.1", "14.6", "13.7.1"],
    hostPrefix: "mac",
    family: "unix",
  },
];

/** osKind as the canonical record derives it from osPlatform. */
export function osKindOf(platform: string | null): OsKind {
  if (platform === null) return "other";
  if (platform.startsWith("Windows")) return "windows";
  if (platform === "Linux") return "linux";
  if (platform === "macOS") return "mac";
  return "other";
}

/** Every one of these is in every dataset: they break naive keys, paths, URLs and CSV. */
export const AWKWARD_GROUP_NAMES: readonly string[] = [
  "Serveurs/Paris #1",
  "Ünïcode ✓",
  "Q?A",
  "Back\\slash",
  'Quote "x"',
  "Percent %2F",
  "Labs 🧪",
];

export const PLAIN_GROUP_NAMES: readonly string[] = [
  "Servers-EU",
  "Workstations",
  "Finance",
  "Developers",
  "Kiosks",
  "Domain Controllers",
  "Sales – EMEA",
  "Lab & Test",
  "VDI pool",
  "Executives",
  "Remote workers",
  "Build agents",
];

export const DOMAINS: readonly string[] = ["contoso.com", "corp.contoso.com", "eu.contoso.com", "fabrikam.net"];

export const SCAN_ERROR_CODES: readonly string[] = ["0x80508023", "0x80508026", "0x80070005", "0x8050800c", "0x80508020"];

const DAY = 86_400;
const HOUR = 3_600;
/** A new security-intelligence version every 8 hours. */
export const SIGNATURE_STEP = 8 * HOUR;
/** Anchor for signature numbering: 1.421.x was current in November 2024. */
const SIGNATURE_ANCHOR_SLOT = Math.floor(Date.UTC(2024, 10, 1) / 1000 / SIGNATURE_STEP);

export interface VersionEntry {
  version: string;
  /** Release (publish) time, epoch seconds. */
  released: number;
  /** The same, ISO 8601 (shared by every device on this version). */
  releasedIso: string;
}

/** Security-intelligence versions, one every 8 hours, newest first, the newest ~2 h before `now`. */
export function signatureCatalog(now: number, count: number): VersionEntry[] {
  const newestSlot = Math.floor((now - 2 * HOUR) / SIGNATURE_STEP);
  const out: VersionEntry[] = [];
  for (let r = 0; r < count; r++) {
    const slot = newestSlot - r;
    const minor = Math.max(1, 421 + Math.floor((slot - SIGNATURE_ANCHOR_SLOT) / 48));
    const build = (((slot % 48) + 48) % 48) * 37 + 5;
    const released = slot * SIGNATURE_STEP;
    out.push({ version: `1.${minor}.${build}.0`, released, releasedIso: isoSeconds(released) });
  }
  return out;
}

/** Monthly releases, newest first (last month's first): `format(yy, mm, k)` builds the version. */
export function monthlyCatalog(now: number, count: number, format: (yy: string, mm: string, k: number) => string): VersionEntry[] {
  const d = new Date(now * 1000);
  const out: VersionEntry[] = [];
  for (let r = 0; r < count; r++) {
    const month = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 1 - r, 10));
    const yy = String(month.getUTCFullYear() % 100).padStart(2, "0");
    const mm = String(month.getUTCMonth() + 1).padStart(2, "0");
    const k = month.getUTCFullYear() * 12 + month.getUTCMonth();
    const released = Math.floor(month.getTime() / 1000);
    out.push({ version: format(yy, mm, k), released, releasedIso: isoSeconds(released) });
  }
  return out;
}

export const engineVersion = (yy: string, mm: string, k: number): string => `1.1.${yy}${mm}0.${(k * 7) % 9 + 1}`;
export const windowsPlatformVersion = (yy: string, mm: string, k: number): string => `4.18.${yy}${mm}0.${(k * 5) % 11 + 2}`;
export const unixPlatformVersion = (yy: string, mm: string, k: number): string =>
  `101.${yy}${mm}${(k % 3) + 1}.${String(((k * 13) % 30) + 1).padStart(4, "0")}`;

const dayPrefixes = new Map<number, number[]>();
const isoCodes = new Array<number>(20).fill(0);
/** The day whose prefix isoCodes holds. */
let isoDay = Number.NaN;

/**
 * `YYYY-MM-DDTHH:mm:ssZ` for epoch seconds, as one flat string: the generator keeps millions, and
 * a Date or a concatenation per call costs several objects each.
 */
export function isoSeconds(epochSeconds: number): string {
  const day = Math.floor(epochSeconds / DAY);
  if (day !== isoDay) {
    let prefix = dayPrefixes.get(day);
    if (prefix === undefined) {
      prefix = Array.from(new Date(day * DAY * 1000).toISOString().slice(0, 11), (c) => c.charCodeAt(0));
      dayPrefixes.set(day, prefix);
    }
    for (let i = 0; i < 11; i++) isoCodes[i] = prefix[i]!;
    isoDay = day;
  }
  let s = epochSeconds - day * DAY;
  const hh = Math.floor(s / HOUR);
  s -= hh * HOUR;
  const mm = Math.floor(s / 60);
  s -= mm * 60;
  isoCodes[11] = 48 + Math.floor(hh / 10);
  isoCodes[12] = 48 + (hh % 10);
  isoCodes[13] = 58;
  isoCodes[14] = 48 + Math.floor(mm / 10);
  isoCodes[15] = 48 + (mm % 10);
  isoCodes[16] = 58;
  isoCodes[17] = 48 + Math.floor(s / 10);
  isoCodes[18] = 48 + (s % 10);
  isoCodes[19] = 90;
  return String.fromCharCode.apply(null, isoCodes);
}
