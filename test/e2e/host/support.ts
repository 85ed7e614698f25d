/** Shared by the host-hardening e2e files: the CLI with an isolated state dir, and outside-in checks. */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tcpConnect } from "node:net";
import { lockclaw, type CliResult } from "../support/cli.js";
import { vagrantProjectDir } from "../../../src/lab/vagrant.js";
import { ensureRootfs } from "../../../src/lab/rootfs.js";
import { storePackages } from "../../../src/lab/store.js";
import { e2eContext, type TestMachine } from "../support/lab.js";

/** One local-state dir per test file: re-runs find the host on its new port through it. */
export function cliFor(): (args: string[], env?: NodeJS.ProcessEnv) => Promise<CliResult> {
  const state = mkdtempSync(join(tmpdir(), "lc-e2e-state-"));
  return (args, env = {}) =>
    lockclaw(args, {
      env: { XDG_STATE_HOME: state, LOCKCLAW_LAB_DIR: e2eContext().labDir, SSH_AUTH_SOCK: "", ...env },
    });
}

export const target = (m: TestMachine) => (m.lab ? `lab:${m.name}` : `vagrant:${m.name}`);

export type PortState = "open" | "refused" | "filtered";

/** TCP connect from this host (optionally from a given source address): open, refused (RST) or filtered (no answer). */
export function probePort(
  host: string,
  port: number,
  localAddress?: string,
  timeoutMs = 2500,
): Promise<PortState> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host, port, localAddress, timeout: timeoutMs });
    const done = (st: PortState) => {
      s.destroy();
      resolve(st);
    };
    s.once("connect", () => done("open"));
    s.once("timeout", () => done("filtered"));
    s.once("error", (err: NodeJS.ErrnoException) =>
      done(err.code === "ECONNREFUSED" ? "refused" : "filtered"),
    );
  });
}

/** The first line of the answer to a plain HTTP GET over TCP (a passthrough proxy forwards it as is). */
export function httpStatusLine(
  host: string,
  port: number,
  path: string,
  localAddress?: string,
  timeoutMs = 10_000,
): Promise<string> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host, port, localAddress, timeout: timeoutMs });
    let got = "";
    const done = (line: string) => {
      s.destroy();
      resolve(line);
    };
    s.once("connect", () => s.write(`GET ${path} HTTP/1.0\r\nHost: ${host}\r\n\r\n`));
    s.on("data", (d: Buffer) => {
      got += d.toString("latin1");
      if (got.includes("\r\n")) done(got.split("\r\n")[0]!);
    });
    s.once("end", () => done(got.split("\r\n")[0] ?? ""));
    s.once("timeout", () => done("timeout"));
    s.once("error", (err: NodeJS.ErrnoException) => done(`error:${err.code ?? err.message}`));
  });
}

/** Lines of a `--json` event stream. */
export function events(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export function show(r: CliResult): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout.slice(-6000)}\n--- stderr\n${r.stderr.slice(-3000)}`;
}

/**
 * ssh-audit from the lab's package store (Debian 13's release), unpacked on this host: the CI host's
 * own release predates current OpenSSH and warns about algorithms it does not know.
 */
export async function sshAuditFromStore(): Promise<{
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}> {
  const ctx = e2eContext();
  const rootfs = await ensureRootfs({
    labDir: ctx.labDir,
    distro: "trixie",
    storePackages: storePackages(ctx.playbooks),
  });
  const repo = join(rootfs.path, "srv", "localrepo");
  const deb = readdirSync(repo).find((f) => f.startsWith("ssh-audit_") && f.endsWith(".deb"));
  if (!deb) throw new Error(`no ssh-audit .deb in ${repo}`);
  const dir = mkdtempSync(join(tmpdir(), "lc-ssh-audit-"));
  execFileSync("dpkg-deb", ["-x", join(repo, deb), dir]);
  const script = [join(dir, "usr/bin/ssh-audit"), join(dir, "usr/share/ssh-audit/ssh-audit.py")].find(
    existsSync,
  );
  if (!script) throw new Error(`ssh-audit not found in ${deb}`);
  const pkgDirs = ["usr/lib/python3/dist-packages", "usr/share/ssh-audit"]
    .map((d) => join(dir, d))
    .filter(existsSync);
  return { command: "python3", args: [script], env: { PYTHONPATH: pkgDirs.join(":") } };
}

/**
 * A command as root on the machine's console, not over SSH (a banned host cannot log in): nsenter into a
 * lab machine's namespaces, lxc-attach into a Vagrant box of the lxc provider.
 */
export function consoleArgs(m: TestMachine, command: string[]): [string, string[]] {
  if (m.lab) {
    return ["nsenter", ["-t", String(leaderOf(m)), "-m", "-u", "-i", "-n", "-p", ...command]];
  }
  const project = vagrantProjectDir();
  const id = project ? join(project, ".vagrant", "machines", m.name, "lxc", "id") : "";
  if (id && existsSync(id)) {
    return ["lxc-attach", ["-n", readFileSync(id, "utf8").trim(), "--", ...command]];
  }
  throw new Error(
    `${m.name}: no console to reach it without SSH (a lab machine or a Vagrant box of the lxc provider)`,
  );
}

/** The container's init: the first child of its systemd-nspawn. */
function leaderOf(m: TestMachine): number {
  const pid = m.lab!.pid;
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/);
  const leader = Number(children[0]);
  if (!Number.isInteger(leader) || leader <= 0)
    throw new Error(`${m.name}: systemd-nspawn ${pid} has no child`);
  return leader;
}

/**
 * Lift every fail2ban ban on a machine, from its console: tests that prove logins are refused get this
 * host banned, exactly as an attacker would be.
 */
export async function unbanAll(m: TestMachine): Promise<void> {
  const [cmd, args] = consoleArgs(m, ["fail2ban-client", "unban", "--all"]);
  const unban = () => execFileSync(cmd, args, { stdio: "ignore" });
  // fail2ban reads the journal a moment later: a ban may still land after the first unban
  let openInARow = 0;
  for (let i = 0; i < 30 && openInARow < 3; i++) {
    unban();
    await new Promise((r) => setTimeout(r, 700));
    openInARow = (await probePort(m.target.host, 2222)) === "open" ? openInARow + 1 : 0;
  }
  if (openInARow < 3) throw new Error(`${m.name}: still banned after unbanning for 20 s`);
}

/**
 * Runs `fn` while `source` (e.g. a Cloudflare address) is an address of this host on the link that leads
 * to the machine (a lab veth, the Vagrant bridge), with the machine routing its answers back over that
 * link. The packets never leave this host. Works for any target reached over a directly attached link.
 */
export async function withSourceAddress<T>(m: TestMachine, source: string, fn: () => Promise<T>): Promise<T> {
  const route = JSON.parse(
    execFileSync("ip", ["-j", "route", "get", m.target.host], { encoding: "utf8" }),
  ) as Array<{ dev: string; prefsrc: string; gateway?: string }>;
  const { dev, prefsrc, gateway } = route[0]!;
  if (gateway) throw new Error(`${m.name} is behind a gateway (${gateway}): no directly attached link`);
  execFileSync("ip", ["addr", "add", `${source}/32`, "dev", dev]);
  try {
    // the machine answers over the link it reaches this host's own address by
    const back = await m.ssh(
      `sudo -n ip route replace ${source}/32 dev "$(ip -o route get ${prefsrc} | sed -n 's/.* dev \\([^ ]*\\).*/\\1/p')"`,
      { user: "deploy", port: 2222 },
    );
    if (back.code !== 0) throw new Error(`route back to ${source} on ${m.name}: ${back.stderr}`);
    return await fn();
  } finally {
    execFileSync("ip", ["addr", "del", `${source}/32`, "dev", dev]);
  }
}
