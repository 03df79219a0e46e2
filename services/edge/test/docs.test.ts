/**
 * docs/asyncapi.yaml is valid AsyncAPI 3 (@asyncapi/parser) and describes exactly the events
 * of src/events.ts: the same client and server events, and for each the same fields (names,
 * required or optional, JSON types, closed sets of values, nested objects) in payloads and
 * acknowledgements. docs/protocol.md has a section for every event and a row for every error
 * code. Adding an event or a field on one side only fails here, naming it.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fromFile, Parser, type AsyncAPIDocumentInterface } from "@asyncapi/parser";
import { beforeAll, describe, expect, it } from "vitest";
import { ERROR_CODES } from "../src/events.js";
import { compareProtocols, shapesFromAsyncApi, shapesFromTypeScript, type EventShapes } from "./event-shapes.js";

const EVENTS_TS = fileURLToPath(new URL("../src/events.ts", import.meta.url));
const ASYNCAPI = fileURLToPath(new URL("../../../docs/asyncapi.yaml", import.meta.url));
const PROTOCOL_MD = fileURLToPath(new URL("../../../docs/protocol.md", import.meta.url));

let document: AsyncAPIDocumentInterface;
let fromTs: EventShapes;
/** A fresh copy of the document's resolved JSON, to change in a negative control. */
const docJson = (): any => structuredClone(document.json());

beforeAll(async () => {
  const { document: parsed, diagnostics } = await fromFile(new Parser(), ASYNCAPI).parse();
  // Errors (0) and warnings (1) fail; information and hints do not.
  expect(diagnostics.filter((d) => d.severity <= 1).map((d) => `${d.code}: ${d.message} at ${d.path.join(".")}`)).toEqual([]);
  expect(parsed, "the parser gave no document").toBeDefined();
  document = parsed!;
  fromTs = shapesFromTypeScript(EVENTS_TS);
});

describe("docs/asyncapi.yaml", () => {
  it("is a valid AsyncAPI 3 document", () => {
    expect(document.version()).toMatch(/^3\./);
    expect(document.operations().filterByReceive().length).toBe(14);
    expect(document.channels().all().map((c) => c.address())).toEqual(["/"]);
  });

  it("describes exactly the events and fields of the TypeScript event maps", () => {
    expect(Object.keys(fromTs.client).sort()).toEqual([
      "delete_message",
      "edit_message",
      "get_conversations",
      "get_history",
      "join_group",
      "leave_group",
      "mark_delivered",
      "mark_read",
      "send_message",
      "sync",
      "typing",
      "typing_stop",
      "unwatch_presence",
      "watch_presence",
    ]);
    // typing is both a client event and a server event, with different fields.
    expect(Object.keys(fromTs.server.typing!.fields ?? {}).sort()).toEqual(["from", "to", "type"]);
    expect(Object.keys(fromTs.server)).toContain("receive_message");
    expect(Object.keys(fromTs.client.send_message!.payload.fields ?? {})).toContain("client_msg_id");
    expect(compareProtocols(fromTs, shapesFromAsyncApi(docJson()))).toEqual([]);
  });

  it("fails, naming it, when an event or field is in the document only", () => {
    const extraEvent = docJson();
    extraEvent["operations"]["reaction"] = { ...extraEvent["operations"]["connected"], messages: [{ name: "reaction", payload: { type: "object", properties: { group_id: { type: "string" } } } }] };
    expect(compareProtocols(fromTs, shapesFromAsyncApi(extraEvent))).toEqual(["server → client event reaction is in asyncapi.yaml but not in events.ts"]);

    const extraField = docJson();
    extraField["operations"]["receive_message"].messages[0].payload.properties.reacciones = { type: "string" };
    expect(compareProtocols(fromTs, shapesFromAsyncApi(extraField))).toContain("receive_message payload: field reacciones is in asyncapi.yaml but not in events.ts");

    const optional = docJson();
    optional["operations"]["send_message"].messages[0].payload.required = ["type"];
    expect(compareProtocols(fromTs, shapesFromAsyncApi(optional))).toEqual(["send_message payload.to: required in events.ts, optional in asyncapi.yaml"]);
  });

  it("fails, naming it, when an event or field is in events.ts only", () => {
    const source = readFileSync(EVENTS_TS, "utf8");
    const change = (from: string, to: string) => {
      expect(source).toContain(from);
      return compareProtocols(shapesFromTypeScript(EVENTS_TS, source.replace(from, to)), shapesFromAsyncApi(docJson()));
    };
    expect(change("  error: (data: ErrorEvent) => void;", "  error: (data: ErrorEvent) => void;\n  reaction: (data: { group_id: Id; user_id: Id }) => void;")).toEqual([
      "server → client event reaction is in events.ts but not in asyncapi.yaml",
    ]);
    expect(change("  client_msg_id?: string;\n}", "  client_msg_id?: string;\n  reply_to?: Id;\n}")).toEqual(["send_message payload: field reply_to is in events.ts but not in asyncapi.yaml"]);
    expect(change("  leido_en: string;", "  leido_en: string;\n  dispositivo: string;")).toEqual(["message_read payload: field dispositivo is in events.ts but not in asyncapi.yaml"]);
    // A nested field: history's messages are ReceivedMessages.
    expect(change("  url_archivo: string | null;\n}", "  url_archivo: string | null;\n  editado_en: string | null;\n}")).toEqual([
      "get_history reply.messages[]: field editado_en is in events.ts but not in asyncapi.yaml",
      "receive_message payload: field editado_en is in events.ts but not in asyncapi.yaml",
      "history payload.messages[]: field editado_en is in events.ts but not in asyncapi.yaml",
    ]);
    // A value of a closed set: an error code.
    expect(change('  "MESSAGE_DELETED",\n', "")).toContain("join_group reply.code: values MESSAGE_DELETED only in asyncapi.yaml");
  });
});

describe("docs/protocol.md", () => {
  const text = readFileSync(PROTOCOL_MD, "utf8");

  it("has a section for every event and a row for every error code", () => {
    for (const event of [...Object.keys(fromTs.client), ...Object.keys(fromTs.server)]) {
      expect(text, `a section for ${event}`).toContain(`\n### \`${event}\`\n`);
    }
    for (const code of ERROR_CODES) expect(text, `a row for ${code}`).toMatch(new RegExp(`^\\| \`${code}\` \\|`, "m"));
  });

  it("is what the repository cites for the protocol: no file cites a document outside it", (ctx) => {
    const root = fileURLToPath(new URL("../../..", import.meta.url));
    const listed = spawnSync("git", ["ls-files", "-z"], { cwd: root, encoding: "utf8" });
    if (listed.status !== 0) ctx.skip("not a git checkout: the repository's files cannot be listed");
    const outside = /PROTOCOL\.md|\.\.\/shared\b|\/work\/shared/;
    const citing = listed.stdout
      .split("\0")
      .filter((f) => f && !f.endsWith("package-lock.json") && !f.startsWith("proto/gen/") && existsSync(join(root, f)))
      .filter((f) => outside.test(readFileSync(join(root, f), "utf8")));
    expect(citing).toEqual([]);
    expect(text).toContain("## Error codes");
  });
});
