/**
 * Where a snapshot lives in the customer's container (a contract: Power BI and other readers rely
 * on it): `raw/date=YYYY-MM-DD/generated=YYYYMMDDTHHmmZ/rbacGroupId=N/<source part file name>`.
 */

/** The run id: the snapshot's generatedTime to the minute, e.g. `20261201T0200Z`. Sortable. */
export function runIdOf(generatedTime: string): string {
  const d = new Date(generatedTime);
  if (Number.isNaN(d.getTime())) throw new Error(`generatedTime "${generatedTime}" is not a date`);
  const iso = d.toISOString(); // 2026-12-01T02:00:00.000Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}Z`;
}

/** The UTC day of a snapshot, `YYYY-MM-DD`: the DeviceHealthDaily partition. */
export function snapshotDateOf(generatedTime: string): string {
  return new Date(generatedTime).toISOString().slice(0, 10);
}

export function snapshotPrefix(generatedTime: string): string {
  return `raw/date=${snapshotDateOf(generatedTime)}/generated=${runIdOf(generatedTime)}`;
}

export function manifestPath(generatedTime: string): string {
  return `${snapshotPrefix(generatedTime)}/_manifest.json`;
}

export function quarantinePath(generatedTime: string): string {
  return `${snapshotPrefix(generatedTime)}/_quarantine.json`;
}

/** The device group of an export file, from its `_RbacGroupId=N` path segment ("none" when absent). */
export function rbacGroupIdOf(sourcePath: string): string {
  const match = /(?:^|\/)_?RbacGroupId=(\d+)(?:\/|$)/i.exec(sourcePath);
  return match?.[1] ?? "none";
}

/** The part file's own name: the last path segment, reduced to characters safe in a blob name. */
export function partNameOf(sourcePath: string): string {
  const last = sourcePath.split("/").filter(Boolean).pop() ?? "";
  const safe = last.replace(/[^A-Za-z0-9._=-]/g, "_");
  if (!safe) throw new Error(`export file path "${sourcePath}" has no file name`);
  return safe;
}

/** The destination blob name of an export file (group and generation time make part names unique). */
export function destinationOf(generatedTime: string, sourcePath: string): string {
  return `${snapshotPrefix(generatedTime)}/rbacGroupId=${rbacGroupIdOf(sourcePath)}/${partNameOf(sourcePath)}`;
}

/** The file's key within its run: group and part name, unique because part names repeat only across groups. */
export function fileKeyOf(sourcePath: string): string {
  return `${rbacGroupIdOf(sourcePath)}_${partNameOf(sourcePath)}`;
}
