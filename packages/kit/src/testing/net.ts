import { createServer, connect, type Server, type Socket } from "node:net";

/** A loopback port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Pipes two sockets both ways; either closing or failing closes both. */
function bridge(client: Socket, upstream: Socket, sockets: Set<Socket>): void {
  sockets.add(client).add(upstream);
  const drop = () => {
    client.destroy();
    upstream.destroy();
    sockets.delete(client);
    sockets.delete(upstream);
  };
  client.on("error", drop).on("close", drop);
  upstream.on("error", drop).on("close", drop);
  client.pipe(upstream).pipe(client);
}

export interface TcpProxy {
  port: number;
  /**
   * Keeps every open connection up but drops what the upstream sends on them from now on:
   * requests still arrive, their answers are lost on the way back (until `cut`).
   */
  stall(): void;
  /** Cuts every connection and refuses new ones: the upstream looks down. */
  cut(): Promise<void>;
  /** Accepts connections again. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A loopback TCP proxy to a real server (e.g. PostgreSQL), so a test can take the
 * dependency away and give it back without stopping the shared server.
 */
export async function startTcpProxy(targetPort: number, targetHost = "127.0.0.1"): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  let server: Server | undefined;
  const port = await freePort();
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((client) => {
        const pair = { client, upstream: connect(targetPort, targetHost) };
        pairs.add(pair);
        pair.upstream.once("close", () => pairs.delete(pair));
        bridge(client, pair.upstream, sockets);
      });
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => resolve());
      server = s;
    });
  const cut = async () => {
    const s = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  const stall = () => {
    for (const { client, upstream } of pairs) {
      upstream.unpipe(client);
      // Read and discard, so the upstream is not blocked by a full buffer either.
      upstream.on("data", () => undefined);
    }
  };
  await listen();
  return { port, stall, cut, restore: listen, close: cut };
}

export interface TcpBalancer {
  port: number;
  close(): Promise<void>;
}

/**
 * A loopback TCP balancer over several servers (e.g. edges): each new connection goes to the
 * next target that accepts it, so when one dies its clients reconnect to another — what a
 * real load balancer does for websockets.
 */
export async function startTcpBalancer(targets: number[], host = "127.0.0.1"): Promise<TcpBalancer> {
  const sockets = new Set<Socket>();
  let next = 0;
  const server = createServer((client) => {
    sockets.add(client);
    client.pause();
    const attempt = (tries: number) => {
      if (tries >= targets.length) {
        client.destroy();
        return;
      }
      const target = targets[next++ % targets.length]!;
      const upstream = connect(target, host);
      upstream.once("connect", () => {
        bridge(client, upstream, sockets);
        client.resume();
      });
      upstream.once("error", () => attempt(tries + 1));
    };
    attempt(0);
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => resolve((server.address() as { port: number }).port));
  });
  return {
    port,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
