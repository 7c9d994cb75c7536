import { randomBytes, randomUUID } from "node:crypto";

/**
 * The simulated tenant's Entra ID part: OAuth2 client credentials (secret or JWT client assertion)
 * answered the way login.microsoftonline.com answers, with opaque tokens it remembers.
 */
export interface OAuthAnswer {
  status: number;
  body: Record<string, unknown>;
}

export interface TokenEndpointContext {
  tenantId: string;
  clientId: string;
  clientSecret: string;
  /** The token endpoint's absolute URL: the audience a client assertion must name. */
  tokenUrl: string;
  /** Other audiences accepted for a client assertion (the issuer, the authority). */
  otherAudiences: readonly string[];
  tokenLifetimeSeconds: number;
  now: () => number;
}

const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/** Opaque bearer tokens, each valid until its expiry on the tenant's clock. */
export class TokenStore {
  private readonly tokens = new Map<string, number>();
  /** Every token ever issued, revoked or expired ones included (what must never leak into the app's output). */
  readonly issued: string[] = [];
  constructor(private readonly now: () => number) {}

  issue(lifetimeSeconds: number): string {
    const token = randomBytes(32).toString("base64url");
    this.tokens.set(token, this.now() + lifetimeSeconds * 1000);
    this.issued.push(token);
    return token;
  }

  isValid(token: string): boolean {
    const expiresAt = this.tokens.get(token);
    if (expiresAt === undefined) return false;
    if (expiresAt > this.now()) return true;
    this.tokens.delete(token);
    return false;
  }

  /** Forgets every token: the next API call answers 401 until a new token is fetched. */
  revokeAll(): void {
    this.tokens.clear();
  }
}

/** Answers one POST to `/{tenant}/oauth2/v2.0/token`. */
export function answerTokenRequest(
  pathTenant: string,
  form: URLSearchParams,
  context: TokenEndpointContext,
  store: TokenStore,
): OAuthAnswer {
  const fail = (status: number, error: string, code: number, description: string): OAuthAnswer => ({
    status,
    body: oauthError(error, code, description, context.now()),
  });

  if (pathTenant !== context.tenantId) {
    return fail(400, "invalid_request", 90002, `Tenant '${pathTenant}' not found. Check to make sure you have the correct tenant ID.`);
  }
  const grantType = form.get("grant_type");
  if (grantType !== "client_credentials") {
    return grantType === null
      ? fail(400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
      : fail(400, "unsupported_grant_type", 70003, `The app requested an unsupported grant type '${grantType}'.`);
  }
  const clientId = form.get("client_id");
  if (!clientId) return fail(400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.");
  if (clientId !== context.clientId) {
    return fail(400, "unauthorized_client", 700016,
      `Application with identifier '${clientId}' was not found in the directory '${context.tenantId}'.`);
  }
  const scope = form.get("scope");
  if (!scope) return fail(400, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.");
  if (!scope.split(" ").some((s) => s.endsWith("/.default"))) {
    return fail(400, "invalid_scope", 1002012,
      `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.`);
  }

  const secret = form.get("client_secret");
  const assertion = form.get("client_assertion");
  if (secret !== null) {
    if (secret !== context.clientSecret) {
      return fail(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.");
    }
  } else if (assertion !== null) {
    if (form.get("client_assertion_type") !== JWT_BEARER) {
      return fail(400, "invalid_request", 700023, `client_assertion_type must be '${JWT_BEARER}'.`);
    }
    const problem = checkAssertion(assertion, context);
    if (problem !== undefined) return fail(401, "invalid_client", problem.code, problem.description);
  } else {
    return fail(401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
  }

  const lifetime = context.tokenLifetimeSeconds;
  return {
    status: 200,
    body: {
      token_type: "Bearer",
      expires_in: lifetime,
      ext_expires_in: lifetime,
      access_token: store.issue(lifetime),
    },
  };
}

/** A light check of a JWT client assertion: shape, aud, iss, sub and times; the signature is not verified. */
function checkAssertion(assertion: string, context: TokenEndpointContext): { code: number; description: string } | undefined {
  const parts = assertion.split(".");
  const payload = parts.length === 3 ? decodeJson(parts[1] ?? "") : undefined;
  if (parts.length !== 3 || decodeJson(parts[0] ?? "") === undefined || payload === undefined) {
    return { code: 50027, description: "JWT token is invalid or malformed." };
  }
  const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  const accepted = [context.tokenUrl, ...context.otherAudiences];
  if (!audiences.some((a) => typeof a === "string" && accepted.includes(a))) {
    return { code: 700212, description: `The client assertion's audience claim does not match: expected '${context.tokenUrl}'.` };
  }
  if (payload.iss !== context.clientId || payload.sub !== context.clientId) {
    return { code: 700021, description: "The client assertion's iss and sub claims must both be the client id." };
  }
  const nowSeconds = context.now() / 1000;
  if (typeof payload.exp !== "number" || payload.exp <= nowSeconds) {
    return { code: 700024, description: "Client assertion is not within its valid time range." };
  }
  if (typeof payload.nbf === "number" && payload.nbf > nowSeconds + 300) {
    return { code: 700024, description: "Client assertion is not within its valid time range." };
  }
  return undefined;
}

function decodeJson(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The body Entra ID sends with a 400/401 from the token endpoint. */
export function oauthError(error: string, code: number, description: string, now: number): Record<string, unknown> {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date(now).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  return {
    error,
    error_description: `AADSTS${code}: ${description} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
    error_codes: [code],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
  };
}
