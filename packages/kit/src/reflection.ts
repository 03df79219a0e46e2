import { create, fromBinary, toBinary, type DescExtension, type DescFile, type DescMessage, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter } from "@connectrpc/connect";
import {
  ErrorResponseSchema,
  ExtensionNumberResponseSchema,
  FileDescriptorResponseSchema,
  ListServiceResponseSchema,
  ServerReflection,
  ServerReflectionRequestSchema,
  ServerReflectionResponseSchema,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
} from "@redup/proto/grpc/reflection/v1/reflection_pb";
import * as v1alpha from "@redup/proto/grpc/reflection/v1alpha/reflection_pb";

/** google.rpc.Code NOT_FOUND / INVALID_ARGUMENT, as reflection's error_response carries them. */
const NOT_FOUND = 5;
const INVALID_ARGUMENT = 3;

/** What reflection knows: the files of the services served, every file they import, and their symbols. */
interface Catalog {
  services: string[];
  files: Map<string, DescFile>;
  symbols: Map<string, DescFile>;
  /** Extensions by the full name of the message they extend. */
  extensions: Map<string, DescExtension[]>;
}

const fileName = (file: DescFile) => file.proto.name;

function catalog(services: DescService[]): Catalog {
  const files = new Map<string, DescFile>();
  const symbols = new Map<string, DescFile>();
  const extensions = new Map<string, DescExtension[]>();
  const addExtension = (file: DescFile, ext: DescExtension) => {
    symbols.set(ext.typeName, file);
    extensions.set(ext.extendee.typeName, [...(extensions.get(ext.extendee.typeName) ?? []), ext]);
  };
  const addMessage = (file: DescFile, message: DescMessage) => {
    symbols.set(message.typeName, file);
    for (const field of message.fields) symbols.set(`${message.typeName}.${field.name}`, file);
    for (const oneof of message.oneofs) symbols.set(`${message.typeName}.${oneof.name}`, file);
    for (const nested of message.nestedMessages) addMessage(file, nested);
    for (const nested of message.nestedEnums) symbols.set(nested.typeName, file);
    for (const ext of message.nestedExtensions) addExtension(file, ext);
  };
  const addFile = (file: DescFile) => {
    if (files.has(fileName(file))) return;
    files.set(fileName(file), file);
    for (const message of file.messages) addMessage(file, message);
    for (const e of file.enums) symbols.set(e.typeName, file);
    for (const ext of file.extensions) addExtension(file, ext);
    for (const service of file.services) {
      symbols.set(service.typeName, file);
      for (const method of service.methods) symbols.set(`${service.typeName}.${method.name}`, file);
    }
    for (const dependency of file.dependencies) addFile(dependency);
  };
  for (const service of services) addFile(service.file);
  return { services: [...new Set(services.map((s) => s.typeName))].sort(), files, symbols, extensions };
}

/** The file and every file it imports, leaving out what this stream has already sent. */
function withDependencies(file: DescFile, sent: Set<string>): Uint8Array[] {
  const out: Uint8Array[] = [];
  const visit = (f: DescFile) => {
    if (sent.has(fileName(f))) return;
    sent.add(fileName(f));
    out.push(toBinary(FileDescriptorProtoSchema, f.proto));
    for (const dependency of f.dependencies) visit(dependency);
  };
  visit(file);
  return out;
}

type Answer = ServerReflectionResponse["messageResponse"];

const refusal = (errorCode: number, errorMessage: string): Answer => ({ case: "errorResponse", value: create(ErrorResponseSchema, { errorCode, errorMessage }) });

/** One answer of the stream; `sent` is the files this stream has sent so far. */
function answer(known: Catalog, req: ServerReflectionRequest, sent: Set<string>): Answer {
  const files = (file: DescFile | undefined, what: string): Answer =>
    file
      ? { case: "fileDescriptorResponse", value: create(FileDescriptorResponseSchema, { fileDescriptorProto: withDependencies(file, sent) }) }
      : refusal(NOT_FOUND, `${what} is not known to this server`);
  const ask = req.messageRequest;
  switch (ask.case) {
    case "listServices":
      return { case: "listServicesResponse", value: create(ListServiceResponseSchema, { service: known.services.map((name) => ({ name })) }) };
    case "fileByFilename":
      return files(known.files.get(ask.value), `file ${JSON.stringify(ask.value)}`);
    case "fileContainingSymbol":
      return files(known.symbols.get(ask.value.replace(/^\./, "")), `symbol ${JSON.stringify(ask.value)}`);
    case "fileContainingExtension": {
      const ext = known.extensions.get(ask.value.containingType)?.find((e) => e.number === ask.value.extensionNumber);
      return files(ext?.file, `extension ${ask.value.extensionNumber} of ${JSON.stringify(ask.value.containingType)}`);
    }
    case "allExtensionNumbersOfType": {
      if (!known.symbols.has(ask.value)) return refusal(NOT_FOUND, `type ${JSON.stringify(ask.value)} is not known to this server`);
      const numbers = (known.extensions.get(ask.value) ?? []).map((e) => e.number).sort((a, b) => a - b);
      return { case: "allExtensionNumbersResponse", value: create(ExtensionNumberResponseSchema, { baseTypeName: ask.value, extensionNumber: numbers }) };
    }
    default:
      return refusal(INVALID_ARGUMENT, "the request names nothing to look up");
  }
}

/** Answers a stream of v1 requests, one response each, in order. */
async function* reflect(known: Catalog, requests: AsyncIterable<ServerReflectionRequest>): AsyncIterable<ServerReflectionResponse> {
  const sent = new Set<string>();
  for await (const req of requests) {
    yield create(ServerReflectionResponseSchema, { validHost: req.host, originalRequest: req, messageResponse: answer(known, req, sent) });
  }
}

/**
 * gRPC server reflection (grpc.reflection.v1 and the older v1alpha, which many tools still
 * speak) for every service registered on the router so far, plus reflection itself: list
 * services, a file by name or by a symbol it declares, with the files it imports, and
 * extensions. Answers come from the descriptors generated into @redup/proto, so they are
 * exactly the contracts the server was built with. The two versions have the same messages
 * under different package names; v1alpha requests and answers are the v1 ones re-encoded.
 */
export function registerReflection(router: ConnectRouter): void {
  const served = router.handlers.map((h) => h.service);
  const known = catalog([...served, ServerReflection, v1alpha.ServerReflection]);
  router.service(ServerReflection, {
    serverReflectionInfo: (requests) => reflect(known, requests),
  });
  router.service(v1alpha.ServerReflection, {
    async *serverReflectionInfo(requests) {
      const asV1 = async function* () {
        for await (const req of requests) yield fromBinary(ServerReflectionRequestSchema, toBinary(v1alpha.ServerReflectionRequestSchema, req));
      };
      for await (const res of reflect(known, asV1())) {
        yield fromBinary(v1alpha.ServerReflectionResponseSchema, toBinary(ServerReflectionResponseSchema, res));
      }
    },
  });
}
