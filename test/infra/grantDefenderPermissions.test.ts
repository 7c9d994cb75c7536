import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

// Runs scripts/grant-defender-permissions.sh against a fake `az` that plays Microsoft Graph: the
// script's control flow (dry run, idempotence, errors) without a tenant.

const script = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "scripts", "grant-defender-permissions.sh");
const DEFENDER_APP_ID = "fc780465-2017-40d4-a0c5-307022471b92";
const MI = "11111111-1111-1111-1111-111111111111";
const APP = "22222222-2222-2222-2222-222222222222";
const APP_SP = "33333333-3333-3333-3333-333333333333";
const ROLES = { "Vulnerability.Read.All": "41111111-0000-0000-0000-000000000000", "Machine.Read.All": "42222222-0000-0000-0000-000000000000" };

interface FakeTenant {
  loggedIn: boolean;
  defenderSp: string | null;
  principals: Record<string, string>;
  apps: Record<string, string>;
  assigned: Record<string, string[]>;
  denyPost: boolean;
  posts: Array<{ principalId: string; resourceId: string; appRoleId: string }>;
}

// NOTE: matches the script's own calls by URI and query text (no JMESPath engine needed).
const FAKE_AZ = String.raw`#!/usr/bin/env node
const fs = require("fs");
const state = JSON.parse(fs.readFileSync(process.env.FAKE_AZ_STATE, "utf8"));
const args = process.argv.slice(2);
const opt = (name) => { const i = args.indexOf(name); return i < 0 ? undefined : args[i + 1]; };
const save = () => fs.writeFileSync(process.env.FAKE_AZ_STATE, JSON.stringify(state));
const out = (s) => { if (s) process.stdout.write(s + "\n"); process.exit(0); };
const fail = (s) => { process.stderr.write(s + "\n"); process.exit(1); };
if (args[0] === "account") return state.loggedIn ? out("tenant") : fail("Please run 'az login' to setup account.");
if (args[0] === "cloud") return out("https://graph.microsoft.com/");
if (args[0] !== "rest") return fail("fake az: unexpected " + args.join(" "));
const uri = decodeURIComponent(opt("--uri"));
const query = opt("--query") || "";
if (opt("--method") === "post") {
  if (state.denyPost) return fail('Forbidden({"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}})');
  const body = JSON.parse(opt("--body"));
  state.posts.push(body);
  (state.assigned[body.principalId] ||= []).push(body.appRoleId);
  save();
  return out("");
}
let m;
if ((m = /servicePrincipals\?\$filter=appId eq '([^']+)'/.exec(uri))) {
  return out(m[1] === "${DEFENDER_APP_ID}" ? state.defenderSp || "" : state.apps[m[1]] || "");
}
if ((m = /servicePrincipals\/([^/?]+)\/appRoleAssignments$/.exec(uri))) return out((state.assigned[m[1]] || []).join("\n"));
if ((m = /servicePrincipals\/([^/?]+)\?\$select=displayName$/.exec(uri))) {
  return state.principals[m[1]] ? out(state.principals[m[1]]) : fail("Not Found({\"error\":{\"code\":\"Request_ResourceNotFound\"}})");
}
if ((m = /servicePrincipals\/([^/?]+)\?\$select=appRoles$/.exec(uri))) {
  const role = /value=='([^']+)'/.exec(query)[1];
  return out(${JSON.stringify(ROLES)}[role] || "");
}
fail("fake az: unexpected " + uri);
`;

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "grant-"));
  writeFileSync(join(dir, "az"), FAKE_AZ);
  chmodSync(join(dir, "az"), 0o755);
  tenant({});
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

function tenant(overrides: Partial<FakeTenant>): void {
  const state: FakeTenant = {
    loggedIn: true,
    defenderSp: "defender-sp",
    principals: { [MI]: "id-avhealth", [APP_SP]: "defender-export-app" },
    apps: { [APP]: APP_SP },
    assigned: {},
    denyPost: false,
    posts: [],
    ...overrides,
  };
  writeFileSync(join(dir, "state.json"), JSON.stringify(state));
}

const state = (): FakeTenant => JSON.parse(readFileSync(join(dir, "state.json"), "utf8")) as FakeTenant;

function run(...args: string[]) {
  const result = spawnSync("bash", [script, ...args], {
    encoding: "utf8",
    env: { ...process.env, PATH: `${dir}:${process.env.PATH ?? ""}`, FAKE_AZ_STATE: join(dir, "state.json") },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe.skipIf(process.platform === "win32")("scripts/grant-defender-permissions.sh", () => {
  it("in a dry run, lists the roles it would grant and changes nothing", () => {
    const r = run("--principal-id", MI, "--dry-run");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("would grant:     Vulnerability.Read.All");
    expect(r.stdout).toContain("would grant:     Machine.Read.All");
    expect(state().posts).toEqual([]);
  });

  it("grants only the missing roles, and a second run grants nothing", () => {
    tenant({ assigned: { [MI]: [ROLES["Machine.Read.All"]] } });
    const first = run("--principal-id", MI);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain("already granted: Machine.Read.All");
    expect(first.stdout).toContain("granted:         Vulnerability.Read.All");
    expect(state().posts).toEqual([{ principalId: MI, resourceId: "defender-sp", appRoleId: ROLES["Vulnerability.Read.All"] }]);

    const second = run("--principal-id", MI);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).not.toMatch(/^\s*granted:/m);
    expect(state().posts).toHaveLength(1);
  });

  it("grants one role per export method", () => {
    expect(run("--principal-id", MI, "--method", "files").code).toBe(0);
    expect(state().posts.map((p) => p.appRoleId)).toEqual([ROLES["Vulnerability.Read.All"]]);
    expect(run("--principal-id", MI, "--method", "json").code).toBe(0);
    expect(state().posts.map((p) => p.appRoleId)).toEqual([ROLES["Vulnerability.Read.All"], ROLES["Machine.Read.All"]]);
  });

  it("grants to an app registration's service principal by its client id", () => {
    const r = run("--app-id", APP, "--method", "files");
    expect(r.code, r.stderr).toBe(0);
    expect(state().posts).toEqual([{ principalId: APP_SP, resourceId: "defender-sp", appRoleId: ROLES["Vulnerability.Read.All"] }]);
  });

  it("says when Defender for Endpoint has no service principal in the tenant", () => {
    tenant({ defenderSp: null });
    const r = run("--principal-id", MI);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/WindowsDefenderATP .* no service principal in this tenant: is Microsoft Defender for Endpoint onboarded/);
  });

  it("says which directory roles can grant when the caller may not", () => {
    tenant({ denyPost: true });
    const r = run("--principal-id", MI);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/not allowed to grant Vulnerability\.Read\.All: an Entra administrator \(Privileged Role Administrator/);
  });

  it("names an unknown principal, and the likely mix-up", () => {
    const r = run("--principal-id", "99999999-9999-9999-9999-999999999999");
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/not found in this tenant \(a managed identity's principal id, not its client id\?\)/);
  });

  it("refuses unclear arguments before calling anything", () => {
    expect(run("--dry-run").code).toBe(1);
    expect(run("--principal-id", "not-a-guid").stderr).toMatch(/expected the object id \(a GUID\)/);
    expect(run("--principal-id", MI, "--method", "xml").stderr).toMatch(/expected files, json or auto/);
    expect(run("--principal-id", MI, "--app-id", APP).code).toBe(1);
    expect(state().posts).toEqual([]);
  });

  it("asks for az login when the CLI is signed out", () => {
    tenant({ loggedIn: false });
    const r = run("--principal-id", MI);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/az login/);
  });
});
