/** SSH keys of a lab machine: the login key the user gets, and host keys we generate so we can pin them. */
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { run } from "./run.js";

/** An ed25519 key pair without passphrase; ssh-keygen writes the private key 0600. */
export async function generateLoginKey(file: string, comment: string): Promise<string> {
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file]);
  return (await readFile(`${file}.pub`, "utf8")).trim();
}

/**
 * Generates the host keys a fresh VM would have (rsa, ecdsa, ed25519) inside `root` and returns
 * known_hosts lines for `address`, so clients can check the host key strictly from the first login.
 */
export async function generateHostKeys(root: string, address: string): Promise<string[]> {
  // -A with -f PREFIX writes PREFIX/etc/ssh/ssh_host_*_key: the target's own files, not the host's.
  await run("ssh-keygen", ["-A", "-f", root]);
  const dir = join(root, "etc/ssh");
  const lines: string[] = [];
  for (const f of (await readdir(dir)).sort()) {
    if (!/^ssh_host_.*_key\.pub$/.test(f)) continue;
    const [type, key] = (await readFile(join(dir, f), "utf8")).trim().split(/\s+/);
    // Also pinned for port 2222, where the host playbook moves sshd: same host, same keys.
    if (type && key) lines.push(`${address},[${address}]:2222 ${type} ${key}`);
  }
  return lines;
}

export async function writeKnownHosts(file: string, lines: string[]): Promise<void> {
  await writeFile(file, lines.join("\n") + "\n", { mode: 0o600 });
}
