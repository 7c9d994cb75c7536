/**
 * One device record as the export files write it: PascalCase, `DeviceGatheredInfo` JSON-encoded
 * in a string (or not), `AvScanResults` JSON-encoded inside that (or not), and the quirks the
 * row's flags ask for. Written straight into a ByteWriter, escaping by nesting level.
 */
import type { DeviceHealthRecord, UpToDate } from "../../shared/health/record.js";
import type { ByteWriter } from "./byteWriter.js";
import { isoSeconds } from "./catalog.js";
import type { Prng } from "./prng.js";

// Content flags change the truth; style flags only how a record is written.
export const NO_GATHERED_INFO = 1 << 0;
export const NO_SCAN_RESULTS = 1 << 1;
export const NO_FULL_SCAN = 1 << 2;
export const DASH_SCANS = 1 << 3;
export const CONTENT_FLAGS = NO_GATHERED_INFO | NO_SCAN_RESULTS | NO_FULL_SCAN | DASH_SCANS;
export const GATHERED_INFO_OBJECT = 1 << 8;
export const SCAN_RESULTS_OBJECT = 1 << 9;
export const BOOLEANS = 1 << 10;
export const EXTRA_COLUMNS = 1 << 11;
export const UNKNOWN_LITERAL = 1 << 12;
export const ABSENT_AS_MISSING = 1 << 13;
export const ABSENT_AS_NULL = 1 << 14;

export interface ExportGroup {
  id: number;
  name: string;
  /** The id as written. */
  idText: string;
  /** The name as a JSON string literal, UTF-8 (names hold quotes, backslashes, non-ASCII). */
  nameJson: Buffer;
}

/** A record to write: the canonical content, the group file it goes to, and how to write it. */
export interface ExportRow {
  rec: DeviceHealthRecord;
  group: ExportGroup;
  /** AvSignatureDataRefreshTime / AvModeDataRefreshTime (epoch seconds, -1: none): not in the canonical record. */
  avRefresh: number;
  flags: number;
}

/** The quote character at each nesting of JSON-in-a-string: ", \", \\\". */
const QUOTES = ['"', '\\"', '\\\\\\"'] as const;

export class ExportRecordWriter {
  private level = 0;
  private first = true;
  private flags = 0;

  constructor(
    private readonly w: ByteWriter,
    private readonly rng: Prng,
    private readonly quirks: boolean,
  ) {}

  write(row: ExportRow): void {
    const r = row.rec;
    const quirks = this.quirks;
    const f = quirks ? row.flags : 0;
    this.flags = f;
    this.level = 0;

    this.open();
    this.key("DeviceId");
    this.quoted(r.machineId);
    this.str("DeviceName", r.computerDnsName);
    this.str("OsPlatform", r.osPlatform);
    this.str("OsVersion", r.osVersion);
    this.time("LastSeenTime", r.lastSeenTime);
    this.key("RbacGroupId");
    this.w.ascii(row.group.idText);
    this.key("RbacGroupName");
    this.w.bytes(row.group.nameJson);
    this.time("Timestamp", r.dataRefreshTimestamp);
    if (f & EXTRA_COLUMNS) this.extraTopColumns();

    if (f & NO_GATHERED_INFO) {
      this.missingOrNull("DeviceGatheredInfo");
      this.close();
      return;
    }
    this.key("DeviceGatheredInfo");
    const infoInString = (f & GATHERED_INFO_OBJECT) === 0;
    if (infoInString) {
      this.w.ascii(QUOTES[0]);
      this.level = 1;
    }
    this.open();
    if (r.avMode === "" && quirks) {
      if (this.rng.chance(0.6)) {
        this.key("AvMode");
        this.quoted("");
      } else {
        this.missingOrNull("AvMode");
      }
    } else {
      this.key("AvMode");
      this.quoted(r.avMode);
    }
    this.str("AvSignatureVersion", r.avSignatureVersion);
    this.str("AvEngineVersion", r.avEngineVersion);
    this.str("AvPlatformVersion", r.avPlatformVersion);
    this.time("AvEngineUpdateTime", r.avEngineUpdateTime);
    this.time("AvSignatureUpdateTime", r.avSignatureUpdateTime);
    this.time("AvPlatformUpdateTime", r.avPlatformUpdateTime);
    this.time("AvSignaturePublishTime", r.avSignaturePublishTime);
    this.upToDate("AvIsSignatureUptoDate", r.avIsSignatureUpToDate);
    this.upToDate("AvIsEngineUptodate", r.avIsEngineUpToDate);
    this.upToDate("AvIsPlatformUptodate", r.avIsPlatformUpToDate);
    this.str("CloudProtectionState", r.cloudProtectionState);
    const refreshed = row.avRefresh < 0 ? null : isoSeconds(row.avRefresh);
    this.time("AvSignatureDataRefreshTime", refreshed);
    this.time("AvModeDataRefreshTime", refreshed);

    if (f & NO_SCAN_RESULTS) {
      this.missingOrNull("AvScanResults");
    } else {
      this.key("AvScanResults");
      const outer = this.level;
      const scansInString = (f & SCAN_RESULTS_OBJECT) === 0;
      if (scansInString) {
        this.w.ascii(QUOTES[outer]!);
        this.level = outer + 1;
      }
      this.open();
      this.scan("Quick", r.quickScanResult, r.quickScanError, r.quickScanTime);
      if (f & NO_FULL_SCAN) this.missingOrNull("Full");
      else this.scan("Full", r.fullScanResult, r.fullScanError, r.fullScanTime);
      this.close();
      this.level = outer;
      if (scansInString) this.w.ascii(QUOTES[outer]!);
    }
    if (f & EXTRA_COLUMNS) {
      this.key("AvEngineRing");
      this.quoted("Current");
      this.key("TamperProtection");
      this.open();
      this.key("Enabled");
      this.w.ascii(this.rng.chance(0.8) ? "true" : "false");
      this.close();
    }
    this.close();
    this.level = 0;
    if (infoInString) this.w.ascii(QUOTES[0]);
    this.close();
  }

  private open(): void {
    this.w.byte(0x7b);
    this.first = true;
  }

  private close(): void {
    this.w.byte(0x7d);
    this.first = false;
  }

  private key(name: string): void {
    if (!this.first) this.w.byte(0x2c);
    this.first = false;
    const q = QUOTES[this.level]!;
    this.w.ascii(q);
    this.w.ascii(name);
    this.w.ascii(q);
    this.w.byte(0x3a);
  }

  /** A string value; ours never need escaping (versions, times, codes, ASCII host names). */
  private quoted(value: string): void {
    const q = QUOTES[this.level]!;
    this.w.ascii(q);
    this.w.ascii(value);
    this.w.ascii(q);
  }

  private str(name: string, value: string | null): void {
    if (value === null) {
      this.absent(name, false);
    } else {
      this.key(name);
      this.quoted(value);
    }
  }

  private time(name: string, value: string | null): void {
    if (value === null) {
      this.absent(name, true);
    } else {
      this.key(name);
      this.quoted(value);
    }
  }

  /** A value the canonical record holds as null: missing, null or "" (a reader maps all three to null). */
  private absent(name: string, isTime: boolean): void {
    let form: "documented" | "missing" | "other";
    if (!this.quirks) form = "documented";
    else if (this.flags & ABSENT_AS_MISSING) form = "missing";
    else if (this.flags & ABSENT_AS_NULL) form = isTime ? "documented" : "other";
    else {
      // Mostly the documented shape ("" for strings, null for times); sometimes missing or the other form.
      const u = this.rng.next();
      form = u < 0.8 ? "documented" : u < 0.9 ? "missing" : "other";
    }
    if (form === "missing") return;
    this.key(name);
    if ((form === "documented") === isTime) this.w.ascii("null");
    else this.quoted("");
  }

  private upToDate(name: string, value: UpToDate): void {
    if (value === "Unknown") {
      if (this.quirks && !(this.flags & UNKNOWN_LITERAL)) {
        const u = this.rng.next();
        if (u >= 0.85) return;
        if (u >= 0.7) {
          this.key(name);
          this.w.ascii("null");
          return;
        }
      }
      this.key(name);
      this.quoted("Unknown");
    } else if (this.flags & BOOLEANS) {
      this.key(name);
      this.w.ascii(value === "True" ? "true" : "false");
    } else {
      this.key(name);
      this.quoted(value);
    }
  }

  private missingOrNull(name: string): void {
    if (this.rng.chance(0.5)) return;
    this.key(name);
    this.w.ascii("null");
  }

  private scan(name: string, result: string | null, error: string | null, at: string | null): void {
    this.key(name);
    this.open();
    if (this.flags & DASH_SCANS) {
      this.key("ScanStatus");
      this.quoted("-");
      this.key("ErrorCode");
      this.quoted("-");
      this.key("Timestamp");
      this.quoted("-");
    } else {
      this.str("ScanStatus", result);
      this.str("ErrorCode", error);
      this.time("Timestamp", at);
    }
    this.close();
  }

  private extraTopColumns(): void {
    const rng = this.rng;
    this.key("OsArchitecture");
    this.quoted(rng.chance(0.9) ? "x64" : "arm64");
    if (rng.chance(0.5)) {
      this.key("MachineTags");
      this.w.ascii(`["tier-${rng.between(0, 2)}","simulated"]`);
    }
    if (rng.chance(0.3)) {
      this.key("ExposureLevel");
      this.quoted(rng.pick(["Low", "Medium", "High"]));
    }
    if (rng.chance(0.2)) {
      this.key("IsExcluded");
      this.w.ascii("false");
      this.key("ExclusionReason");
      this.w.ascii("null");
    }
  }
}
