import assert from "node:assert/strict";
import type { Reply } from "../grpc.js";
import type { Check, Checks } from "./types.js";

/** The services every RedUP server runs next to its own; their checks run on each target. */
export const SHARED_SERVICES = ["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"];

const reflection = (version: "v1" | "v1alpha"): Checks => {
  const rpc = `grpc.reflection.${version}.ServerReflection/ServerReflectionInfo`;
  const check: Check = async ({ target, served }) => {
    const own = served[0];
    assert.ok(own, `no service is routed to ${target.name}`);
    const answers = await target.bidi(rpc, [{ listServices: "*" }, { fileContainingSymbol: own }, { fileByFilename: "no/such/file.proto" }]);
    assert.equal(answers.length, 3, "one answer per request, in order");
    const [list, file, missing] = answers as [Reply, Reply, Reply];
    const names = list.listServicesResponse.service.map((s: { name: string }) => s.name).sort();
    assert.deepEqual(names, [...served, ...SHARED_SERVICES].sort());
    const files: Buffer[] = file.fileDescriptorResponse.fileDescriptorProto;
    const path = `${own.split(".").slice(0, -1).join("/")}/`;
    assert.ok(files.length >= 2, "the file comes with the files it imports");
    assert.ok(files[0]!.includes(path) && files[0]!.includes(own.split(".").pop()!), `the first file declares ${own}`);
    assert.equal(missing.errorResponse.errorCode, 5, "an unknown file is NOT_FOUND");
  };
  return { [rpc]: check };
};

export const sharedChecks: Checks = {
  "grpc.health.v1.Health/Check": async ({ target, served, refusal }) => {
    const check = (service: string) => target.unary("grpc.health.v1.Health/Check", { service });
    assert.equal((await check("")).status, "SERVING");
    for (const service of served) assert.equal((await check(service)).status, "SERVING", service);
    assert.equal(await refusal(check("no.such.v1.Service")), "NOT_FOUND");
  },

  "grpc.health.v1.Health/Watch": async ({ target }) => {
    const [first] = await target.firstOfStream("grpc.health.v1.Health/Watch", { service: "" }, 1);
    assert.equal(first?.status, "SERVING");
    const [unknown] = await target.firstOfStream("grpc.health.v1.Health/Watch", { service: "no.such.v1.Service" }, 1);
    assert.equal(unknown?.status, "SERVICE_UNKNOWN");
  },

  ...reflection("v1"),
  ...reflection("v1alpha"),
};
