/**
 * The protocol's events as comparable shapes, read from two sources: the TypeScript event maps
 * of src/events.ts (with the TypeScript compiler's type checker, so formatting, aliases and
 * shared interfaces do not matter) and the AsyncAPI document (its JSON Schemas, references
 * resolved by @asyncapi/parser). `compareProtocols` lists every difference, by event and field.
 */
import ts from "typescript";

/** A JSON value's shape: its JSON types, a closed set of strings, an object's fields, an array's items. */
export interface Shape {
  types: string[];
  enum?: string[];
  fields?: Record<string, { required: boolean; shape: Shape }>;
  items?: Shape;
}

export interface EventShapes {
  /** Client → server events: the payload, and each shape its acknowledgement may have. */
  client: Record<string, { payload: Shape; replies: Shape[] }>;
  /** Server → client events: the payload. */
  server: Record<string, Shape>;
}

const sorted = (values: Iterable<string>) => [...new Set(values)].sort();

// ---------------------------------------------------------------------------------------------
// TypeScript

function tsShape(type: ts.Type, checker: ts.TypeChecker, where: string): Shape {
  const parts = type.isUnion() ? type.types : [type];
  const types: string[] = [];
  const literals: string[] = [];
  let openString = false;
  let fields: Shape["fields"];
  let items: Shape["items"];
  for (const part of parts) {
    const f = part.flags;
    if (f & ts.TypeFlags.Undefined) continue;
    if (f & ts.TypeFlags.Null) types.push("null");
    else if (part.isStringLiteral()) {
      types.push("string");
      literals.push(part.value);
    } else if (f & ts.TypeFlags.String) {
      types.push("string");
      openString = true;
    } else if (f & (ts.TypeFlags.Number | ts.TypeFlags.NumberLiteral)) types.push("number");
    else if (f & (ts.TypeFlags.Boolean | ts.TypeFlags.BooleanLiteral)) types.push("boolean");
    else if (checker.isArrayType(part)) {
      types.push("array");
      const [element] = checker.getTypeArguments(part as ts.TypeReference);
      if (!element) throw new Error(`${where}: an array without an element type`);
      items = tsShape(element, checker, `${where}[]`);
    } else if (f & ts.TypeFlags.Object) {
      if (fields) throw new Error(`${where}: a union of two object types (${checker.typeToString(type)}) has no single shape`);
      types.push("object");
      fields = {};
      for (const prop of checker.getPropertiesOfType(part)) {
        fields[prop.name] = {
          required: (prop.flags & ts.SymbolFlags.Optional) === 0,
          shape: tsShape(checker.getTypeOfSymbol(prop), checker, `${where}.${prop.name}`),
        };
      }
    } else throw new Error(`${where}: unsupported type ${checker.typeToString(part)}`);
  }
  return {
    types: sorted(types),
    ...(literals.length > 0 && !openString ? { enum: sorted(literals) } : {}),
    ...(fields ? { fields } : {}),
    ...(items ? { items } : {}),
  };
}

const withoutUndefined = (type: ts.Type): ts.Type[] => (type.isUnion() ? type.types : [type]).filter((t) => !(t.flags & ts.TypeFlags.Undefined));

/**
 * The event maps exported by `file` (ClientToServerEvents, ServerToClientEvents). `source`
 * replaces the file's text (to check that a change is noticed).
 */
export function shapesFromTypeScript(file: string, source?: string): EventShapes {
  const options: ts.CompilerOptions = { strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, skipLibCheck: true, types: [] };
  const host = ts.createCompilerHost(options);
  if (source !== undefined) {
    const original = host.getSourceFile.bind(host);
    host.getSourceFile = (name, language, ...rest) => (name === file ? ts.createSourceFile(name, source, language) : original(name, language, ...rest));
  }
  const program = ts.createProgram([file], options, host);
  const errors = ts.getPreEmitDiagnostics(program).filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (errors.length > 0) throw new Error(`${file} does not compile: ${ts.flattenDiagnosticMessageText(errors[0]!.messageText, "\n")}`);
  const checker = program.getTypeChecker();
  const sourceFile = program.getSourceFile(file);
  const moduleSymbol = sourceFile && checker.getSymbolAtLocation(sourceFile);
  if (!moduleSymbol) throw new Error(`${file}: not a module`);
  const exported = new Map(checker.getExportsOfModule(moduleSymbol).map((s) => [s.name, s]));
  const eventsOf = (name: string) => {
    const symbol = exported.get(name);
    if (!symbol) throw new Error(`${file} does not export ${name}`);
    return checker.getPropertiesOfType(checker.getDeclaredTypeOfSymbol(symbol)).map((event) => {
      const signature = checker.getTypeOfSymbol(event).getCallSignatures()[0];
      if (!signature) throw new Error(`${name}.${event.name} is not a function`);
      return { name: event.name, parameters: signature.parameters.map((p) => checker.getTypeOfSymbol(p)) };
    });
  };

  const shapes: EventShapes = { client: {}, server: {} };
  for (const { name, parameters } of eventsOf("ClientToServerEvents")) {
    const [payload, ack] = parameters;
    if (!payload) throw new Error(`client event ${name} has no payload`);
    const callback = ack && withoutUndefined(ack)[0]?.getCallSignatures()[0];
    const reply = callback?.parameters[0];
    if (!reply) throw new Error(`client event ${name} has no acknowledgement callback`);
    shapes.client[name] = {
      payload: tsShape(payload, checker, `${name} payload`),
      replies: withoutUndefined(checker.getTypeOfSymbol(reply)).map((member) => tsShape(member, checker, `${name} reply`)),
    };
  }
  for (const { name, parameters } of eventsOf("ServerToClientEvents")) {
    if (!parameters[0]) throw new Error(`server event ${name} has no payload`);
    shapes.server[name] = tsShape(parameters[0], checker, `${name} payload`);
  }
  return shapes;
}

// ---------------------------------------------------------------------------------------------
// AsyncAPI (JSON Schema, references resolved)

type Schema = Record<string, unknown>;

function schemaShape(schema: Schema, where: string): Shape {
  const variants = (schema["oneOf"] ?? schema["anyOf"]) as Schema[] | undefined;
  if (variants) {
    const shapes = variants.map((v, i) => schemaShape(v, `${where}|${i}`));
    const objects = shapes.filter((s) => s.fields);
    if (objects.length > 1) throw new Error(`${where}: a union of two object schemas has no single shape`);
    const strings = shapes.filter((s) => s.types.includes("string"));
    const closed = strings.length > 0 && strings.every((s) => s.enum);
    return {
      types: sorted(shapes.flatMap((s) => s.types)),
      ...(closed ? { enum: sorted(strings.flatMap((s) => s.enum!)) } : {}),
      ...(objects[0]?.fields ? { fields: objects[0].fields } : {}),
      ...(shapes.find((s) => s.items)?.items ? { items: shapes.find((s) => s.items)!.items! } : {}),
    };
  }
  const raw = schema["type"];
  if (raw === undefined) throw new Error(`${where}: a schema without a type`);
  const types = sorted((Array.isArray(raw) ? raw : [raw]).map((t: string) => (t === "integer" ? "number" : t)));
  const values = schema["const"] !== undefined ? [schema["const"]] : (schema["enum"] as unknown[] | undefined);
  const shape: Shape = { types };
  if (values) shape.enum = sorted(values.map(String));
  if (types.includes("object")) {
    const required = new Set((schema["required"] as string[] | undefined) ?? []);
    const properties = (schema["properties"] ?? {}) as Record<string, Schema>;
    shape.fields = Object.fromEntries(Object.entries(properties).map(([name, s]) => [name, { required: required.has(name), shape: schemaShape(s, `${where}.${name}`) }]));
  }
  if (types.includes("array")) shape.items = schemaShape((schema["items"] ?? {}) as Schema, `${where}[]`);
  return shape;
}

interface AsyncMessage {
  name?: string;
  payload?: Schema;
}
interface AsyncOperation {
  action: "send" | "receive";
  messages?: AsyncMessage[];
  reply?: { messages?: AsyncMessage[] };
}

/** The events of an AsyncAPI 3 document (as `document.json()` gives it): `receive` from clients, `send` to them. */
export function shapesFromAsyncApi(json: { operations?: Record<string, AsyncOperation> }): EventShapes {
  const shapes: EventShapes = { client: {}, server: {} };
  for (const [id, op] of Object.entries(json.operations ?? {})) {
    for (const message of op.messages ?? []) {
      if (!message.name || !message.payload) throw new Error(`operation ${id}: a message without a name or payload`);
      const payload = schemaShape(message.payload, `${message.name} payload`);
      if (op.action === "receive") {
        shapes.client[message.name] = { payload, replies: (op.reply?.messages ?? []).map((m) => schemaShape(m.payload ?? {}, `${message.name} reply ${m.name}`)) };
      } else {
        shapes.server[message.name] = payload;
      }
    }
  }
  return shapes;
}

// ---------------------------------------------------------------------------------------------
// Comparison

function compareShapes(ts_: Shape, doc: Shape, where: string, out: string[]): void {
  if (ts_.types.join() !== doc.types.join()) out.push(`${where}: events.ts says ${ts_.types.join(" | ")}, asyncapi.yaml says ${doc.types.join(" | ")}`);
  if ((ts_.enum ?? []).join() !== (doc.enum ?? []).join()) {
    const only = (a: string[] = [], b: string[] = []) => a.filter((v) => !b.includes(v));
    const inTs = only(ts_.enum, doc.enum);
    const inDoc = only(doc.enum, ts_.enum);
    if (!ts_.enum || !doc.enum) out.push(`${where}: ${ts_.enum ? "events.ts" : "asyncapi.yaml"} allows only ${(ts_.enum ?? doc.enum)!.join(", ")}, the other any string`);
    else out.push(`${where}: values ${inTs.length ? `${inTs.join(", ")} only in events.ts` : ""}${inTs.length && inDoc.length ? "; " : ""}${inDoc.length ? `${inDoc.join(", ")} only in asyncapi.yaml` : ""}`);
  }
  const tsFields = ts_.fields ?? {};
  const docFields = doc.fields ?? {};
  for (const name of Object.keys(tsFields)) if (!(name in docFields)) out.push(`${where}: field ${name} is in events.ts but not in asyncapi.yaml`);
  for (const name of Object.keys(docFields)) if (!(name in tsFields)) out.push(`${where}: field ${name} is in asyncapi.yaml but not in events.ts`);
  for (const name of Object.keys(tsFields)) {
    const a = tsFields[name]!;
    const b = docFields[name];
    if (!b) continue;
    if (a.required !== b.required) out.push(`${where}.${name}: ${a.required ? "required" : "optional"} in events.ts, ${b.required ? "required" : "optional"} in asyncapi.yaml`);
    compareShapes(a.shape, b.shape, `${where}.${name}`, out);
  }
  if (ts_.items && doc.items) compareShapes(ts_.items, doc.items, `${where}[]`, out);
}

const fieldNames = (s: Shape) => Object.keys(s.fields ?? {}).sort().join(",");

/** Every difference between the two descriptions of the protocol; empty when they agree. */
export function compareProtocols(fromTs: EventShapes, fromDoc: EventShapes): string[] {
  const out: string[] = [];
  for (const [side, label] of [["client", "client → server"], ["server", "server → client"]] as const) {
    const a = Object.keys(fromTs[side]);
    const b = Object.keys(fromDoc[side]);
    for (const name of a) if (!b.includes(name)) out.push(`${label} event ${name} is in events.ts but not in asyncapi.yaml`);
    for (const name of b) if (!a.includes(name)) out.push(`${label} event ${name} is in asyncapi.yaml but not in events.ts`);
  }
  for (const [name, event] of Object.entries(fromTs.client)) {
    const doc = fromDoc.client[name];
    if (!doc) continue;
    compareShapes(event.payload, doc.payload, `${name} payload`, out);
    // Replies pair up by their field names (the reply event's payload, and the refusal).
    for (const reply of event.replies) {
      const twin = doc.replies.find((r) => fieldNames(r) === fieldNames(reply));
      if (!twin) out.push(`${name} reply {${fieldNames(reply)}} is in events.ts but not in asyncapi.yaml`);
      else compareShapes(reply, twin, `${name} reply`, out);
    }
    for (const reply of doc.replies) {
      if (!event.replies.some((r) => fieldNames(r) === fieldNames(reply))) out.push(`${name} reply {${fieldNames(reply)}} is in asyncapi.yaml but not in events.ts`);
    }
  }
  for (const [name, payload] of Object.entries(fromTs.server)) {
    const doc = fromDoc.server[name];
    if (doc) compareShapes(payload, doc, `${name} payload`, out);
  }
  return out;
}
