import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

export interface ApiRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** 1 for the first request to this path and query, 2 for its first retry, … */
  attempt: number;
}

/** What the server does: answer (JSON for objects), destroy the socket, or never answer. */
export type ApiReply =
  | { status?: number; headers?: Record<string, string>; body?: unknown }
  | { reset: true }
  | { hang: true };

export interface ApiServer {
  url: string;
  requests: ApiRequest[];
  close(): Promise<void>;
}

/**
 * A Defender-like API on http://127.0.0.1 that counts attempts per path and query. With `acceptToken`,
 * a request without an accepted bearer token gets 401 before the handler sees it.
 */
export async function startApiServer(
  handler: (req: ApiRequest) => ApiReply | Promise<ApiReply>,
  opts: { acceptToken?: (token: string) => boolean } = {},
): Promise<ApiServer> {
  const requests: ApiRequest[] = [];
  const attempts = new Map<string, number>();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const key = `${req.method} ${url.pathname}${url.search}`;
    const attempt = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, attempt);
    const request: ApiRequest = { method: req.method ?? "", path: url.pathname, query: url.searchParams, headers: req.headers, attempt };
    requests.push(request);
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    if (opts.acceptToken && !(token && opts.acceptToken(token))) {
      res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "Unauthorized", message: "Invalid token" } }));
      return;
    }
    void Promise.resolve(handler(request)).then((reply) => {
      if ("reset" in reply) return void req.socket.destroy();
      if ("hang" in reply) return;
      const body = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body ?? {});
      res.writeHead(reply.status ?? 200, { "content-type": "application/json", ...reply.headers }).end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
