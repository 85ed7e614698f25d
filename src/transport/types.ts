/** What the engine needs from a connection to a host. src/transport/ssh.ts implements it with ssh2. */

import type { Readable } from "node:stream";

export interface ExecOptions {
  /**
   * Bytes written to the command's stdin, then EOF. Secrets travel here, never in argv. A stream is
   * piped (an image tarball of a gigabyte is never held in memory).
   */
  stdin?: string | Buffer | Readable;
  /** Run as root: through `sudo -n` when the login user is not root. */
  become?: boolean;
  /** Fail with a timeout error after this long. */
  timeoutMs?: number;
  /** Each piece of stdout as it arrives (the live view); the result still holds all of it. */
  onStdout?: (chunk: Buffer) => void;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit status; null when the command was killed by a signal. */
  code: number | null;
  signal?: string;
}

export type HostKeyPolicy = "strict" | "accept-new" | "off";

/**
 * A keepalive request every `intervalMs` after the server's last answer to one; the connection counts as
 * dead once `countMax` in a row went unanswered and one more interval passed, i.e. (countMax + 1) ×
 * intervalMs after that answer. (ssh2's semantics; like OpenSSH's ServerAliveInterval/CountMax.)
 */
export interface KeepaliveSettings {
  intervalMs: number;
  countMax: number;
}

/** Where and how to connect, after ~/.ssh/config and the inventory were applied. */
export interface ConnectionTarget {
  /** The name the user gave (inventory name, `lab:t1`, `user@host`): used in reports. */
  name: string;
  /**
   * What identifies the machine in lockclaw's local state (engine/state.ts stateKeyOf): set by a
   * resolver that knows better than the address (a lab machine); default the SSH address.
   */
  stateKey?: string;
  host: string;
  port: number;
  user: string;
  /** Private key files to offer, in order. */
  identityFiles: string[];
  /** ssh-agent socket, when one should be offered (default: $SSH_AUTH_SOCK). */
  agent?: string;
  /** `user@host:port` of a jump host (ProxyJump), resolved the same way. */
  proxyJump?: ConnectionTarget;
  hostKeyPolicy: HostKeyPolicy;
  /** known_hosts file to check and (with accept-new) record into. */
  knownHostsFile: string;
  connectTimeoutMs?: number;
  /** SSH keepalives (default: see ssh.ts DEFAULT_KEEPALIVE, or $LOCKCLAW_SSH_KEEPALIVE). */
  keepalive?: KeepaliveSettings;
  /**
   * Host-key fingerprints (`SHA256:…`) accepted in addition to known_hosts: the engine pins the key it
   * already verified on the old port when it proves a fresh login on the new one (and records it).
   */
  trustedHostKeys?: string[];
}

export interface Transport {
  readonly target: ConnectionTarget;
  /** Number of exec channels opened so far on this connection. */
  readonly execCount: number;
  /** The server's host-key fingerprint (`SHA256:…`) seen at connect. */
  readonly hostKeyFingerprint: string;
  /**
   * The public keys (`type base64`) this login may have authenticated with: the one key file that
   * worked, or every identity the agent offered when the agent did it (which one ssh2 does not say).
   * Empty when unknown. The engine never removes these from the login user's authorized_keys.
   */
  readonly authKeys?: string[];
  exec(command: string, options?: ExecOptions): Promise<ExecResult>;
  /** Resolves when closed; also resolves if the connection already dropped. */
  close(): Promise<void>;
  /** Registers a callback for an unexpected drop of the connection. */
  onClose(listener: (err?: Error) => void): void;
}
