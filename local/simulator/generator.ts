/**
 * The deterministic generator of the simulated Defender tenant's antivirus-health export: the same
 * options give byte-identical files and the same truth on every machine. The files carry every
 * quirk of `reference/defender-export-api-facts.md` (switch them off with `quirks: false`); the
 * truth is what a correct reader makes of them.
 */
import { gzipSync } from "node:zlib";
import type { DeviceHealthRecord, UpToDate } from "../../shared/health/record.js";
import { ByteWriter } from "./byteWriter.js";
import {
  AWKWARD_GROUP_NAMES,
  DOMAINS,
  PLAIN_GROUP_NAMES,
  PLATFORMS,
  SCAN_ERROR_CODES,
  SIGNATURE_STEP,
  engineVersion,
  isoSeconds,
  monthlyCatalog,
  osKindOf,
  signatureCatalog,
  unixPlatformVersion,
  windowsPlatformVersion,
  type PlatformSpec,
  type VersionEntry,
} from "./catalog.js";
import type { SimulatedDataset, SimulatedExportFile } from "./dataset.js";
import {
  ABSENT_AS_MISSING,
  ABSENT_AS_NULL,
  BOOLEANS,
  CONTENT_FLAGS,
  DASH_SCANS,
  EXTRA_COLUMNS,
  ExportRecordWriter,
  GATHERED_INFO_OBJECT,
  NO_FULL_SCAN,
  NO_GATHERED_INFO,
  NO_SCAN_RESULTS,
  SCAN_RESULTS_OBJECT,
  UNKNOWN_LITERAL,
  type ExportGroup,
  type ExportRow,
} from "./exportRecord.js";
import { Prng, WeightedPicker, ZipfSampler, streamSeed } from "./prng.js";

export const DEFAULT_GENERATED_TIME = "2026-12-01T02:00:00Z";
export const DEFAULT_RECORDS_PER_FILE = 5000;
/** With quirks on, every record-level quirk is guaranteed from this many devices on (file-level ones from one file). */
export const MIN_DEVICES_FOR_ALL_QUIRKS = 15;

/** Damage done to the data itself (the tenant's per-request faults live elsewhere). */
export interface DataFaults {
  /**
   * Lines that are not JSON (a record cut short, a trailing comma, plain text, two objects on one
   * line), added at random places in random files; counted in each file's `malformedLines`.
   */
  malformedLines?: number;
  /** One file's body is replaced by zero bytes (its `records` and `malformedLines` become 0). */
  emptyFile?: boolean;
  /**
   * One other file's gzip is cut inside its last member (earlier members stay readable). Its
   * `records` and `malformedLines` still describe the content it was generated with.
   */
  truncatedGzipFile?: boolean;
}

export interface GenerateOptions {
  seed: number;
  /** Number of distinct devices (the truth's length). */
  devices: number;
  /** ISO 8601, whole minutes; default DEFAULT_GENERATED_TIME (never the wall clock). */
  generatedTime?: string;
  /** At most this many records per file; files are split per device group, then into parts. */
  recordsPerFile?: number;
  /** Every quirk of the real export (default true); false gives clean, documented-shape files. */
  quirks?: boolean;
  faults?: DataFaults;
}

/** Which files the data faults damaged, for tests to expect the right failure. */
export interface FaultReport {
  /** Path of the file served as zero bytes, or null. */
  emptyFile: string | null;
  /** Path of the file whose gzip ends early, or null. */
  truncatedGzipFile: string | null;
  /** Malformed lines over all files (the sum of `files[].malformedLines`). */
  malformedLines: number;
}

/** Generates the snapshot, data faults included (see `generateFaultedDataset` for which files). */
export function generateDataset(options: GenerateOptions): SimulatedDataset {
  return generateFaultedDataset(options).dataset;
}

/** Generates the snapshot and reports which files its data faults damaged. */
export function generateFaultedDataset(options: GenerateOptions): { dataset: SimulatedDataset; faulted: FaultReport } {
  const ctx = createContext(options);
  const { devices, groupRows } = generateDevices(ctx);
  const plans = planFiles(ctx, groupRows);
  assignFileQuirks(ctx, plans);
  assignMalformedLines(ctx, plans, options.faults?.malformedLines ?? 0);

  const renderer = createFileRenderer(ctx);
  const files = plans.map((plan) => renderFile(renderer, plan));

  const sorted = sortByMachineId(devices);
  for (let i = 1; i < sorted.length; i++) {
    // NOTE: 160 random bits per id; a repeat would mean a broken generator, not bad luck.
    if (sorted[i]!.machineId === sorted[i - 1]!.machineId) throw new Error(`generator produced machineId ${sorted[i]!.machineId} twice`);
  }
  const dataset: SimulatedDataset = {
    seed: ctx.seed,
    deviceCount: sorted.length,
    generatedTime: ctx.generatedTime,
    files,
    devices: sorted,
  };
  return applyFileFaults(dataset, {
    emptyFile: options.faults?.emptyFile ?? false,
    truncatedGzipFile: options.faults?.truncatedGzipFile ?? false,
  });
}

/** Where each file's last gzip member starts, so a truncation can land inside it. */
const lastMemberStart = new WeakMap<Buffer, number>();

/**
 * Damages bodies of a generated dataset: one file emptied, one other file's gzip cut short. Returns
 * a new dataset (the input is not changed; undamaged bodies are shared) and the report. Which files
 * is decided by the dataset's seed.
 */
export function applyFileFaults(
  dataset: SimulatedDataset,
  faults: Pick<DataFaults, "emptyFile" | "truncatedGzipFile">,
): { dataset: SimulatedDataset; faulted: FaultReport } {
  const rng = new Prng(streamSeed(dataset.seed, "file-faults"));
  const files = dataset.files.slice();
  const candidates = files.flatMap((f, i) => (f.body.length > 0 ? [i] : []));
  const take = (what: string): number => {
    if (candidates.length === 0) {
      throw new RangeError(`applyFileFaults: no non-empty file left for ${what}; generate more devices or a smaller recordsPerFile`);
    }
    return candidates.splice(rng.int(candidates.length), 1)[0]!;
  };
  let emptyFile: string | null = null;
  let truncatedGzipFile: string | null = null;
  if (faults.emptyFile) {
    const i = take("emptyFile");
    files[i] = { ...files[i]!, body: Buffer.alloc(0), records: 0, truth: [], malformedLines: 0 };
    emptyFile = files[i]!.path;
  }
  if (faults.truncatedGzipFile) {
    const i = take("truncatedGzipFile");
    const file = files[i]!;
    const length = file.body.length;
    const start = lastMemberStart.get(file.body);
    // Without a known member start, cutting into the 8-byte trailer is still inside the last member.
    const cut =
      start === undefined || length - start <= 11
        ? length - 1 - rng.int(Math.min(8, length - 1))
        : start + 10 + Math.floor((length - start - 11) * (0.2 + 0.6 * rng.next()));
    files[i] = { ...file, body: Buffer.from(file.body.subarray(0, cut)) };
    truncatedGzipFile = file.path;
  }
  const malformedLines = files.reduce((n, f) => n + f.malformedLines, 0);
  return { dataset: { ...dataset, files }, faulted: { emptyFile, truncatedGzipFile, malformedLines } };
}

/**
 * The JSON method's (`GET /api/deviceavinfo`) shape of a canonical record: its camelCase properties
 * plus `id` (= machineId). With `quirks`, a deterministic tenth of the records (by machineId) omit
 * their null properties and another tenth carry extra, undocumented columns; a correct reader gets
 * the same canonical record back either way.
 */
export function toJsonRecord(record: DeviceHealthRecord, options: { quirks?: boolean } = {}): Record<string, unknown> {
  const out: Record<string, unknown> = { id: record.machineId, ...record };
  if (!options.quirks) return out;
  const h = Number.parseInt(record.machineId.slice(-6), 16) % 10;
  if (h === 0) {
    for (const [key, value] of Object.entries(out)) if (value === null) delete out[key];
  } else if (h === 1) {
    out["exposureLevel"] = "Medium";
    out["osArchitecture"] = "64-bit";
    out["machineTags"] = ["simulated"];
  }
  return out;
}

/**
 * One canonical record as an export file line in the documented shape (no quirks):
 * `DeviceGatheredInfo` and `AvScanResults` as JSON-encoded strings, "" or null for absent values.
 */
export function toFileRecord(record: DeviceHealthRecord): string {
  const writer = new ByteWriter(2048);
  const group: ExportGroup = {
    id: record.rbacGroupId ?? 0,
    name: record.rbacGroupName ?? "",
    idText: String(record.rbacGroupId),
    nameJson: Buffer.from(JSON.stringify(record.rbacGroupName), "utf8"),
  };
  new ExportRecordWriter(writer, new Prng(0), false).write({ rec: record, group, avRefresh: -1, flags: 0 });
  return writer.view().toString("utf8");
}

export interface FillerOptions {
  files: number;
  /** Every file has exactly this size. */
  bytesPerFile: number;
  seed?: number;
  generatedTime?: string;
  /** Device groups the files are spread over (default 8). */
  groups?: number;
}

/**
 * Files of pseudo-random filler for the copy benchmark, fast and light: the bodies are overlapping
 * windows of one random buffer, each starting with gzip magic and its own header (so every file
 * differs, with a distinct MD5), and the memory is about one file's size. The bodies share memory:
 * treat them as read-only (copy one before changing it). The content is not valid gzip and holds no
 * records; `devices` is empty.
 */
export function fillerDataset(options: FillerOptions): SimulatedDataset {
  const seed = options.seed ?? 1;
  checkInteger("files", options.files, 0);
  checkInteger("bytesPerFile", options.bytesPerFile, 1);
  const generatedTime = checkGeneratedTime(options.generatedTime ?? DEFAULT_GENERATED_TIME);
  const rng = new Prng(streamSeed(seed, "filler"));
  const stride = FILLER_HEADER;
  const shared = Buffer.allocUnsafeSlow(options.bytesPerFile + Math.max(0, options.files - 1) * stride);
  fillRandom(shared, rng);

  const groupCount = Math.max(1, Math.min(options.groups ?? 8, options.files));
  const groupIds = Array.from({ length: groupCount }, (_, g) => 1001 + g * 17);
  const paths = pathBuilder(generatedTime, new Prng(streamSeed(seed, "filler-names")));
  const files: SimulatedExportFile[] = [];
  for (let i = 0; i < options.files; i++) {
    const start = i * stride;
    const header = Buffer.alloc(FILLER_HEADER);
    header.set([0x1f, 0x8b, 0x08, 0x00], 0);
    header.writeUInt32LE(i, 4);
    header.writeUInt32LE(seed >>> 0, 8);
    header.writeUInt32LE(rng.uint32(), 12);
    header.copy(shared, start, 0, Math.min(FILLER_HEADER, options.bytesPerFile));
    const groupId = groupIds[i % groupCount]!;
    files.push({
      path: paths.file(groupId, Math.floor(i / groupCount)),
      rbacGroupId: groupId,
      body: shared.subarray(start, start + options.bytesPerFile),
      records: 0,
      truth: [],
      malformedLines: 0,
    });
  }
  return { seed, deviceCount: 0, generatedTime, files, devices: [] };
}

const FILLER_HEADER = 16;
const FILLER_RANDOM_BLOCK = 4 * 1024 * 1024;

/** Pseudo-random bytes: a 4 MiB random block, then copies of it (memcpy speed). */
function fillRandom(buf: Buffer, rng: Prng): void {
  const block = Math.min(buf.length, FILLER_RANDOM_BLOCK);
  for (let i = 0; i < block; i++) buf[i] = rng.uint32() & 0xff;
  for (let filled = block; filled < buf.length; filled *= 2) buf.copy(buf, filled, 0, Math.min(filled, buf.length - filled));
}

// ---------------------------------------------------------------------------------------------
// Generation

const DAY = 86_400;
const HOUR = 3_600;

interface Forced {
  flags?: number;
  platform?: string;
  duplicate?: 0 | 1 | 2;
  /** Some fields null (written as the absent-as flag says). */
  nulls?: boolean;
  /** true: all three up-to-date values Unknown; false: none. */
  unknown?: boolean;
}

/** The first devices carry one quirk each, so a small dataset still has every quirk. */
const FORCED: readonly Forced[] = [
  { flags: GATHERED_INFO_OBJECT },
  { flags: SCAN_RESULTS_OBJECT },
  { flags: GATHERED_INFO_OBJECT | SCAN_RESULTS_OBJECT },
  { flags: BOOLEANS, unknown: false },
  { flags: EXTRA_COLUMNS },
  { flags: DASH_SCANS, platform: "macOS" },
  { flags: DASH_SCANS, platform: "Linux" },
  { flags: UNKNOWN_LITERAL, unknown: true },
  { flags: ABSENT_AS_MISSING, nulls: true },
  { flags: ABSENT_AS_NULL, nulls: true },
  { duplicate: 1 },
  { duplicate: 2 },
  { duplicate: 0 },
  { flags: NO_GATHERED_INFO },
  { flags: NO_SCAN_RESULTS },
];

type NullableKey = { [K in keyof DeviceHealthRecord]: null extends DeviceHealthRecord[K] ? K : never }[keyof DeviceHealthRecord];

/** Fields a quirky device may lack, with how often. */
const BLANKED: readonly (readonly [NullableKey, number])[] = [
  ["computerDnsName", 0.004],
  ["osVersion", 0.005],
  ["avSignatureVersion", 0.01],
  ["avEngineVersion", 0.01],
  ["avPlatformVersion", 0.01],
  ["avSignatureUpdateTime", 0.02],
  ["avEngineUpdateTime", 0.02],
  ["avPlatformUpdateTime", 0.02],
  ["avSignaturePublishTime", 0.02],
];

interface Context {
  seed: number;
  deviceCount: number;
  generatedTime: string;
  now: number;
  recordsPerFile: number;
  quirks: boolean;
  paths: PathBuilder;
  groups: ExportGroup[];
  groupPicker: WeightedPicker<number>;
  platformPicker: WeightedPicker<PlatformSpec>;
  osVersionSamplers: Map<PlatformSpec, ZipfSampler>;
  signatures: VersionEntry[];
  signatureRanks: ZipfSampler;
  engines: VersionEntry[];
  windowsPlatforms: VersionEntry[];
  unixPlatforms: VersionEntry[];
  releaseRanks: ZipfSampler;
  windowsModes: WeightedPicker<string>;
  unixModes: WeightedPicker<string>;
  cloudStates: WeightedPicker<string | null>;
  quickScans: WeightedPicker<string | null>;
  fullScans: WeightedPicker<string | null>;
}

function createContext(options: GenerateOptions): Context {
  if (!Number.isSafeInteger(options.seed)) throw new RangeError(`seed must be a safe integer, got ${options.seed}`);
  checkInteger("devices", options.devices, 0);
  const recordsPerFile = options.recordsPerFile ?? DEFAULT_RECORDS_PER_FILE;
  checkInteger("recordsPerFile", recordsPerFile, 1);
  checkInteger("faults.malformedLines", options.faults?.malformedLines ?? 0, 0);
  const generatedTime = checkGeneratedTime(options.generatedTime ?? DEFAULT_GENERATED_TIME);
  const now = Date.parse(generatedTime) / 1000;

  const rng = new Prng(streamSeed(options.seed, "tenant"));
  const groupCount = rng.between(8, 15);
  const plain = PLAIN_GROUP_NAMES.slice();
  const names = [...AWKWARD_GROUP_NAMES];
  while (names.length < groupCount) names.push(plain.splice(rng.int(plain.length), 1)[0]!);
  shuffle(names, rng);
  const ids = new Set<number>();
  while (ids.size < groupCount) ids.add(rng.chance(0.5) ? rng.between(1, 999) : rng.between(1000, 99_999));
  const groups = [...ids].map(
    (id, i): ExportGroup => ({ id, name: names[i]!, idText: String(id), nameJson: Buffer.from(JSON.stringify(names[i]), "utf8") }),
  );

  return {
    seed: options.seed,
    deviceCount: options.devices,
    generatedTime,
    now,
    recordsPerFile,
    quirks: options.quirks ?? true,
    paths: pathBuilder(generatedTime, new Prng(streamSeed(options.seed, "names"))),
    groups,
    groupPicker: new WeightedPicker(groups.map((_, i) => [i, 1 / Math.pow(i + 1, 0.8)] as const)),
    platformPicker: new WeightedPicker(PLATFORMS.map((p) => [p, p.weight] as const)),
    osVersionSamplers: new Map(PLATFORMS.map((p) => [p, new ZipfSampler(p.versions.length, 1.3)])),
    signatures: signatureCatalog(now, 600),
    signatureRanks: new ZipfSampler(600, 1.1),
    engines: monthlyCatalog(now, 36, engineVersion),
    windowsPlatforms: monthlyCatalog(now, 36, windowsPlatformVersion),
    unixPlatforms: monthlyCatalog(now, 36, unixPlatformVersion),
    releaseRanks: new ZipfSampler(36, 1.4),
    windowsModes: new WeightedPicker([["0", 70], ["1", 12], ["2", 4], ["3", 2], ["4", 5], ["5", 4], ["", 3]]),
    unixModes: new WeightedPicker([["0", 80], ["1", 12], ["2", 3], ["", 5]]),
    cloudStates: new WeightedPicker([["Enabled", 75], ["Disabled", 8], ["NotReported", 12], [null, 5]]),
    quickScans: new WeightedPicker([["Completed", 80], ["Failed", 5], ["Cancelled", 4], [null, 11]]),
    fullScans: new WeightedPicker([["Completed", 30], ["Failed", 4], ["Cancelled", 5], [null, 61]]),
  };
}

function generateDevices(ctx: Context): { devices: DeviceHealthRecord[]; groupRows: ExportRow[][] } {
  const rng = new Prng(streamSeed(ctx.seed, "devices"));
  const devices: DeviceHealthRecord[] = [];
  const groupRows: ExportRow[][] = ctx.groups.map(() => []);
  const platformByName = new Map(PLATFORMS.map((p) => [p.name, p]));
  for (let i = 0; i < ctx.deviceCount; i++) {
    const forced = ctx.quirks ? FORCED[i] : undefined;
    const spec = (forced?.platform === undefined ? undefined : platformByName.get(forced.platform)) ?? ctx.platformPicker.pick(rng);
    const groupIndex = ctx.groupPicker.pick(rng);
    const duplicate = forced ? forced.duplicate : ctx.quirks && rng.chance(0.03) ? rng.int(3) : undefined;
    const row = makeDevice(ctx, rng, i, spec, ctx.groups[groupIndex]!, forced, duplicate !== undefined);
    devices.push(row.rec);
    groupRows[groupIndex]!.push(row);
    if (duplicate !== undefined) {
      const other = (groupIndex + 1 + rng.int(ctx.groups.length - 1)) % ctx.groups.length;
      groupRows[other]!.push(makeOlderCopy(ctx, rng, row, ctx.groups[other]!, duplicate as 0 | 1 | 2));
    }
  }
  return { devices, groupRows };
}

function makeDevice(
  ctx: Context,
  rng: Prng,
  index: number,
  spec: PlatformSpec,
  group: ExportGroup,
  forced: Forced | undefined,
  duplicated: boolean,
): ExportRow {
  const now = ctx.now;
  const machineId = rng.hex(40);
  const osVersion = spec.versions[ctx.osVersionSamplers.get(spec)!.sample(rng)]!;
  const computerDnsName = rng.chance(0.1)
    ? `${spec.hostPrefix.toUpperCase()}-${index}`
    : `${spec.hostPrefix}-${index}.${DOMAINS[rng.int(DOMAINS.length)]}`;

  const seenRoll = rng.next();
  const lastSeen =
    seenRoll < 0.08 ? now - rng.between(8 * DAY, 60 * DAY) : seenRoll < 0.3 ? now - rng.between(DAY, 7 * DAY) : now - rng.int(DAY);
  const refreshed = now - rng.int(6 * HOUR);

  const unix = spec.family === "unix";
  const avMode = (unix ? ctx.unixModes : ctx.windowsModes).pick(rng);
  // A device gets no update while unseen: its versions are at best the newest released before lastSeen.
  const unseenSignatures = Math.max(0, Math.ceil((ctx.signatures[0]!.released - lastSeen) / SIGNATURE_STEP));
  const sigRank = Math.min(ctx.signatures.length - 1, ctx.signatureRanks.sample(rng) + unseenSignatures);
  const platforms = unix ? ctx.unixPlatforms : ctx.windowsPlatforms;
  const engRank = releasedBefore(ctx.engines, ctx.releaseRanks.sample(rng), lastSeen);
  const platRank = releasedBefore(platforms, ctx.releaseRanks.sample(rng), lastSeen);
  const sig = ctx.signatures[sigRank]!;
  const eng = ctx.engines[engRank]!;
  const plat = platforms[platRank]!;
  const unknownChance = avMode === "2" ? 0.3 : 0.03;

  const rec: DeviceHealthRecord = {
    machineId,
    computerDnsName,
    osPlatform: spec.name,
    osVersion,
    osKind: osKindOf(spec.name),
    lastSeenTime: isoSeconds(lastSeen),
    rbacGroupId: group.id,
    rbacGroupName: group.name,
    dataRefreshTimestamp: isoSeconds(refreshed),
    avMode,
    avSignatureVersion: sig.version,
    avEngineVersion: eng.version,
    avPlatformVersion: plat.version,
    avSignatureUpdateTime: updatedAfter(rng, sig.released, 2 * DAY, lastSeen),
    avEngineUpdateTime: updatedAfter(rng, eng.released, 20 * DAY, lastSeen),
    avPlatformUpdateTime: updatedAfter(rng, plat.released, 20 * DAY, lastSeen),
    avSignaturePublishTime: sig.releasedIso,
    avIsSignatureUpToDate: upToDate(rng, sigRank < 9, unknownChance, forced?.unknown),
    avIsEngineUpToDate: upToDate(rng, engRank <= 1, unknownChance, forced?.unknown),
    avIsPlatformUpToDate: upToDate(rng, platRank <= 1, unknownChance, forced?.unknown),
    cloudProtectionState: ctx.cloudStates.pick(rng),
    quickScanResult: null,
    quickScanError: null,
    quickScanTime: null,
    fullScanResult: null,
    fullScanError: null,
    fullScanTime: null,
  };
  const quick = ctx.quickScans.pick(rng);
  if (quick !== null) {
    rec.quickScanResult = quick;
    rec.quickScanError = scanError(rng, quick);
    rec.quickScanTime = isoSeconds(lastSeen - rng.int(7 * DAY));
  }
  const full = ctx.fullScans.pick(rng);
  if (full !== null) {
    rec.fullScanResult = full;
    rec.fullScanError = scanError(rng, full);
    rec.fullScanTime = isoSeconds(lastSeen - rng.int(30 * DAY));
  }
  const row: ExportRow = { rec, group, avRefresh: lastSeen - rng.int(6 * HOUR), flags: forced?.flags ?? 0 };
  if (!ctx.quirks) return row;

  row.flags |= styleFlags(rng);
  // A forced device keeps its content flags, so its one quirk is not hidden by another.
  if (forced === undefined) {
    if (unix && rng.chance(0.6)) row.flags |= DASH_SCANS;
    if (rng.chance(0.004)) row.flags |= NO_GATHERED_INFO;
    if (rng.chance(0.004)) row.flags |= NO_SCAN_RESULTS;
    if (rng.chance(0.005)) row.flags |= NO_FULL_SCAN;
  }
  if (forced?.nulls) {
    rec.osVersion = null;
    rec.cloudProtectionState = null;
    rec.avEngineUpdateTime = null;
  }
  for (const [key, p] of BLANKED) if (rng.chance(p)) rec[key] = null;
  // "-" placeholders belong to macOS and Linux records, so those keep their platform.
  if (rng.chance(0.002) && !(row.flags & DASH_SCANS)) {
    rec.osPlatform = null;
    rec.osVersion = null;
    rec.osKind = "other";
  }
  // The winner of a duplicate needs both tie-break fields.
  if (!duplicated) {
    if (rng.chance(0.002)) rec.lastSeenTime = null;
    if (rng.chance(0.002)) rec.dataRefreshTimestamp = null;
  }
  if (rng.chance(0.01)) row.avRefresh = -1;

  const noScans = (row.flags & (NO_GATHERED_INFO | NO_SCAN_RESULTS | DASH_SCANS)) !== 0;
  if (noScans) rec.quickScanResult = rec.quickScanError = rec.quickScanTime = null;
  if (noScans || row.flags & NO_FULL_SCAN) rec.fullScanResult = rec.fullScanError = rec.fullScanTime = null;
  if (row.flags & NO_GATHERED_INFO) {
    rec.avMode = "";
    rec.avSignatureVersion = rec.avEngineVersion = rec.avPlatformVersion = null;
    rec.avSignatureUpdateTime = rec.avEngineUpdateTime = rec.avPlatformUpdateTime = rec.avSignaturePublishTime = null;
    rec.avIsSignatureUpToDate = rec.avIsEngineUpToDate = rec.avIsPlatformUpToDate = "Unknown";
    rec.cloudProtectionState = null;
  }
  return row;
}

/** The first rank from `rank` on (newest first) released by `lastSeen`, or the oldest. */
function releasedBefore(catalog: readonly VersionEntry[], rank: number, lastSeen: number): number {
  let r = rank;
  while (r < catalog.length - 1 && catalog[r]!.released > lastSeen) r++;
  return r;
}

function updatedAfter(rng: Prng, released: number, within: number, lastSeen: number): string {
  return isoSeconds(released + rng.int(Math.max(1, Math.min(within, lastSeen - released))));
}

function upToDate(rng: Prng, fresh: boolean, unknownChance: number, forcedUnknown: boolean | undefined): UpToDate {
  return (forcedUnknown ?? rng.chance(unknownChance)) ? "Unknown" : fresh ? "True" : "False";
}

function scanError(rng: Prng, result: string): string | null {
  const failed = result === "Failed" || (result === "Cancelled" && rng.chance(0.3)) || (result === "Completed" && rng.chance(0.02));
  return failed ? SCAN_ERROR_CODES[rng.int(SCAN_ERROR_CODES.length)]! : null;
}

/** Rolls the style flags (how a record is written, not what it says). */
function styleFlags(rng: Prng): number {
  let flags = 0;
  if (rng.chance(0.1)) flags |= GATHERED_INFO_OBJECT;
  if (rng.chance(0.1)) flags |= SCAN_RESULTS_OBJECT;
  if (rng.chance(0.15)) flags |= BOOLEANS;
  if (rng.chance(0.2)) flags |= EXTRA_COLUMNS;
  return flags;
}

/**
 * The same device's older record in another group's file (it moved). Variant 0: older Timestamp and
 * older lastSeenTime; 1: same Timestamp, older lastSeenTime; 2: older Timestamp but a later
 * lastSeenTime (the Timestamp decides).
 */
function makeOlderCopy(ctx: Context, rng: Prng, winner: ExportRow, group: ExportGroup, variant: 0 | 1 | 2): ExportRow {
  const w = winner.rec;
  const refreshed = Date.parse(w.dataRefreshTimestamp!) / 1000;
  const lastSeen = Date.parse(w.lastSeenTime!) / 1000;
  const rec: DeviceHealthRecord = { ...w, rbacGroupId: group.id, rbacGroupName: group.name };
  if (variant === 0) {
    rec.dataRefreshTimestamp = isoSeconds(refreshed - rng.between(HOUR, 3 * DAY));
    rec.lastSeenTime = isoSeconds(lastSeen - rng.between(HOUR, 5 * DAY));
  } else if (variant === 1) {
    rec.lastSeenTime = isoSeconds(lastSeen - rng.between(60, 2 * DAY));
  } else {
    rec.dataRefreshTimestamp = isoSeconds(refreshed - rng.between(60, DAY));
    rec.lastSeenTime = isoSeconds(Math.min(ctx.now, lastSeen + rng.between(60, DAY)));
  }
  if (rec.avSignatureVersion !== null) {
    const older = ctx.signatures[Math.min(ctx.signatures.length - 1, 9 + rng.int(30))]!;
    rec.avSignatureVersion = older.version;
    rec.avSignaturePublishTime = older.releasedIso;
    if (rec.avIsSignatureUpToDate === "True") rec.avIsSignatureUpToDate = "False";
  }
  if (rec.avMode !== "" && rng.chance(0.5)) rec.avMode = rec.avMode === "0" ? "1" : "0";
  return { rec, group, avRefresh: winner.avRefresh, flags: (winner.flags & CONTENT_FLAGS) | styleFlags(rng) };
}

// ---------------------------------------------------------------------------------------------
// Files

interface FilePlan {
  group: ExportGroup;
  part: number;
  rows: ExportRow[];
  bom: boolean;
  crlf: boolean;
  blankLines: number;
  members: number;
  finalEol: boolean;
  malformed: number;
}

function planFiles(ctx: Context, groupRows: ExportRow[][]): FilePlan[] {
  const plans: FilePlan[] = [];
  ctx.groups.forEach((group, g) => {
    const rows = groupRows[g]!;
    for (let part = 0; part * ctx.recordsPerFile < rows.length; part++) {
      plans.push({
        group,
        part,
        rows: rows.slice(part * ctx.recordsPerFile, (part + 1) * ctx.recordsPerFile),
        bom: false,
        crlf: false,
        blankLines: 0,
        members: 1,
        finalEol: true,
        malformed: 0,
      });
    }
  });
  return plans;
}

function assignFileQuirks(ctx: Context, plans: FilePlan[]): void {
  if (!ctx.quirks || plans.length === 0) return;
  const rng = new Prng(streamSeed(ctx.seed, "file-quirks"));
  for (const plan of plans) {
    plan.bom = rng.chance(0.3);
    plan.crlf = rng.chance(0.25);
    plan.blankLines = rng.chance(0.3) ? rng.between(1, 3) : 0;
    plan.members = rng.chance(0.3) ? rng.between(2, 4) : 1;
    plan.finalEol = rng.chance(0.85);
  }
  // Every file-level quirk in at least one file, and (with two files or more) absent from one.
  const cover = (has: (p: FilePlan) => boolean, set: (p: FilePlan, on: boolean) => void): void => {
    if (!plans.some(has)) set(plans[rng.int(plans.length)]!, true);
    if (plans.length > 1 && plans.every(has)) set(plans[rng.int(plans.length)]!, false);
  };
  cover((p) => p.bom, (p, on) => (p.bom = on));
  cover((p) => p.blankLines > 0, (p, on) => (p.blankLines = on ? 2 : 0));
  cover((p) => p.members > 1, (p, on) => (p.members = on ? 3 : 1));
  cover((p) => !p.finalEol, (p, on) => (p.finalEol = !on));
  // CRLF shows only where a line ends: in a file of two lines or more, or with a final newline.
  const multiLine = (p: FilePlan): boolean => p.rows.length + p.blankLines > 1;
  const crlfShows = (p: FilePlan): boolean => p.crlf && (multiLine(p) || p.finalEol);
  if (!plans.some(crlfShows)) {
    const candidates = [plans.filter(multiLine), plans.filter((p) => p.finalEol), plans].find((c) => c.length > 0)!;
    const target = candidates[rng.int(candidates.length)]!;
    target.crlf = true;
    if (!crlfShows(target)) target.finalEol = true;
  }
  if (plans.length > 1 && plans.every((p) => p.crlf)) {
    const keep = plans.find(crlfShows);
    const others = plans.filter((p) => p !== keep);
    others[rng.int(others.length)]!.crlf = false;
  }
}

function assignMalformedLines(ctx: Context, plans: FilePlan[], count: number): void {
  if (count === 0) return;
  if (plans.length === 0) throw new RangeError("faults.malformedLines needs at least one file: generate at least one device");
  const rng = new Prng(streamSeed(ctx.seed, "malformed"));
  for (let i = 0; i < count; i++) plans[rng.int(plans.length)]!.malformed++;
}

const RECORD = 0;
const MALFORMED = 1;
const BLANK = 2;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const LF = Buffer.from("\n");
const CRLF = Buffer.from("\r\n");

interface FileRenderer {
  ctx: Context;
  writer: ByteWriter;
  records: ExportRecordWriter;
  rng: Prng;
  faultRng: Prng;
  /** Malformed lines written so far (their kinds cycle over the dataset). */
  malformedSoFar: number;
}

function createFileRenderer(ctx: Context): FileRenderer {
  const writer = new ByteWriter(Math.min(ctx.recordsPerFile, ctx.deviceCount + 1) * 1600);
  const rng = new Prng(streamSeed(ctx.seed, "render"));
  return {
    ctx,
    writer,
    records: new ExportRecordWriter(writer, rng, ctx.quirks),
    rng,
    faultRng: new Prng(streamSeed(ctx.seed, "malformed-text")),
    malformedSoFar: 0,
  };
}

function renderFile(renderer: FileRenderer, plan: FilePlan): SimulatedExportFile {
  const { writer: w, rng, faultRng } = renderer;
  const total = plan.rows.length + plan.malformed + plan.blankLines;
  const kinds = new Uint8Array(total);
  place(kinds, plan.malformed, MALFORMED, total, faultRng);
  // A blank last line with no newline after it would not be a line at all.
  place(kinds, plan.blankLines, BLANK, plan.finalEol ? total : total - 1, rng);

  w.reset();
  if (plan.bom) w.bytes(BOM);
  const eol = plan.crlf ? CRLF : LF;
  let next = 0;
  let lastStart = -1;
  let lastEnd = -1;
  for (let i = 0; i < total; i++) {
    if (i > 0) w.bytes(eol);
    const kind = kinds[i];
    if (kind === RECORD) {
      lastStart = w.pos;
      renderer.records.write(plan.rows[next++]!);
      lastEnd = w.pos;
    } else if (kind === MALFORMED) {
      writeMalformedLine(w, faultRng, renderer.malformedSoFar++, lastStart, lastEnd);
    }
  }
  if (plan.finalEol) w.bytes(eol);
  const content = w.view();

  // Member boundaries fall after a newline where there is one, else anywhere (even inside a character).
  const cuts = new Set<number>();
  for (let m = 1; m < plan.members && content.length > 1; m++) {
    const from = 1 + rng.int(content.length - 1);
    const newline = content.indexOf(0x0a, from);
    cuts.add(newline >= 0 && newline + 1 < content.length ? newline + 1 : from);
  }
  const bounds = [0, ...[...cuts].sort((a, b) => a - b), content.length];
  const members: Buffer[] = [];
  for (let i = 1; i < bounds.length; i++) members.push(gzipSync(content.subarray(bounds[i - 1], bounds[i]), { level: 1 }));
  const body = members.length === 1 ? members[0]! : Buffer.concat(members);
  lastMemberStart.set(body, body.length - members[members.length - 1]!.length);

  return {
    path: renderer.ctx.paths.file(plan.group.id, plan.part),
    rbacGroupId: plan.group.id,
    body,
    records: plan.rows.length,
    truth: plan.rows.map((row) => row.rec),
    malformedLines: plan.malformed,
  };
}

/** Marks `count` free slots below `limit` with `kind`. */
function place(kinds: Uint8Array, count: number, kind: number, limit: number, rng: Prng): void {
  for (let k = 0; k < count; k++) {
    let i: number;
    do i = rng.int(limit);
    while (kinds[i] !== RECORD);
    kinds[i] = kind;
  }
}

/** A line no JSON parser accepts (never blank); the kinds cycle so every kind appears. */
function writeMalformedLine(w: ByteWriter, rng: Prng, i: number, lastStart: number, lastEnd: number): void {
  const kind = i % 4;
  if (kind === 0 && lastStart >= 0) {
    // A record cut short: any proper prefix of a JSON object is incomplete.
    w.repeat(lastStart, lastStart + 10 + rng.int(Math.max(1, lastEnd - lastStart - 11)));
  } else if (kind === 2) {
    w.ascii(`ERROR 0x80004005: write interrupted at row ${rng.int(100_000)}`);
  } else if (kind === 3) {
    w.ascii(`{"DeviceId":"${rng.hex(40)}"}{"DeviceId":"${rng.hex(40)}"}`);
  } else {
    w.ascii(`{"DeviceId":"${rng.hex(40)}","DeviceName":"broken-${i}.contoso.com",}`);
  }
}

interface PathBuilder {
  file(groupId: number, part: number): string;
}

/** The real export's layout; one org GUID and one job GUID per snapshot, so part names repeat across groups. */
function pathBuilder(generatedTime: string, rng: Prng): PathBuilder {
  const org = rng.guid();
  const job = rng.guid();
  const base = `${generatedTime.slice(0, 10)}/${generatedTime.slice(11, 13)}${generatedTime.slice(14, 16)}/InfoGatheringExport/json/OrgId=${org}`;
  return { file: (groupId, part) => `${base}/_RbacGroupId=${groupId}/part-${String(part).padStart(5, "0")}-${job}.c000.json.gz` };
}

// ---------------------------------------------------------------------------------------------

const compareIds = (a: DeviceHealthRecord, b: DeviceHealthRecord): number =>
  a.machineId < b.machineId ? -1 : a.machineId > b.machineId ? 1 : 0;

/**
 * Sorts by machineId (40 lower-case hex digits). A comparator sort of a million strings takes
 * seconds; a numeric sort on the first 8 digits (with the index packed below them) is native,
 * and only equal prefixes need comparing in full.
 */
function sortByMachineId(devices: DeviceHealthRecord[]): DeviceHealthRecord[] {
  const n = devices.length;
  const shift = 2 ** Math.ceil(Math.log2(n + 1));
  if (n < 2 || 2 ** 32 * shift > Number.MAX_SAFE_INTEGER) return devices.sort(compareIds);
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = Number.parseInt(devices[i]!.machineId.slice(0, 8), 16) * shift + i;
  keys.sort();
  const out = new Array<DeviceHealthRecord>(n);
  for (let i = 0; i < n; i++) out[i] = devices[keys[i]! % shift]!;
  for (let i = 0; i < n; ) {
    const prefix = Math.floor(keys[i]! / shift);
    let j = i + 1;
    while (j < n && Math.floor(keys[j]! / shift) === prefix) j++;
    if (j - i > 1) out.splice(i, j - i, ...out.slice(i, j).sort(compareIds));
    i = j;
  }
  return out;
}

function checkInteger(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) throw new RangeError(`${name} must be an integer >= ${min}, got ${value}`);
}

function checkGeneratedTime(value: string): string {
  const ms = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z$/.test(value) || Number.isNaN(ms) || ms % 60_000 !== 0) {
    throw new RangeError(`generatedTime must be ISO 8601 UTC in whole minutes (e.g. ${DEFAULT_GENERATED_TIME}), got ${value}`);
  }
  return `${new Date(ms).toISOString().slice(0, 16)}:00Z`;
}

function shuffle<T>(items: T[], rng: Prng): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}
