/**
 * Logins started before the run has prepared its plays. A host lockclaw has provisioned before is
 * reached first at the login remembered in local state (connect.ts), and that does not depend on the
 * plays, so its SSH handshake (the server's fork, key exchange, authentication: tens of milliseconds,
 * mostly waiting) can go on while the playbooks are parsed, validated and rendered. A no-op re-run is
 * the case this serves: there the handshake was a tenth of the whole process. The CLI starts them as
 * soon as the targets are resolved, before it even loads the engine (RunOptions.earlyLogins).
 *
 * Only the remembered login is started early, and only when every host runs at once (one batch, no
 * more hosts than forks): a host of a later batch must not hold an idle connection for minutes. A
 * login nobody takes (bad input stopped the run, the host failed before connecting) is closed.
 * Connecting changes nothing on a host; bad input is still refused before anything runs there.
 */
import { candidateTargets, type Connector } from "./connect.js";
import type { HostStateStore } from "./state.js";
import { stateKeyOf } from "./state.js";
import type { ConnectionTarget, Transport } from "../transport/types.js";

const loginKey = (t: ConnectionTarget) => `${t.name}\0${t.user}@${t.host}:${t.port}`;

export class EarlyLogins {
  private readonly pending = new Map<string, Promise<Transport>>();

  /** Start the remembered login of each of these hosts that has one. */
  static start(targets: ConnectionTarget[], state: HostStateStore, connector: Connector): EarlyLogins {
    const early = new EarlyLogins();
    for (const target of targets) {
      const remembered = state.get(stateKeyOf(target));
      if (!remembered) continue;
      // the same first candidate HostRun will try (no planned logins: they only come after it)
      const first = candidateTargets(target, remembered, [])[0]!;
      const login = connector(first);
      // a failure is seen when the login is taken (and then the next candidate is tried), not before
      login.catch(() => undefined);
      early.pending.set(loginKey(first), login);
    }
    return early;
  }

  /** The login started for exactly this target, once; undefined when none was. */
  take(target: ConnectionTarget): Promise<Transport> | undefined {
    const key = loginKey(target);
    const login = this.pending.get(key);
    this.pending.delete(key);
    return login;
  }

  /** Close every login not taken. */
  async closeUntaken(): Promise<void> {
    const left = [...this.pending.values()];
    this.pending.clear();
    await Promise.all(left.map((l) => l.then((t) => t.close()).catch(() => undefined)));
  }

  /** A connector that hands out an early login where there is one for the target. */
  connector(fallback: Connector): Connector {
    return (target) => this.take(target) ?? fallback(target);
  }
}
