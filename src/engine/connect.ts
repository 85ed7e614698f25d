/**
 * Reaching a host: lockclaw may have moved sshd and the login user on an earlier run, so it tries, in
 * order, the login remembered in local state, the login the playbook says the host will have after
 * it ran (`reconnect`), then the target as given. A host-key mismatch stops at once: never fall back
 * past a key that does not match.
 */
import { ConnectionError, HostKeyMismatchError } from "../core/errors.js";
import type { ConnectionTarget, Transport } from "../transport/types.js";

export type Connector = (target: ConnectionTarget) => Promise<Transport>;

export interface Login {
  user: string;
  port: number;
}

export interface ConnectAttempt {
  target: ConnectionTarget;
  error?: Error;
}

export function candidateTargets(
  base: ConnectionTarget,
  remembered: { user: string; port: number; hostKey?: string } | undefined,
  planned: Login[],
): ConnectionTarget[] {
  const list: ConnectionTarget[] = [];
  const seen = new Set<string>();
  const add = (t: ConnectionTarget) => {
    const key = `${t.user}@${t.port}`;
    if (!seen.has(key)) {
      seen.add(key);
      list.push(t);
    }
  };
  // the alternatives get a short timeout: a filtered port would otherwise stall every run
  const alt = (login: Login, hostKey?: string): ConnectionTarget => ({
    ...base,
    ...login,
    connectTimeoutMs: Math.min(base.connectTimeoutMs ?? 10_000, 5_000),
    trustedHostKeys: hostKey ? [...(base.trustedHostKeys ?? []), hostKey] : base.trustedHostKeys,
  });
  if (remembered) add(alt(remembered, remembered.hostKey));
  for (const p of planned) add(alt(p, remembered?.hostKey));
  add(base);
  return list;
}

export async function connectFirst(
  targets: ConnectionTarget[],
  connector: Connector,
  onAttemptFailed?: (target: ConnectionTarget, err: Error) => void,
): Promise<Transport> {
  let last: Error | undefined;
  for (const target of targets) {
    try {
      return await connector(target);
    } catch (err) {
      if (err instanceof HostKeyMismatchError) throw err;
      last = err as Error;
      onAttemptFailed?.(target, last);
    }
  }
  const base = targets[targets.length - 1]!;
  const tried = targets.map((t) => `${t.user}@${t.host}:${t.port}`).join(", ");
  throw new ConnectionError(
    `cannot reach ${base.name} (tried ${tried}): ${last?.message ?? "no target"}`,
    base.host,
    base.port,
    {
      cause: last,
    },
  );
}
