/** lockclaw as a library: the engine, the resource kinds, the SSH transport and the renderers. */
export * from "./core/errors.js";
export type { LockclawEvent, EventSink, HostRecap, TaskStatus } from "./engine/events.js";
export type { ResourceKind, AnyResourceKind, Change, Probe, LockoutGuard } from "./engine/resource.js";
export {
  runPlaybook,
  prepareRun,
  exitCodeFor,
  type RunOptions,
  type RunResult,
  type HostEntry,
} from "./engine/run.js";
export { loadPlaybook, parsePlaybook, type Playbook } from "./engine/playbook/loader.js";
export { loadInventory, expandTargets } from "./engine/inventory.js";
export { parseVarArg, readVarsFile, type VarOverride } from "./engine/vars.js";
export { HostStateStore } from "./engine/state.js";
export { Redactor } from "./engine/redact.js";
export { builtinVars } from "./cli/builtins.js";
export { builtinPlaybook } from "./engine/paths.js";
export { resourceKinds } from "./resources/index.js";
export { connect } from "./transport/ssh.js";
export { runScript } from "./transport/script.js";
export { resolveTarget } from "./transport/target.js";
export type { ConnectionTarget, Transport } from "./transport/types.js";
export { createRenderer, JsonRenderer, PlainRenderer, TtyRenderer } from "./report/index.js";
