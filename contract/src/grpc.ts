import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

/** One RPC the .proto files declare. */
export interface Rpc {
  /** Fully qualified service name, e.g. redup.rooms.v1.RoomsService. */
  service: string;
  method: string;
  /** `service/method`: the key of its check. */
  name: string;
  definition: protoLoader.MethodDefinition<object, object>;
}

/** Every .proto file under `dir`, relative to it (generated and installed folders left out). */
export function protoFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      if (entry.isDirectory()) {
        if (!["node_modules", "gen", "dist"].includes(entry.name)) walk(join(at, entry.name));
      } else if (entry.name.endsWith(".proto")) {
        out.push(relative(dir, join(at, entry.name)));
      }
    }
  };
  walk(dir);
  return out.sort();
}

/**
 * Every RPC of every service in the .proto files under `dir`, loaded at run time: plain
 * objects, enums as names, 64-bit integers as decimal strings, defaults filled in.
 */
export function loadRpcs(dir: string): Rpc[] {
  const definition = protoLoader.loadSync(protoFiles(dir), { includeDirs: [dir], longs: String, enums: String, defaults: true, oneofs: true });
  const rpcs: Rpc[] = [];
  for (const [service, def] of Object.entries(definition)) {
    // A service is a map of method definitions; messages and enums have a `format`.
    if ("format" in def) continue;
    for (const [method, m] of Object.entries(def as protoLoader.ServiceDefinition)) {
      rpcs.push({ service, method, name: `${service}/${method}`, definition: m as protoLoader.MethodDefinition<object, object> });
    }
  }
  return rpcs.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * A message as proto-loader gives it: a plain object whose shape comes from the .proto files
 * read at run time, so the compiler cannot know it; the checks assert on its fields.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Reply = Record<string, any>;

/** A gRPC status name (e.g. "NOT_FOUND"), for messages and comparisons. */
export type StatusName = keyof typeof grpc.status;

export const statusName = (code: number): StatusName => (grpc.status[code] ?? "UNKNOWN") as StatusName;

/** The deployment one service runs on: an address and the calls the kit makes to it. */
export class Target {
  readonly client: grpc.Client;

  constructor(
    /** rooms, messages or delivery. */
    readonly name: string,
    /** host:port. */
    readonly address: string,
    private readonly rpcs: Map<string, Rpc>,
    private readonly token: string | undefined,
    private readonly timeoutMs: number,
    tls: boolean,
  ) {
    this.client = new grpc.Client(address, tls ? grpc.credentials.createSsl() : grpc.credentials.createInsecure());
  }

  private metadata(): grpc.Metadata {
    const metadata = new grpc.Metadata();
    if (this.token) metadata.set("authorization", `Bearer ${this.token}`);
    return metadata;
  }

  private rpc(name: string): Rpc {
    const rpc = this.rpcs.get(name);
    if (!rpc) throw new Error(`the protos declare no RPC ${name}`);
    return rpc;
  }

  private options = (): grpc.CallOptions => ({ deadline: Date.now() + this.timeoutMs });

  /** A unary call; rejects with the grpc-js ServiceError of a refusal. */
  unary<T = Reply>(name: string, request: object): Promise<T> {
    const { definition: d } = this.rpc(name);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(d.path, d.requestSerialize, d.responseDeserialize, request, this.metadata(), this.options(), (err, res) =>
        err ? reject(err) : resolve(res as T),
      );
    });
  }

  /** The first `count` messages of a server stream, then the call is cancelled. */
  firstOfStream<T = Reply>(name: string, request: object, count: number): Promise<T[]> {
    const { definition: d } = this.rpc(name);
    return new Promise((resolve, reject) => {
      const got: T[] = [];
      const call = this.client.makeServerStreamRequest(d.path, d.requestSerialize, d.responseDeserialize, request, this.metadata(), this.options());
      call.on("data", (message: T) => {
        got.push(message);
        if (got.length === count) {
          call.removeAllListeners("error");
          call.on("error", () => {});
          call.cancel();
          resolve(got);
        }
      });
      call.on("error", reject);
      call.on("end", () => resolve(got));
    });
  }

  /** A bidirectional stream: sends every request, half-closes, collects every answer. */
  bidi<T = Reply>(name: string, requests: object[]): Promise<T[]> {
    const { definition: d } = this.rpc(name);
    return new Promise((resolve, reject) => {
      const got: T[] = [];
      const call = this.client.makeBidiStreamRequest(d.path, d.requestSerialize, d.responseDeserialize, this.metadata(), this.options());
      call.on("data", (message: T) => got.push(message));
      call.on("error", reject);
      call.on("end", () => resolve(got));
      for (const request of requests) call.write(request);
      call.end();
    });
  }

  /** A unary call with raw bytes as the request, for what a typed client cannot send. */
  raw(path: string, body: Buffer): Promise<grpc.ServiceError | null> {
    return new Promise((resolve) => {
      this.client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, body, this.metadata(), this.options(), (err) => resolve(err));
    });
  }

  close(): void {
    this.client.close();
  }
}
