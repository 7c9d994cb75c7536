import { execFileSync } from "node:child_process";
import { constants, createHash, createPublicKey, randomBytes, verify, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeCertificate, type Pem } from "../../../local/tls.js";

export { makeCertificate, type Pem };

/** How an app registration proves itself: a secret, a certificate (public PEM), or a check of the assertion. */
export type AppCredential = { secret: string } | { certificate: string } | { assertion: (jwt: string) => boolean };

export interface IssuedToken {
  clientId: string;
  scope: string;
  /** "client_credentials" or "managed_identity". */
  grant: string;
}

export interface TokenServer {
  /** The authority host (https://127.0.0.1:<port>), the value of DEFENDER_AUTHORITY_HOST. */
  authorityHost: string;
  /** The App Service style managed identity endpoint (IDENTITY_ENDPOINT); IDENTITY_HEADER is `identityHeader`. */
  identityEndpoint: string;
  identityHeader: string;
  /** Every token issued, by value. */
  issued: Map<string, IssuedToken>;
  /** Every request's method and path (without query), in order. */
  requests: string[];
  close(): Promise<void>;
}

/**
 * A small Entra-like token endpoint over HTTPS, enough for @azure/identity (MSAL) with
 * `disableInstanceDiscovery`: `GET /{tenant}/v2.0/.well-known/openid-configuration` and
 * `POST /{tenant}/oauth2/v2.0/token` (client credentials by secret, certificate-signed JWT or
 * assertion). It also plays the App Service managed identity endpoint (`GET /msi/token`), whose
 * tokens `managedIdentities` lists by client id ("system" for the system-assigned one).
 */
export async function startTokenServer(opts: {
  tls: Pem;
  tenantId: string;
  apps: Record<string, AppCredential>;
  managedIdentities?: string[];
}): Promise<TokenServer> {
  const issued = new Map<string, IssuedToken>();
  const requests: string[] = [];
  const identityHeader = randomBytes(8).toString("hex");
  let origin = "";

  const server = createServer({ cert: opts.tls.cert, key: opts.tls.key }, (req, res) => {
    void handle(req, res).catch((error: unknown) => send(res, 500, { error: "server_error", error_description: String(error) }));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", origin);
    requests.push(`${req.method} ${url.pathname}`);
    const tenant = `/${opts.tenantId}`;
    if (req.method === "GET" && url.pathname === `${tenant}/v2.0/.well-known/openid-configuration`) {
      return send(res, 200, {
        issuer: `${origin}${tenant}/v2.0`,
        token_endpoint: `${origin}${tenant}/oauth2/v2.0/token`,
        authorization_endpoint: `${origin}${tenant}/oauth2/v2.0/authorize`,
        jwks_uri: `${origin}${tenant}/discovery/v2.0/keys`,
        token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt"],
        response_types_supported: ["code", "id_token", "token"],
        subject_types_supported: ["pairwise"],
        id_token_signing_alg_values_supported: ["RS256"],
        tenant_region_scope: "NA",
      });
    }
    if (req.method === "POST" && url.pathname === `${tenant}/oauth2/v2.0/token`) {
      const form = new URLSearchParams(await readBody(req));
      const clientId = form.get("client_id") ?? "";
      const app = opts.apps[clientId];
      if (form.get("grant_type") !== "client_credentials") return oauthError(res, 400, "unsupported_grant_type", "AADSTS70003");
      if (!app) return oauthError(res, 400, "unauthorized_client", `AADSTS700016: Application with identifier '${clientId}' was not found.`);
      const problem = checkClient(app, form, clientId, `${origin}${url.pathname}`);
      if (problem) return oauthError(res, 401, "invalid_client", problem);
      const token = randomBytes(24).toString("base64url");
      issued.set(token, { clientId, scope: form.get("scope") ?? "", grant: "client_credentials" });
      return send(res, 200, { token_type: "Bearer", expires_in: 3599, ext_expires_in: 3599, access_token: token });
    }
    if (req.method === "GET" && url.pathname === "/msi/token") {
      const id = url.searchParams.get("client_id") ?? "system";
      if (req.headers["x-identity-header"] !== identityHeader) return send(res, 401, { error: "unauthorized", error_description: "X-IDENTITY-HEADER is wrong" });
      if (!opts.managedIdentities?.includes(id)) return send(res, 400, { error: "invalid_request", error_description: `No managed identity ${id}` });
      const resource = url.searchParams.get("resource") ?? "";
      const token = randomBytes(24).toString("base64url");
      issued.set(token, { clientId: id, scope: resource, grant: "managed_identity" });
      return send(res, 200, { access_token: token, expires_on: String(Math.floor(Date.now() / 1000) + 3600), resource, token_type: "Bearer" });
    }
    send(res, 404, { error: "not_found", error_description: `${req.method} ${url.pathname}` });
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    authorityHost: origin,
    identityEndpoint: `${origin}/msi/token`,
    identityHeader,
    issued,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** undefined when the client proved itself; else the AADSTS-style reason. */
function checkClient(app: AppCredential, form: URLSearchParams, clientId: string, tokenEndpoint: string): string | undefined {
  if ("secret" in app) return form.get("client_secret") === app.secret ? undefined : "AADSTS7000215: Invalid client secret provided.";
  const assertion = form.get("client_assertion");
  if (form.get("client_assertion_type") !== "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" || !assertion) {
    return "AADSTS7000216: 'client_assertion' is required.";
  }
  if ("assertion" in app) return app.assertion(assertion) ? undefined : "AADSTS700211: No matching federated identity record found.";
  return checkCertificateJwt(assertion, app.certificate, clientId, tokenEndpoint);
}

/** The JWT MSAL signs with the certificate's key: signature, thumbprint, audience, issuer, expiry. */
function checkCertificateJwt(jwt: string, certificate: string, clientId: string, tokenEndpoint: string): string | undefined {
  const [h, p, s] = jwt.split(".");
  if (!h || !p || !s) return "AADSTS50027: the assertion is not a JWT.";
  const header = JSON.parse(Buffer.from(h, "base64url").toString()) as Record<string, string>;
  const payload = JSON.parse(Buffer.from(p, "base64url").toString()) as Record<string, unknown>;
  const der = new X509Certificate(certificate).raw;
  const thumbprints = [createHash("sha256").update(der).digest("base64url"), createHash("sha1").update(der).digest("base64url")];
  if (!thumbprints.includes(header["x5t#S256"] ?? header.x5t ?? "")) return "AADSTS700027: the certificate thumbprint is not registered.";
  const key = createPublicKey(certificate);
  const data = Buffer.from(`${h}.${p}`);
  const signature = Buffer.from(s, "base64url");
  const ok =
    header.alg === "PS256"
      ? verify("sha256", data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, signature)
      : header.alg === "RS256" && verify("sha256", data, key, signature);
  if (!ok) return "AADSTS700027: the assertion's signature does not verify.";
  if (payload.iss !== clientId || payload.sub !== clientId) return "AADSTS700023: the assertion's issuer/subject is not the client id.";
  if (payload.aud !== tokenEndpoint) return `AADSTS700024: the assertion's audience ${String(payload.aud)} is not ${tokenEndpoint}.`;
  if (typeof payload.exp !== "number" || payload.exp * 1000 < Date.now()) return "AADSTS700024: the assertion has expired.";
  return undefined;
}

function oauthError(res: ServerResponse, status: number, error: string, description: string): void {
  send(res, status, { error, error_description: description, error_codes: [Number(/\d+/.exec(description)?.[0] ?? 0)], trace_id: "t", correlation_id: "c" });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8" }).end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
