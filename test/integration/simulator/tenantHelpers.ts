import { gzipSync } from "node:zlib";
import type { DeviceHealthRecord, OsKind } from "../../../shared/health/record.js";
import type { SimulatedDataset, SimulatedExportFile } from "../../../local/simulator/dataset.js";
import type { SimulatedTenant } from "../../../local/simulator/tenant.js";
import { toFileRecord } from "../../../local/simulator/generator.js";

const PLATFORMS: readonly [string, OsKind][] = [["Windows11", "windows"], ["Windows10", "windows"], ["Linux", "linux"], ["macOS", "mac"]];
const GROUPS: readonly [number, string][] = [[412, "Servers-EU"], [7, "Laptops"], [99, "Kiosks"]];

/** A hand-made device: fields vary with `i` so that every filter picks a different subset. */
export function device(i: number): DeviceHealthRecord {
  const [osPlatform, osKind] = PLATFORMS[i % PLATFORMS.length]!;
  const [rbacGroupId, rbacGroupName] = GROUPS[i % GROUPS.length]!;
  return {
    machineId: i.toString(16).padStart(40, "0"),
    computerDnsName: `host-${i}.contoso.com`,
    osPlatform,
    osVersion: "10.0.22631.4317",
    osKind,
    lastSeenTime: "2026-11-30T12:44:02Z",
    rbacGroupId,
    rbacGroupName,
    dataRefreshTimestamp: "2026-12-01T02:00:00Z",
    avMode: String(i % 3),
    avSignatureVersion: "1.421.123.0",
    avEngineVersion: "1.1.24090.11",
    avPlatformVersion: "4.18.24090.11",
    avSignatureUpdateTime: null,
    avEngineUpdateTime: null,
    avPlatformUpdateTime: null,
    avSignaturePublishTime: null,
    avIsSignatureUpToDate: i % 5 === 0 ? "False" : "True",
    avIsEngineUpToDate: "True",
    avIsPlatformUpToDate: "Unknown",
    cloudProtectionState: "Enabled",
    quickScanResult: "Completed",
    quickScanError: null,
    quickScanTime: null,
    fullScanResult: null,
    fullScanError: null,
    fullScanTime: null,
  };
}

/** A tiny dataset: `count` devices, one gzip NDJSON file per device group (PascalCase lines). */
export function tinyDataset(count: number, generatedTime = "2026-12-01T02:00:00Z"): SimulatedDataset {
  const devices = Array.from({ length: count }, (_, i) => device(i));
  const files: SimulatedExportFile[] = GROUPS.map(([groupId], part) => {
    const truth = devices.filter((d) => d.rbacGroupId === groupId);
    const lines = truth.map(toFileRecord);
    return {
      path: `2026-12-01/0200/InfoGatheringExport/json/OrgId=org-1/_RbacGroupId=${groupId}/part-0000${part}-c0ffee.c000.json.gz`,
      rbacGroupId: groupId,
      body: gzipSync(Buffer.from(lines.map((l) => `${l}\n`).join(""), "utf8")),
      records: lines.length,
      truth,
      malformedLines: 0,
    };
  });
  return { seed: 1, deviceCount: count, generatedTime, files, devices };
}

export function tokenForm(tenant: SimulatedTenant, overrides: Record<string, string | null> = {}): URLSearchParams {
  const form = new URLSearchParams({
    grant_type: "client_credentials",
    client_id: tenant.clientId,
    client_secret: tenant.clientSecret,
    scope: tenant.scope,
  });
  for (const [key, value] of Object.entries(overrides)) {
    if (value === null) form.delete(key);
    else form.set(key, value);
  }
  return form;
}

export function postToken(tenant: SimulatedTenant, form: URLSearchParams, url = tenant.tokenUrl): Promise<Response> {
  return fetch(url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: form });
}

export async function tokenOf(tenant: SimulatedTenant): Promise<string> {
  const res = await postToken(tenant, tokenForm(tenant));
  if (res.status !== 200) throw new Error(`token endpoint answered ${res.status}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** GET on the tenant with a bearer token; `path` may be absolute (a nextLink). */
export function apiGet(tenant: SimulatedTenant, path: string, token: string): Promise<Response> {
  return fetch(path.startsWith("http") ? path : `${tenant.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
}

export interface ExportAnswer {
  "@odata.context": string;
  exportFiles: string[];
  generatedTime: string;
}

export async function exportFiles(tenant: SimulatedTenant, token: string, hours = 6): Promise<ExportAnswer> {
  const res = await apiGet(tenant, `/api/machines/InfoGatheringExport?sasValidHours=${hours}`, token);
  if (res.status !== 200) throw new Error(`export answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as ExportAnswer;
}

export interface DevicePage {
  "@odata.context": string;
  value: Record<string, unknown>[];
  "@odata.nextLink"?: string;
}

/** What a storage call failed with: HTTP status and the service's error code. */
export async function storageFailure(call: Promise<unknown>): Promise<{ status: number; code: string | undefined }> {
  try {
    await call;
  } catch (error) {
    const e = error as { statusCode?: number; code?: string; details?: { errorCode?: string } };
    return { status: e.statusCode ?? -1, code: e.code ?? e.details?.errorCode };
  }
  throw new Error("the storage call succeeded");
}

/** A JWT-shaped client assertion (unsigned: the tenant checks claims only). */
export function clientAssertion(claims: Record<string, unknown>): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "RS256", typ: "JWT", x5t: "abc" })}.${part(claims)}.c2lnbmF0dXJl`;
}
