/**
 * From what the user typed to a ConnectionTarget. Prefixed targets (`lab:NAME`, `vagrant:NAME`) go to
 * a registered resolver, so the engine does not depend on the lab; anything else is SSH syntax
 * resolved with ~/.ssh/config.
 */
import { resolveTarget, type ResolveTargetOptions } from "../transport/target.js";
import type { ConnectionTarget } from "../transport/types.js";
import type { InventoryHost } from "./target-patterns.js";

export type PrefixResolver = (name: string) => Promise<ConnectionTarget>;

export interface TargetResolution {
  prefixes: Record<string, PrefixResolver>;
  ssh: ResolveTargetOptions;
}

export async function resolveHost(host: InventoryHost, res: TargetResolution): Promise<ConnectionTarget> {
  const m = /^([a-z]+):(.+)$/.exec(host.address);
  const resolver = m ? res.prefixes[m[1]!] : undefined;
  let target: ConnectionTarget;
  if (resolver) {
    target = await resolver(m![2]!);
    const extraKeys = [...(res.ssh.keyFiles ?? []), ...(host.key ? [host.key] : [])];
    target = {
      ...target,
      identityFiles: [...extraKeys, ...target.identityFiles],
      ...(res.ssh.hostKeyPolicy && res.ssh.hostKeyPolicy !== "strict"
        ? { hostKeyPolicy: res.ssh.hostKeyPolicy }
        : {}),
    };
  } else {
    target = resolveTarget(host.address, {
      ...res.ssh,
      // ansible_user / ansible_port of an inventory host
      ...(host.user ? { user: host.user } : {}),
      ...(host.port ? { port: host.port } : {}),
      keyFiles: [...(res.ssh.keyFiles ?? []), ...(host.key ? [host.key] : [])],
    });
  }
  return { ...target, name: host.name };
}
