export { runContract, plan, formatResult, summary, type ContractOptions, type Result, type Outcome, type Planned } from "./run.js";
export { loadRpcs, protoFiles, type Rpc } from "./grpc.js";
export { rpcChecks, extraChecks, edgeChecks, type Check, type Checks } from "./checks/index.js";
