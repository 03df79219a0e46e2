import { Writable } from "node:stream";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import {
  ConfigError,
  createLocalBus,
  subjectMatches,
  describeError,
  isHttpUrl,
  isIsoTimestamp,
  pageSize,
  parsePageToken,
  readBaseServiceConfig,
  requireBatch,
  sqlStateOf,
  toEntryError,
  fromEntryError,
  createLogger,
  defaultLogFormat,
  requireId,
  subjects,
  toConnectError,
  networkFailureOf,
} from "../src/index.js";

describe("readBaseServiceConfig", () => {
  it("applies defaults and the per-service database override", () => {
    const config = readBaseServiceConfig("rooms", { DATABASE_URL: "postgres://a@h/shared", ROOMS_DATABASE_URL: "postgres://a@h/rooms" }, 50051);
    expect(config).toMatchObject({ port: 50051, host: "0.0.0.0", databaseUrl: "postgres://a@h/rooms", tls: undefined, env: "development" });
    expect(readBaseServiceConfig("messages", { DATABASE_URL: "postgres://a@h/shared" }, 50052).databaseUrl).toBe("postgres://a@h/shared");
  });

  it("names every bad variable in one message", () => {
    let error: unknown;
    try {
      readBaseServiceConfig("delivery", { DELIVERY_PORT: "port", DATABASE_URL: "mysql://x", DB_POOL_MAX: "-1" }, 50053);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    for (const name of ["DELIVERY_PORT", "DATABASE_URL", "DB_POOL_MAX"]) expect(message).toContain(name);
  });

  it("turns TLS on only with both files (a lone SSL_CERT_FILE is OpenSSL's CA bundle)", () => {
    expect(readBaseServiceConfig("rooms", { SSL_CERT_FILE: "/etc/ssl/certs/ca.crt" }, 1).tls).toBeUndefined();
    expect(readBaseServiceConfig("rooms", { SSL_CERT_FILE: "c.pem", SSL_KEY_FILE: "k.pem" }, 1).tls).toEqual({ certFile: "c.pem", keyFile: "k.pem" });
  });
});

describe("toConnectError", () => {
  it("maps driver errors, even wrapped, to Connect codes", () => {
    const pgError = (code: string) => Object.assign(new Error("db"), { code });
    const wrapped = (code: string) => Object.assign(new Error("Failed query: insert ...\nparams: secret"), { cause: pgError(code) });
    expect(toConnectError(wrapped("23505")).code).toBe(Code.AlreadyExists);
    expect(toConnectError(wrapped("23503")).code).toBe(Code.FailedPrecondition);
    expect(toConnectError(wrapped("57014")).code).toBe(Code.DeadlineExceeded);
    expect(toConnectError(wrapped("57P01")).code).toBe(Code.Unavailable);
    expect(toConnectError(Object.assign(new Error("connect"), { code: "ECONNREFUSED" })).code).toBe(Code.Unavailable);
    expect(toConnectError(new Error("timeout exceeded when trying to connect")).code).toBe(Code.Unavailable);
    const passthrough = new ConnectError("nope", Code.PermissionDenied);
    expect(toConnectError(passthrough)).toBe(passthrough);
  });

  it("hides anything unknown behind Internal with the original as cause", () => {
    const original = new Error("boom at line 3");
    const mapped = toConnectError(original);
    expect(mapped.code).toBe(Code.Internal);
    expect(mapped.rawMessage).toBe("internal error");
    expect(mapped.cause).toBe(original);
  });
});

describe("networkFailureOf", () => {
  it("tells a connection never opened from one that broke while a request was under way", () => {
    const node = (code: string) => Object.assign(new Error(code), { code });
    expect(networkFailureOf(new ConnectError("down", Code.Unavailable, undefined, undefined, node("ECONNREFUSED")))).toBe("connect");
    expect(networkFailureOf(new ConnectError("reset", Code.Aborted, undefined, undefined, node("ECONNRESET")))).toBe("transport");
    // node-postgres, when the socket ends mid-query: no code, only this message.
    expect(networkFailureOf(new Error("wrapped", { cause: new Error("Connection terminated unexpectedly") }))).toBe("transport");
    expect(networkFailureOf(new ConnectError("no verdict", Code.Unavailable))).toBeUndefined();
  });
});

describe("batch entry errors", () => {
  it("carry a failure's mapped code and text to the caller, logging internal ones", () => {
    const lines: string[] = [];
    const logger = createLogger({ service: "kit-test", destination: { write: (line: string) => void lines.push(line) } });
    const refused = toEntryError(new ConnectError("not a member", Code.PermissionDenied), logger, "SendMessages");
    expect(refused).toEqual({ code: Code.PermissionDenied, message: "not a member" });
    const back = fromEntryError(refused);
    expect(back).toBeInstanceOf(ConnectError);
    expect([back.code, back.rawMessage]).toEqual([Code.PermissionDenied, "not a member"]);
    expect(toEntryError(Object.assign(new Error("dup"), { code: "23505" }), logger, "SendMessages")).toEqual({ code: Code.AlreadyExists, message: "the row already exists" });
    expect(lines).toHaveLength(0);
    expect(toEntryError(new Error("boom"), logger, "BatchMark")).toEqual({ code: Code.Internal, message: "internal error" });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 50, rpc: "BatchMark", msg: "one entry of a batch failed" });
  });
});

describe("logs", () => {
  /** A real stream, as pino-pretty needs, keeping each line written to it. */
  const capture = () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
        done();
      },
    });
    return { lines, destination };
  };
  const secret = { authorization: "Bearer s3cr3t-token", token: "s3cr3t-token", message: { content: "hola secreto" } };

  it("are JSON in production and when stdout is not a terminal; readable on a terminal", () => {
    expect(defaultLogFormat("production", { isTTY: true })).toBe("json");
    expect(defaultLogFormat("development", { isTTY: false })).toBe("json");
    expect(defaultLogFormat("development", {})).toBe("json");
    expect(defaultLogFormat("development", { isTTY: true })).toBe("pretty");
    expect(defaultLogFormat(undefined, { isTTY: true })).toBe("pretty");
  });

  it("redact tokens and message bodies as JSON", () => {
    const out = capture();
    createLogger({ service: "rooms", destination: out.destination }).info({ req: secret, rpc: "SendMessage" }, "[SEND_MESSAGE] stored");
    expect(out.lines).toHaveLength(1);
    const line = JSON.parse(out.lines[0]!);
    expect(line).toMatchObject({ service: "rooms", msg: "[SEND_MESSAGE] stored", rpc: "SendMessage" });
    expect(line.req).toEqual({ authorization: "[redacted]", token: "[redacted]", message: { content: "[redacted]" } });
  });

  it("redact the same way as readable lines, tagged with the service", () => {
    const out = capture();
    const logger = createLogger({ service: "rooms", destination: out.destination, format: "pretty" });
    logger.info({ req: secret, rpc: "SendMessage" }, "[SEND_MESSAGE] stored");
    logger.error({ err: { message: "boom" } }, "rpc failed");
    // One line an entry, its fields after the message; an error's fields follow on their own lines.
    expect(out.lines[0]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(rooms\): \[SEND_MESSAGE\] stored /);
    expect(out.lines[0]).toContain('"rpc":"SendMessage"');
    expect(out.lines[0]).toContain('"authorization":"[redacted]"');
    expect(out.lines[0]).toContain('"content":"[redacted]"');
    expect(out.lines[1]).toMatch(/^\[[\d:.]+\] ERROR \(rooms\): rpc failed/);
    expect(out.lines.join("\n")).toContain('"message": "boom"');
    for (const line of out.lines) {
      expect(line).not.toContain("s3cr3t");
      expect(line).not.toContain("hola secreto");
    }
  });
});

describe("sqlStateOf", () => {
  it("finds the SQLSTATE along the cause links, and nothing in other errors", () => {
    const pg = Object.assign(new Error("duplicate key"), { code: "23505" });
    expect(sqlStateOf(pg)).toBe("23505");
    expect(sqlStateOf(new Error("Failed query", { cause: pg }))).toBe("23505");
    expect(sqlStateOf(Object.assign(new Error("refused"), { code: "ECONNREFUSED" }))).toBeUndefined();
    expect(sqlStateOf(new Error("plain"))).toBeUndefined();
    expect(sqlStateOf(undefined)).toBeUndefined();
  });
});

describe("describeError", () => {
  it("never keeps SQL parameters (message bodies) from a wrapped query error", () => {
    const err = Object.assign(new Error("Failed query: insert into mensajes values ($1)\nparams: hola secreto"), {
      cause: Object.assign(new Error("null value"), { code: "23502" }),
    });
    const described = JSON.stringify(describeError(err));
    expect(described).not.toContain("hola secreto");
    expect(described).toContain("23502");
  });
});

describe("validation helpers", () => {
  it("accepts only positive BIGINT ids", () => {
    expect(requireId(1n, "id")).toBe(1n);
    expect(requireId(9223372036854775807n, "id")).toBe(9223372036854775807n);
    for (const bad of [0n, -1n, 9223372036854775808n]) expect(() => requireId(bad, "user_id")).toThrow(/user_id/);
  });

  it("bounds page sizes and parses page tokens", () => {
    expect(pageSize(0, 100, 1000)).toBe(100);
    expect(pageSize(7, 100, 1000)).toBe(7);
    expect(() => pageSize(1001, 100, 1000)).toThrow(ConnectError);
    expect(parsePageToken("")).toBeUndefined();
    expect(parsePageToken("42")).toBe(42n);
    for (const bad of ["0", "-1", "abc", "1e3", "99999999999999999999"]) expect(() => parsePageToken(bad)).toThrow(ConnectError);
  });

  it("refuses empty and oversized batches, naming the field", () => {
    expect(requireBatch([1, 2], "requests", "messages")).toEqual([1, 2]);
    expect(requireBatch(Array.from({ length: 1000 }, () => 0), "requests", "messages")).toHaveLength(1000);
    expect(() => requireBatch([], "requests", "messages")).toThrow("requests must hold 1 to 1000 messages");
    expect(() => requireBatch(Array.from({ length: 1001 }, () => 0), "checks", "questions")).toThrow("checks must hold 1 to 1000 questions");
    expect(() => requireBatch([1, 2, 3], "marks", "marks", 2)).toThrow(ConnectError);
  });

  it("recognises http(s) URLs and ISO 8601 timestamps", () => {
    expect(isHttpUrl("https://cloudinary.com/mi-imagen.jpg")).toBe(true);
    for (const bad of ["ftp://x/y", "javascript:alert(1)", "/relative", "not a url"]) expect(isHttpUrl(bad)).toBe(false);
    for (const ok of ["2024-01-15T10:30:00Z", "2024-01-15T10:30:00.123456+00:00", "2024-01-15T10:30:00.123Z"]) expect(isIsoTimestamp(ok)).toBe(true);
    for (const bad of ["ayer", "2024-13-01T00:00:00Z", "2024-02-30T10:00:00Z", "2024-01-15T25:00:00Z", "2024-01-15", "1705314600"]) expect(isIsoTimestamp(bad)).toBe(false);
  });
});

describe("subjects", () => {
  it("builds the documented scheme under a prefix", () => {
    const s = subjects("redup");
    expect(s.userMessage(123n)).toBe("redup.user.123.message");
    expect(s.userReceipt("123")).toBe("redup.user.123.receipt");
    expect(s.groupMessage(456n)).toBe("redup.group.456.message");
    expect(s.userAll(1n)).toBe("redup.user.1.>");
    expect(s.groupAll(1n)).toBe("redup.group.1.>");
    expect(s.userTyping(7n)).toBe("redup.user.7.typing");
    expect(s.groupTyping(8n)).toBe("redup.group.8.typing");
    expect(s.userReadMarker(7n)).toBe("redup.user.7.readmarker");
    expect(s.presence(7n)).toBe("redup.presence.7.changed");
    expect(s.userChange(7n)).toBe("redup.user.7.change");
    expect(s.groupChange(8n)).toBe("redup.group.8.change");
  });

  it("parses only the subjects it builds", () => {
    const s = subjects("redup");
    expect(s.parse(s.userTyping(7n))).toEqual({ scope: "user", id: "7", kind: "typing" });
    expect(s.parse(s.groupTyping(8n))).toEqual({ scope: "group", id: "8", kind: "typing" });
    expect(s.parse(s.presence(9n))).toEqual({ scope: "presence", id: "9", kind: "changed" });
    expect(s.parse(s.userReadMarker(3n))).toEqual({ scope: "user", id: "3", kind: "readmarker" });
    // A kind outside its scope, another prefix, or extra tokens are not ours.
    for (const bad of ["redup.group.8.readmarker", "redup.presence.9.typing", "other.user.1.message", "redup.user.1.message.x", "redup.room.1.message"])
      expect(s.parse(bad)).toBeUndefined();
  });
});

describe("the in-process event bus", () => {
  it("matches NATS wildcards and delivers in publish order", async () => {
    expect(subjectMatches("redup.user.1.>", "redup.user.1.message")).toBe(true);
    expect(subjectMatches("redup.user.1.>", "redup.user.1")).toBe(false);
    expect(subjectMatches("redup.user.*.message", "redup.user.9.message")).toBe(true);
    expect(subjectMatches("redup.user.*.message", "redup.user.9.receipt")).toBe(false);
    expect(subjectMatches("redup.group.2.message", "redup.group.2.message")).toBe(true);

    const bus = createLocalBus();
    const got: string[] = [];
    const sub = bus.subscribe("redup.user.1.>", (payload, subject) => got.push(`${subject}:${new TextDecoder().decode(payload)}`));
    bus.subscribe("redup.group.*.message", (payload) => got.push(`group:${new TextDecoder().decode(payload)}`));
    await bus.publish("redup.user.1.message", new TextEncoder().encode("a"));
    await bus.publish("redup.user.2.message", new TextEncoder().encode("nadie"));
    await bus.publish("redup.group.5.message", new TextEncoder().encode("g"));
    sub.unsubscribe();
    await bus.publish("redup.user.1.message", new TextEncoder().encode("tarde"));
    expect(got).toEqual(["redup.user.1.message:a", "group:g"]);
    await bus.close();
    expect(bus.connected).toBe(false);
    await expect(bus.publish("x", new Uint8Array())).rejects.toThrow(/closed/);
  });
});
