import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CLOUDS, loadConfig, SETTINGS } from "../../shared/config.js";

// NOTE: there is no Bicep compiler here, so these tests read the templates as text. They are the
// contract between infra/ and the code: setting names, roles, and what must never be deployed.

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const infraDir = join(root, "infra");
const functionsDir = join(root, "functions");

function filesUnder(dir: string, extension: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return filesUnder(path, extension);
    return entry.name.endsWith(extension) ? [path] : [];
  });
}

const read = (path: string): string => readFileSync(path, "utf8");
const name = (path: string): string => relative(root, path).replaceAll("\\", "/");

/** Bicep text without comments (strings kept), so a comment can neither satisfy nor break a check. */
function stripComments(text: string): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    if (text.startsWith("'''", i)) {
      const end = text.indexOf("'''", i + 3);
      const stop = end < 0 ? text.length : end + 3;
      out += text.slice(i, stop);
      i = stop;
    } else if (text[i] === "'") {
      let j = i + 1;
      while (j < text.length && text[j] !== "'") j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (text.startsWith("//", i)) {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (text.startsWith("/*", i)) {
      const end = text.indexOf("*/", i + 2);
      i = end < 0 ? text.length : end + 2;
    } else {
      out += text[i];
      i++;
    }
  }
  return out;
}

/** The balanced `{ ... }` starting at the first brace at or after `from` (comments already stripped). */
function blockFrom(text: string, from: number): string {
  const start = text.indexOf("{", from);
  if (start < 0) return "";
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (c === "'") {
      i++;
      while (i < text.length && text[i] !== "'") i += text[i] === "\\" ? 2 : 1;
    } else if (c === "{") depth++;
    else if (c === "}" && --depth === 0) return text.slice(start, i + 1);
  }
  return text.slice(start);
}

interface Resource {
  file: string;
  symbol: string;
  type: string;
  existing: boolean;
  body: string;
}

const bicep = filesUnder(infraDir, ".bicep").map((path) => ({ path, file: name(path), raw: read(path), text: stripComments(read(path)) }));

const resources: Resource[] = bicep.flatMap(({ file, text }) =>
  [...text.matchAll(/^\s*resource\s+(\w+)\s+'([^']+)'\s*(existing\s*)?=/gm)].map((m) => ({
    file,
    symbol: m[1]!,
    type: m[2]!,
    existing: Boolean(m[3]),
    body: blockFrom(text, m.index! + m[0].length),
  })),
);
const declared = (typePrefix: string) => resources.filter((r) => !r.existing && r.type.toLowerCase().startsWith(typePrefix.toLowerCase()));

function bicepFile(file: string): { raw: string; text: string } {
  const found = bicep.find((b) => b.file === file);
  if (!found) throw new Error(`${file} is missing`);
  return found;
}

/** `param <name> <type> = <default>` with its default's literal text (undefined when none). */
function paramDefaults(text: string): Map<string, string | undefined> {
  return new Map([...text.matchAll(/^param\s+(\w+)\s+\w+(?:\s*=\s*(.+?))?\s*$/gm)].map((m) => [m[1]!, m[2]]));
}

function unquote(literal: string | undefined): string | undefined {
  if (literal === undefined) return undefined;
  const m = /^'(.*)'$/.exec(literal.trim());
  return m ? m[1]!.replaceAll("\\'", "'") : literal.trim();
}

function allowedValues(text: string, param: string): string[] {
  const m = new RegExp(String.raw`@allowed\(\[([^\]]*)\]\)\s*(?:@\w+\([^\n]*\)\s*)*param\s+${param}\b`).exec(text);
  if (!m) throw new Error(`param ${param} has no @allowed list`);
  return [...m[1]!.matchAll(/'([^']*)'/g)].map((v) => v[1]!);
}

const main = bicepFile("infra/main.bicep");
const api = bicepFile("infra/app/api.bicep");

describe("infra: the templates exist and keep the azd layout", () => {
  it("has azure.yaml with the api service hosted as a function app", () => {
    const yaml = read(join(root, "azure.yaml"));
    expect(yaml).toMatch(/^services:\s*\n\s+api:\s*\n(?:\s+.*\n)*?\s+host:\s*function\s*$/m);
    expect(yaml).toMatch(/^\s+language:\s*(ts|js)\s*$/m);
  });

  it("deploys a Flex Consumption (FC1) plan with a Node runtime, 2048 MB instances and a scale-out cap", () => {
    expect(api.text).toMatch(/name:\s*'FC1'/);
    expect(api.text).toMatch(/tier:\s*'FlexConsumption'/);
    expect(api.text).toMatch(/runtime:\s*\{\s*name:\s*'node'/);
    expect(paramDefaults(main.text).get("instanceMemoryMB")).toBe("2048");
    expect(paramDefaults(main.text).get("nodeVersion")).toBe("'20'");
    expect(api.text).toMatch(/maximumInstanceCount:\s*maximumInstanceCount/);
  });
});

describe("infra: storage accounts accept identities only", () => {
  const accounts = declared("Microsoft.Storage/storageAccounts@");

  it("declares the host and the data storage accounts", () => {
    expect(accounts.map((a) => a.file).sort()).toEqual(["infra/app/data-storage.bicep", "infra/app/host-storage.bicep"]);
  });

  it.each(accounts.map((a) => [`${a.file} ${a.symbol}`, a] as const))("%s: shared keys off, TLS 1.2, no public blobs", (_, account) => {
    expect(account.body, "allowSharedKeyAccess must be the literal false").toMatch(/\ballowSharedKeyAccess:\s*false\b/);
    expect(account.body).toMatch(/\bminimumTlsVersion:\s*'TLS1_2'/);
    expect(account.body).toMatch(/\ballowBlobPublicAccess:\s*false\b/);
  });

  it("never sets allowSharedKeyAccess to anything but false", () => {
    for (const { file, text } of bicep) {
      for (const m of text.matchAll(/allowSharedKeyAccess:\s*(\S+)/g)) expect(m[1], file).toBe("false");
    }
  });

  it("creates the data account with a hierarchical namespace and a lifecycle rule for raw snapshots", () => {
    const data = bicepFile("infra/app/data-storage.bicep").text;
    expect(data).toMatch(/isHnsEnabled:\s*true/);
    expect(data).toMatch(/prefixMatch:\s*\[\s*'\$\{containerName\}\/raw\/'\s*\]/);
    expect(data).toMatch(/tierToCool:\s*\{\s*daysAfterModificationGreaterThan:\s*rawCoolAfterDays\s*\}/);
    expect(data).toMatch(/delete:\s*\{\s*daysAfterModificationGreaterThan:\s*rawDeleteAfterDays\s*\}/);
    const defaults = paramDefaults(main.text);
    expect(Number(defaults.get("rawCoolAfterDays"))).toBeLessThan(Number(defaults.get("rawDeleteAfterDays")));
  });
});

describe("infra: monitoring without local auth", () => {
  it("Application Insights has local (key) auth disabled", () => {
    const components = declared("Microsoft.Insights/components@");
    expect(components.length).toBeGreaterThan(0);
    for (const c of components) expect(c.body, c.file).toMatch(/\bdisableLocalAuth:\s*true\b/i);
  });

  it("Log Analytics has local auth disabled", () => {
    const workspaces = declared("Microsoft.OperationalInsights/workspaces@");
    expect(workspaces.length).toBeGreaterThan(0);
    for (const w of workspaces) expect(w.body, w.file).toMatch(/\bdisableLocalAuth:\s*true\b/);
  });
});

describe("infra: role assignments are least privilege", () => {
  // Every role the design needs, by id. Anything else fails until the design says why.
  const ALLOWED_ROLES: Record<string, string> = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
  };
  // Named for a clear failure; the allow-list above is what really gates.
  const FORBIDDEN_ROLES: Record<string, string> = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
    "17d1049b-9a84-46fb-8f53-869881c3d3ab": "Storage Account Contributor",
    "81a9662b-bebf-436f-a333-f67b29880f12": "Storage Account Key Operator Service Role",
    "00482a5a-887f-4fb3-b363-3b7fe8e74483": "Key Vault Administrator",
    "de139f84-1756-47ae-9be6-808fbbe84772": "Website Contributor",
  };
  // Which roles each module may grant (by key of the one map in main.bicep).
  const ROLES_BY_FILE: Record<string, string[]> = {
    "infra/app/host-storage.bicep": ["storageBlobDataOwner", "storageQueueDataContributor", "storageTableDataContributor"],
    "infra/app/data-access.bicep": ["storageBlobDataContributor", "storageTableDataContributor"],
    "infra/app/monitoring.bicep": ["monitoringMetricsPublisher"],
    "infra/app/keyvault.bicep": ["keyVaultSecretsUser", "keyVaultSecretsOfficer"],
  };
  const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

  const mapMatch = /^var roleIds = \{\n([\s\S]*?)\n\}/m.exec(main.raw);
  const roleMap = new Map(
    [...(mapMatch?.[1] ?? "").matchAll(/^\s*(\w+):\s*'([0-9a-f-]{36})'\s*\/\/\s*(\S.*)$/gm)].map((m) => [m[1]!, { id: m[2]!, comment: m[3]! }]),
  );

  it("takes every role id from one map in main.bicep, each with its name in a comment", () => {
    expect(mapMatch, "var roleIds = { ... } in infra/main.bicep").not.toBeNull();
    const entries = (mapMatch?.[1] ?? "").split("\n").filter((l) => l.trim() !== "");
    expect(roleMap.size, "every line of the map is `key: '<guid>' // <role name> ...`").toBe(entries.length);
    for (const [key, { id, comment }] of roleMap) {
      const role = ALLOWED_ROLES[id.toLowerCase()];
      expect(role, `${key} (${id}) is not a role the design needs`).toBeDefined();
      expect(comment.startsWith(role!), `${key}: the comment starts with the role's name, "${role}"`).toBe(true);
    }
  });

  it("has no role id outside the map and no broad role anywhere", () => {
    for (const { file, raw, text } of bicep) {
      for (const id of raw.match(GUID) ?? []) {
        expect(FORBIDDEN_ROLES[id.toLowerCase()], `${file} mentions ${id}`).toBeUndefined();
      }
      const outsideMap = file === "infra/main.bicep" ? text.replace(/^var roleIds = \{[\s\S]*?\n\}/m, "") : text;
      expect(outsideMap.match(GUID) ?? [], `${file}: role ids belong in the roleIds map of main.bicep`).toEqual([]);
    }
  });

  it("grants each module only the roles its resource needs", () => {
    for (const { file, text } of bicep) {
      if (file === "infra/main.bicep") continue;
      const used = [...new Set([...text.matchAll(/\broleIds\.(\w+)/g)].map((m) => m[1]!))];
      for (const key of used) {
        expect(roleMap.has(key), `${file}: roleIds.${key} is not in the map`).toBe(true);
        expect(ROLES_BY_FILE[file] ?? [], `${file} may not grant ${key}`).toContain(key);
      }
    }
  });

  it("names every assignment guid(scope, principal, role) and scopes it to one resource", () => {
    const assignments = declared("Microsoft.Authorization/roleAssignments@");
    expect(assignments.length).toBeGreaterThan(0);
    for (const a of assignments) {
      expect(a.body, `${a.file} ${a.symbol}: name: guid(<scope>.id, <principal>, <role>)`).toMatch(/\bname:\s*guid\(\s*\w+\.id\s*,\s*[\w.]+\s*,\s*[\w.]+\s*\)/);
      expect(a.body, `${a.file} ${a.symbol}: without scope it is granted on the whole resource group`).toMatch(/\bscope:\s*\w+\s*$/m);
      expect(a.body, `${a.file} ${a.symbol}`).toMatch(/\bprincipalType:/);
    }
  });

  it("scopes each data-plane role to the narrowest resource the code touches", () => {
    // Blob data on the data account only on the container; tables on the account (there is no table scope in Bicep).
    const expected: Record<string, Record<string, string>> = {
      "infra/app/data-access.bicep": { storageBlobDataContributor: "container", storageTableDataContributor: "account" },
      "infra/app/keyvault.bicep": { keyVaultSecretsUser: "vault", keyVaultSecretsOfficer: "vault" },
      "infra/app/monitoring.bicep": { monitoringMetricsPublisher: "applicationInsights" },
    };
    const assignments = declared("Microsoft.Authorization/roleAssignments@");
    for (const [file, roles] of Object.entries(expected)) {
      for (const [role, scope] of Object.entries(roles)) {
        const found = assignments.filter((a) => a.file === file && a.body.includes(`roleIds.${role}`));
        expect(found.length, `${file}: an assignment of ${role}`).toBeGreaterThan(0);
        for (const a of found) expect(a.body, `${file} ${a.symbol}: ${role} on ${scope}`).toMatch(new RegExp(`\\bscope:\\s*${scope}\\s*$`, "m"));
      }
    }
  });

  it("gives Key Vault Secrets Officer to the deploying user only, behind the flag", () => {
    const officer = declared("Microsoft.Authorization/roleAssignments@").filter((a) => a.body.includes("roleIds.keyVaultSecretsOfficer"));
    for (const a of officer) expect(a.body).toMatch(/principalId:\s*userPrincipalId/);
    expect(main.text).toMatch(/userPrincipalId:\s*allowUserIdentityPrincipal\s*\?\s*principalId\s*:\s*''/);
  });
});

describe("infra: app settings are exactly the names the code reads", () => {
  const begin = api.raw.indexOf("// app-settings:begin");
  const end = api.raw.indexOf("// app-settings:end");
  const block = begin >= 0 && end > begin ? api.raw.slice(begin, end) : "";
  const settings = new Map(
    [...stripComments(block).matchAll(/^\s*'?([A-Za-z_][A-Za-z0-9_]*)'?\s*:\s*(.+?)\s*$/gm)].map((m) => [m[1]!, m[2]!]),
  );
  const blockVars = [...block.matchAll(/^var\s+(\w+)\s*=/gm)].map((m) => m[1]!);

  const connection = (prefix: string) =>
    ["blobServiceUri", "queueServiceUri", "tableServiceUri", "credential", "clientId", "accountName"].map((s) => `${prefix}__${s}`);
  const RUNTIME = ["APPLICATIONINSIGHTS_CONNECTION_STRING", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"];
  const NEVER = [
    // Connection strings carry account keys: identity-based settings only.
    SETTINGS.hostStorage,
    SETTINGS.dataStorage,
    // The local simulator's switch, and a file path that does not exist in Azure.
    SETTINGS.defenderAllowLoopback,
    SETTINGS.defenderClientCertificatePath,
    // Not supported on Flex Consumption (the runtime and version live in functionAppConfig).
    "FUNCTIONS_EXTENSION_VERSION",
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_WORKER_RUNTIME_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_CONTENTSHARE",
    "WEBSITE_NODE_DEFAULT_VERSION",
    "SCM_DO_BUILD_DURING_DEPLOYMENT",
    "ENABLE_ORYX_BUILD",
  ];
  const ALLOWED = new Set([
    ...Object.values(SETTINGS).filter((s) => !NEVER.includes(s)),
    ...connection(SETTINGS.dataStorage),
    ...connection(SETTINGS.hostStorage),
    ...RUNTIME,
  ]);
  const REQUIRED = [
    `${SETTINGS.hostStorage}__blobServiceUri`,
    `${SETTINGS.hostStorage}__queueServiceUri`,
    `${SETTINGS.hostStorage}__credential`,
    `${SETTINGS.hostStorage}__clientId`,
    `${SETTINGS.dataStorage}__blobServiceUri`,
    `${SETTINGS.dataStorage}__tableServiceUri`,
    `${SETTINGS.dataStorage}__credential`,
    `${SETTINGS.dataStorage}__clientId`,
    SETTINGS.dataContainer,
    SETTINGS.runsTable,
    SETTINGS.summaryTable,
    SETTINGS.exportMethod,
    SETTINGS.exportSchedule,
    SETTINGS.defenderCloud,
    SETTINGS.defenderApiBaseUrl,
    SETTINGS.defenderAuth,
    SETTINGS.defenderManagedIdentityClientId,
    // Set only in the modes that need them, but the template must know them.
    SETTINGS.defenderTenantId,
    SETTINGS.defenderClientId,
    SETTINGS.defenderClientSecret,
    SETTINGS.defenderClientCertificate,
    ...RUNTIME,
  ];

  it("keeps every app setting between the markers in infra/app/api.bicep, and sets them from there only", () => {
    expect(block, "// app-settings:begin ... // app-settings:end").not.toBe("");
    expect(settings.size).toBeGreaterThan(0);
    const config = declared("config").find((r) => r.file === "infra/app/api.bicep" && /name:\s*'appsettings'/.test(r.body));
    expect(config, "a 'config' resource named 'appsettings'").toBeDefined();
    const union = /properties:\s*union\(([^)]*)\)/.exec(config!.body)?.[1]?.split(",").map((s) => s.trim()) ?? [];
    expect(union.sort()).toEqual([...blockVars].sort());
    for (const { file, text } of bicep) expect(text, `${file}: siteConfig.appSettings`).not.toMatch(/\bappSettings\s*:\s*\[/);
  });

  it("sets no name the code does not read (typos, other names, Flex-unsupported or key-based settings)", () => {
    for (const key of settings.keys()) {
      expect(NEVER, `${key} must not be set in Azure`).not.toContain(key);
      expect(ALLOWED.has(key), `${key} is not read by shared/config.ts (SETTINGS) nor by the Functions runtime`).toBe(true);
    }
  });

  it("sets every setting the code needs in Azure", () => {
    for (const key of REQUIRED) expect(settings.has(key), `${key} is not set`).toBe(true);
  });

  it("connects to storage with the managed identity", () => {
    for (const prefix of [SETTINGS.hostStorage, SETTINGS.dataStorage]) {
      expect(settings.get(`${prefix}__credential`)).toBe("'managedidentity'");
      expect(settings.get(`${prefix}__clientId`)).toBe("identityClientId");
    }
    expect(settings.get(SETTINGS.defenderManagedIdentityClientId)).toBe("identityClientId");
    expect(settings.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING")).toBe("'ClientId=${identityClientId};Authorization=AAD'");
  });

  it("reads the Defender secret or certificate through a Key Vault reference, never a value", () => {
    for (const key of [SETTINGS.defenderClientSecret, SETTINGS.defenderClientCertificate]) {
      expect(settings.get(key)).toBe("defenderCredentialReference");
    }
    expect(main.text).toMatch(/var defenderCredentialReference = useKeyVault \? '@Microsoft\.KeyVault\(SecretUri=\$\{keyVaultUri\}secrets\/\$\{credentialSecretName\}\/\)' : ''/);
    expect(api.text).toMatch(/keyVaultReferenceIdentity:\s*identityId/);
  });

  // The parameter behind each setting has the code's own default (shared/config.ts).
  const defaults = loadConfig({ [SETTINGS.dataStorage]: "UseDevelopmentStorage=true", [SETTINGS.hostStorage]: "UseDevelopmentStorage=true" });
  const PARAMS: Array<[param: string, setting: string, codeDefault: string]> = [
    ["dataContainerName", SETTINGS.dataContainer, defaults.storage.container],
    ["runsTableName", SETTINGS.runsTable, defaults.storage.runsTable],
    ["summaryTableName", SETTINGS.summaryTable, defaults.storage.summaryTable],
    ["exportSchedule", SETTINGS.exportSchedule, defaults.export.schedule],
    ["exportMethod", SETTINGS.exportMethod, defaults.export.method],
    ["defenderAuth", SETTINGS.defenderAuth, defaults.defender.credential.auth],
    ["defenderCloud", SETTINGS.defenderCloud, defaults.defender.cloud],
  ];
  const parameterFile = JSON.parse(read(join(infraDir, "main.parameters.json"))) as { parameters: Record<string, { value?: unknown }> };

  it.each(PARAMS)("param %s (%s) defaults to the code's default", (param, setting, codeDefault) => {
    expect(unquote(paramDefaults(main.text).get(param)), `infra/main.bicep param ${param}`).toBe(codeDefault);
    expect(settings.get(setting), `${setting} comes from param ${param}`).toBe(param);
    expect(main.text).toMatch(new RegExp(String.raw`\b${param}:\s*${param}\b`));
    const value = parameterFile.parameters[param]?.value;
    if (typeof value === "string" && value.startsWith("${")) {
      const fallback = /^\$\{\w+=(.*)\}$/.exec(value)?.[1];
      expect(fallback, `infra/main.parameters.json ${param}: \${VAR=<default>} keeps the default when VAR is unset`).toBe(codeDefault);
    }
  });

  it("derives the API base URL per cloud exactly as shared/config.ts does", () => {
    expect(allowedValues(main.text, "defenderCloud").sort()).toEqual(Object.keys(CLOUDS).sort());
    const urls = blockFrom(main.text, main.text.indexOf("var defenderApiBaseUrls"));
    for (const [cloud, { apiBaseUrl }] of Object.entries(CLOUDS)) {
      expect(urls).toMatch(new RegExp(String.raw`\b${cloud}:\s*'${apiBaseUrl.replaceAll(".", "\\.")}'`));
    }
    expect(main.text).toMatch(/'https:\/\/\$\{defenderApiRegion\}\.api\.security\.microsoft\.com'/);
  });

  it("offers only values the code accepts", () => {
    const base = { [SETTINGS.dataStorage]: "UseDevelopmentStorage=true", [SETTINGS.hostStorage]: "UseDevelopmentStorage=true" };
    const appRegistration = {
      [SETTINGS.defenderTenantId]: "00000000-0000-0000-0000-000000000001",
      [SETTINGS.defenderClientId]: "00000000-0000-0000-0000-000000000002",
      [SETTINGS.defenderManagedIdentityClientId]: "00000000-0000-0000-0000-000000000003",
      [SETTINGS.defenderClientSecret]: "not-a-real-secret",
      [SETTINGS.defenderClientCertificate]: "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----",
    };
    for (const auth of allowedValues(main.text, "defenderAuth")) {
      expect(() => loadConfig({ ...base, ...appRegistration, [SETTINGS.defenderAuth]: auth }), `DEFENDER_AUTH=${auth}`).not.toThrow();
    }
    for (const method of allowedValues(main.text, "exportMethod")) {
      expect(() => loadConfig({ ...base, [SETTINGS.exportMethod]: method }), `EXPORT_METHOD=${method}`).not.toThrow();
    }
    for (const region of allowedValues(main.text, "defenderApiRegion").filter((r) => r !== "")) {
      const url = `https://${region}.api.security.microsoft.com`;
      expect(loadConfig({ ...base, [SETTINGS.defenderApiBaseUrl]: url }).defender.apiBaseUrl).toBe(url);
    }
  });

  it("sets every setting the functions' bindings name (%NAME% expressions, connections)", () => {
    const sources = filesUnder(functionsDir, ".ts").map(read).join("\n");
    const expressions = [...sources.matchAll(/%(\w+)%|%\$\{SETTINGS\.(\w+)\}%/g)].map((m) => m[1] ?? SETTINGS[m[2] as keyof typeof SETTINGS]);
    for (const setting of expressions) expect(settings.has(setting), `%${setting}% in functions/`).toBe(true);
    const connections = [...sources.matchAll(/connection:\s*(?:["'](\w+)["']|(QUEUE_CONNECTION)|SETTINGS\.(\w+))/g)].map((m) =>
      m[1] ?? (m[2] ? SETTINGS.hostStorage : SETTINGS[m[3] as keyof typeof SETTINGS]),
    );
    for (const prefix of connections) {
      expect(settings.has(`${prefix}__queueServiceUri`) || settings.has(`${prefix}__blobServiceUri`), `connection ${prefix} in functions/`).toBe(true);
    }
  });
});

describe("infra: no secret in a template, a parameter or an output", () => {
  const SECRETISH = /key|secret|password|passwd|connectionstring|connection_string|sas|token|credential|certificate/i;
  // Names of things, not the things: fooSecretName, keyVaultUri, clientId...
  const A_NAME = /(name|names|uri|url|id|enabled|type|version|group)$/i;
  const withoutVaultWord = (s: string) => s.replace(/key_?vault/gi, "");

  it("never calls listKeys() or another list*() that returns keys or SAS tokens", () => {
    for (const { file, text } of bicep) {
      expect(text, file).not.toMatch(/\blist(Keys|AccountSas|ServiceSas|ConnectionStrings|Secrets|Credentials?)\s*\(/i);
    }
  });

  it("outputs names and endpoints only", () => {
    for (const { file, text } of bicep) {
      for (const m of text.matchAll(/^output\s+(\w+)\s+\w+\s*=\s*(.+)$/gm)) {
        const [, output, value] = m;
        expect(SECRETISH.test(withoutVaultWord(output!)), `${file}: output ${output}`).toBe(false);
        expect(value, `${file}: output ${output}`).not.toMatch(/ConnectionString|InstrumentationKey|listKeys|primaryKey|secret/i);
      }
      expect(text, `${file}: @secure() outputs`).not.toMatch(/@secure\(\)\s*output/);
    }
  });

  it("has no default value for a secret parameter", () => {
    for (const { file, text } of bicep) {
      for (const m of text.matchAll(/^((?:@[^\n]*\n)*)param\s+(\w+)\s+\w+(?:\s*=\s*(.+?))?\s*$/gm)) {
        const [, decorators, param, fallback] = m;
        const secret = decorators!.includes("@secure()") || (SECRETISH.test(withoutVaultWord(param!)) && !A_NAME.test(param!));
        if (secret && fallback !== undefined) expect(fallback.trim(), `${file}: param ${param}`).toBe("''");
      }
    }
  });

  it("keeps secrets out of main.parameters.json", () => {
    const parameters = JSON.parse(read(join(infraDir, "main.parameters.json"))) as { parameters: Record<string, { value?: unknown; reference?: unknown }> };
    for (const [param, { value }] of Object.entries(parameters.parameters)) {
      if (SECRETISH.test(withoutVaultWord(param)) && !A_NAME.test(param)) expect(value, `parameter ${param}`).toBeUndefined();
      expect(String(value), `parameter ${param}`).not.toMatch(/AccountKey=|SharedAccessSignature=|[?&]sig=|-----BEGIN/i);
    }
  });
});

describe("functions: HTTP triggers require a function key", () => {
  const httpFiles = filesUnder(functionsDir, ".ts")
    .map((path) => ({ file: name(path), text: read(path) }))
    .filter(({ text }) => /\bapp\.(http|get|post|put|patch|deleteRequest)\s*\(/.test(text));

  it("finds the HTTP functions", () => {
    expect(httpFiles.map((f) => f.file).sort()).toEqual(["functions/runStatus.ts", "functions/startRun.ts"]);
  });

  it.each(httpFiles.map((f) => [f.file, f.text] as const))("%s uses authLevel 'function' and nothing else", (file, text) => {
    const levels = [...text.matchAll(/authLevel\s*:\s*(\S+?)\s*[,}\n]/g)].map((m) => m[1]!);
    expect(levels.length, `${file}: every app.http(...) sets authLevel: "function" (the default is anonymous)`).toBeGreaterThan(0);
    for (const level of levels) expect(level.replaceAll(/["'`]/g, ""), file).toBe("function");
  });
});
