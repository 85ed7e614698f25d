/**
 * A private Docker daemon for the image tests: Debian's dockerd with its own data root, exec root, pid
 * file and unix socket under a temp dir, started by the test and stopped by PID afterwards. It never
 * touches the host's network: no iptables rules, no NAT, no IP forwarding, no bridge (containers run with
 * --network none, builds with --network=none). net.ipv4.ip_forward is recorded and restored anyway.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const IP_FORWARD = "/proc/sys/net/ipv4/ip_forward";

export interface PrivateDockerd {
  host: string;
  dir: string;
  pid: number;
  stop(): Promise<void>;
}

/** Why this machine cannot run the private daemon, or undefined when it can. */
export function dockerdUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "dockerd needs root; run the image e2e tests as root";
  const missing = ["dockerd", "containerd", "runc", "docker", "debootstrap"].filter(
    (t) => spawnSync("sh", ["-c", `command -v ${t}`], { stdio: "ignore" }).status !== 0,
  );
  if (missing.length > 0) {
    return `missing ${missing.join(", ")}: apt-get install --no-install-recommends docker.io debootstrap`;
  }
  return undefined;
}

function processesMentioning(dir: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(`${dir}/`)) found.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function startPrivateDockerd(log: (l: string) => void = () => {}): Promise<PrivateDockerd> {
  // Short base path: unix socket paths are limited to 108 bytes and containerd nests its own under exec-root.
  const dir = mkdtempSync(join(tmpdir(), "lcd-"));
  for (const d of ["data", "exec"]) mkdirSync(join(dir, d));
  const sock = join(dir, "docker.sock");
  const host = `unix://${sock}`;
  const forwardBefore = existsSync(IP_FORWARD) ? readFileSync(IP_FORWARD, "utf8").trim() : undefined;
  const logFd = openSync(join(dir, "dockerd.log"), "a");
  const child: ChildProcess = spawn(
    "dockerd",
    [
      "--iptables=false",
      "--ip6tables=false",
      "--ip-forward=false",
      "--ip-masq=false",
      "--bridge=none",
      "--data-root",
      join(dir, "data"),
      "--exec-root",
      join(dir, "exec"),
      "--pidfile",
      join(dir, "dockerd.pid"),
      "--host",
      host,
      "--storage-driver",
      process.env.LOCKCLAW_DOCKER_STORAGE ?? "overlay2",
    ],
    { stdio: ["ignore", logFd, logFd], detached: true },
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error("dockerd did not start");
  child.unref();

  const stop = async () => {
    const env = { ...process.env, DOCKER_HOST: host };
    const ids = spawnSync("docker", ["ps", "-aq"], { env, encoding: "utf8" }).stdout?.trim();
    if (ids) spawnSync("docker", ["rm", "-f", ...ids.split(/\s+/)], { env, stdio: "ignore" });
    if (alive(pid)) {
      process.kill(pid, "SIGTERM");
      for (let i = 0; i < 150 && alive(pid); i++) await sleep(100);
      if (alive(pid)) process.kill(pid, "SIGKILL");
    }
    // dockerd stops its own containerd and shims; any left over (a crash) still name our directory in
    // their command line, which is how they are found: only processes this daemon started.
    for (const p of processesMentioning(dir)) process.kill(p, "SIGKILL");
    if (forwardBefore !== undefined && readFileSync(IP_FORWARD, "utf8").trim() !== forwardBefore) {
      writeFileSync(IP_FORWARD, `${forwardBefore}\n`);
      log(`restored net.ipv4.ip_forward=${forwardBefore}`);
    }
    // Overlay mounts die with the daemon; the data root can then go.
    spawnSync("sh", ["-c", 'grep -o " $1[^ ]*" /proc/mounts | xargs -r -n1 umount -l', "sh", dir]);
    rmSync(dir, { recursive: true, force: true });
  };

  for (let i = 0; i < 300; i++) {
    if (!alive(pid)) break;
    const r = spawnSync("docker", ["version", "--format", "{{.Server.Version}}"], {
      env: { ...process.env, DOCKER_HOST: host },
      encoding: "utf8",
    });
    if (r.status === 0) {
      log(`private dockerd ${r.stdout.trim()} (pid ${pid}) on ${host}`);
      return { host, dir, pid, stop };
    }
    await sleep(100);
  }
  const tail = existsSync(join(dir, "dockerd.log"))
    ? readFileSync(join(dir, "dockerd.log"), "utf8").split("\n").slice(-15).join("\n")
    : "";
  await stop();
  throw new Error(`private dockerd did not come up within 30s:\n${tail}`);
}
