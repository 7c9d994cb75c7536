import { ClientAssertionCredential, ClientCertificateCredential, ClientSecretCredential } from "@azure/identity";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DefenderCredentialSettings } from "../../../shared/config.js";
import { DefenderClient } from "../../../shared/defender/client.js";
import { createDefenderCredential } from "../../../shared/defender/credential.js";
import { DefenderApiError, DefenderAuthError } from "../../../shared/errors.js";
import { MemoryLogger } from "../../../shared/log.js";
import { fakeClock } from "../../unit/defender/clock.js";
import { startApiServer, type ApiServer } from "./apiServer.js";
import { makeCertificate, startTokenServer, type Pem, type TokenServer } from "./tokenServer.js";

const TENANT = "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f";
const SECRET_APP = "11111111-aaaa-4bbb-8ccc-111111111111";
const CERT_APP = "22222222-aaaa-4bbb-8ccc-222222222222";
const ASSERTION_APP = "33333333-aaaa-4bbb-8ccc-333333333333";
const SECRET = "s3cr3t~Value.With-Symbols_0123456789";
const ASSERTION = "federated-assertion-from-the-platform";
const SCOPE = "https://api.securitycenter.microsoft.com/.default";

let tls: Pem;
let appCert: Pem;
let strangerCert: Pem;
let tokens: TokenServer;
let api: ApiServer;

beforeAll(async () => {
  tls = makeCertificate("127.0.0.1", "IP:127.0.0.1,DNS:localhost");
  appCert = makeCertificate("defender-export-app");
  strangerCert = makeCertificate("someone-else");
  tokens = await startTokenServer({
    tls,
    tenantId: TENANT,
    apps: {
      [SECRET_APP]: { secret: SECRET },
      [CERT_APP]: { certificate: appCert.cert },
      [ASSERTION_APP]: { assertion: (jwt) => jwt === ASSERTION },
    },
  });
  api = await startApiServer(() => ({ body: { exportFiles: [], generatedTime: "2026-12-01T02:00:00Z" } }), {
    acceptToken: (token) => tokens.issued.get(token)?.scope === SCOPE,
  });
});

afterAll(async () => {
  await Promise.all([tokens?.close(), api?.close()]);
  for (const pem of [tls, appCert, strangerCert]) pem?.remove();
});

/** What the simulator must also do: trust its certificate, and skip instance discovery for a loopback authority. */
const identityOptions = () => ({ authorityHost: tokens.authorityHost, disableInstanceDiscovery: true, tlsOptions: { ca: tls.cert } });

function settings(overrides: Partial<DefenderCredentialSettings>): DefenderCredentialSettings {
  return { auth: "secret", tenantId: TENANT, authorityHost: tokens.authorityHost, scope: SCOPE, ...overrides };
}

async function authFailure(promise: Promise<unknown>): Promise<DefenderAuthError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof DefenderAuthError)) throw new Error(`expected a DefenderAuthError, got ${String(error)}`);
  return error;
}

describe("@azure/identity against the test token endpoint", () => {
  it("ClientSecretCredential gets a token after reading the OpenID configuration", async () => {
    const before = tokens.requests.length;
    const token = await new ClientSecretCredential(TENANT, SECRET_APP, SECRET, identityOptions()).getToken(SCOPE);
    expect(tokens.issued.get(token.token)).toEqual({ clientId: SECRET_APP, scope: SCOPE, grant: "client_credentials" });
    expect(tokens.requests.slice(before)).toEqual([
      `GET /${TENANT}/v2.0/.well-known/openid-configuration`,
      `POST /${TENANT}/oauth2/v2.0/token`,
    ]);
  });

  it("ClientCertificateCredential signs an assertion the endpoint verifies with the certificate", async () => {
    const token = await new ClientCertificateCredential(TENANT, CERT_APP, { certificate: appCert.combined }, identityOptions()).getToken(SCOPE);
    expect(tokens.issued.get(token.token)?.clientId).toBe(CERT_APP);
  });

  it("ClientAssertionCredential sends the assertion its function returns", async () => {
    const token = await new ClientAssertionCredential(TENANT, ASSERTION_APP, async () => ASSERTION, identityOptions()).getToken(SCOPE);
    expect(tokens.issued.get(token.token)?.clientId).toBe(ASSERTION_APP);
    await expect(new ClientAssertionCredential(TENANT, ASSERTION_APP, async () => "forged", identityOptions()).getToken(SCOPE)).rejects.toThrow(
      /AADSTS700211/,
    );
  });
});

describe("createDefenderCredential", () => {
  const tlsOnly = () => ({ tlsOptions: { ca: tls.cert } });

  it("secret: gets a token", async () => {
    const token = await createDefenderCredential(settings({ clientId: SECRET_APP, clientSecret: SECRET }), tlsOnly()).getToken(SCOPE);
    expect(tokens.issued.get(token.token)?.clientId).toBe(SECRET_APP);
  });

  it("certificate: gets a token from PEM text and from a path", async () => {
    for (const s of [
      settings({ auth: "certificate", clientId: CERT_APP, clientCertificate: appCert.combined }),
      settings({ auth: "certificate", clientId: CERT_APP, clientCertificatePath: appCert.combinedPath }),
    ]) {
      const token = await createDefenderCredential(s, tlsOnly()).getToken(SCOPE);
      expect(tokens.issued.get(token.token)?.clientId).toBe(CERT_APP);
    }
  });

  it("a wrong secret fails naming the mode, tenant and client, never the secret", async () => {
    const wrong = `${SECRET}-old`;
    const error = await authFailure(createDefenderCredential(settings({ clientId: SECRET_APP, clientSecret: wrong }), tlsOnly()).getToken(SCOPE));
    expect(error.message).toContain("DEFENDER_AUTH=secret");
    expect(error.message).toContain(`tenant ${TENANT}, client id ${SECRET_APP}`);
    expect(error.message).toContain("AADSTS7000215");
    expect(error.message).toContain("DEFENDER_CLIENT_SECRET");
    expect(error.message).not.toContain(SECRET);
  });

  it("a certificate the app does not know fails naming the mode", async () => {
    const s = settings({ auth: "certificate", clientId: CERT_APP, clientCertificate: strangerCert.combined });
    const error = await authFailure(createDefenderCredential(s, tlsOnly()).getToken(SCOPE));
    expect(error.message).toContain("DEFENDER_AUTH=certificate");
    expect(error.message).toContain("AADSTS700027");
    expect(error.message).not.toContain("PRIVATE KEY");
  });

  it("an authority it cannot read (here: untrusted TLS) fails naming the metadata URL and the settings to check", async () => {
    const error = await authFailure(createDefenderCredential(settings({ clientId: SECRET_APP, clientSecret: SECRET })).getToken(SCOPE));
    expect(error.message).toContain(`${tokens.authorityHost}/${TENANT}/v2.0/.well-known/openid-configuration could not be read`);
    expect(error.message).toContain("DEFENDER_AUTHORITY_HOST");
    expect(error.message).not.toContain(SECRET);
  });
});

describe("DefenderClient with a real credential", () => {
  it("calls the API with the issued token, and the credential caches it across calls", async () => {
    const credential = createDefenderCredential(settings({ clientId: SECRET_APP, clientSecret: SECRET }), { tlsOptions: { ca: tls.cert } });
    const clock = fakeClock();
    const client = new DefenderClient({ apiBaseUrl: api.url, credential, scope: SCOPE, allowLoopback: true, retryBudgetMs: 60_000, ...clock });
    const tokenPosts = () => tokens.requests.filter((r) => r.endsWith("/oauth2/v2.0/token")).length;
    const before = tokenPosts();
    await client.infoGatheringExport({ sasValidHours: 6 });
    await client.infoGatheringExport({ sasValidHours: 6 });
    expect(tokenPosts() - before).toBe(1);
  });

  it("gets 401 from the API with a token it did not issue, and says which permission", async () => {
    const client = new DefenderClient({
      apiBaseUrl: api.url,
      credential: { getToken: async () => ({ token: "not-issued", expiresOnTimestamp: Date.now() + 60_000 }) },
      scope: SCOPE,
      allowLoopback: true,
      retryBudgetMs: 60_000,
      logger: new MemoryLogger(),
    });
    const error = await client.infoGatheringExport({ sasValidHours: 6 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DefenderApiError);
    expect((error as DefenderApiError).status).toBe(401);
    expect((error as DefenderApiError).message).toContain("Vulnerability.Read.All");
  });

  it("surfaces a credential failure as a DefenderAuthError and logs one failed line", async () => {
    const logger = new MemoryLogger();
    const credential = createDefenderCredential(settings({ clientId: SECRET_APP, clientSecret: "wrong" }), { tlsOptions: { ca: tls.cert } });
    const client = new DefenderClient({ apiBaseUrl: api.url, credential, scope: SCOPE, allowLoopback: true, retryBudgetMs: 60_000, logger });
    await expect(client.infoGatheringExport({ sasValidHours: 6 })).rejects.toBeInstanceOf(DefenderAuthError);
    expect(logger.lines).toEqual([expect.stringMatching(/^warn defender failed "InfoGatheringExport" elapsedMs=\d+ error=DefenderAuthError$/)]);
  });
});
