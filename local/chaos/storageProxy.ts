import { createServer, connect, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

/**
 * A TCP proxy in front of one Azurite port: it passes bytes both ways until it is taken down, then
 * refuses connections (its port closed) and cuts the ones it had, in the middle of whatever request,
 * until it is brought up again on the same port. The chaos run puts one in front of each storage
 * service, so the app meets storage that is unreachable for a while.
 */
export class StorageProxy {
  private server: Server | undefined;
  private readonly clients = new Set<Socket>();
  private port = 0;

  constructor(private readonly host: string, private readonly targetPort: number) {}

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  /** Listens (on a free port the first time, then on the same one again). */
  async open(): Promise<void> {
    if (this.server) return;
    const server = createServer((client) => this.pipe(client));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, this.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stops listening (new connections are refused) and cuts every open connection. */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const client of this.clients) client.destroy();
    this.clients.clear();
    await closed;
  }

  private pipe(client: Socket): void {
    const upstream = connect(this.targetPort, this.host);
    this.clients.add(client);
    const end = (): void => {
      this.clients.delete(client);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) socket.on("error", end).on("close", end);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
