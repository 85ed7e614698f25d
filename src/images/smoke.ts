/**
 * `lockclaw image test`: starts an image the hardened way (read-only root, no capability, no network,
 * no-new-privileges) and runs /opt/lockclaw/scripts/test-smoke.sh inside it.
 */
import { randomBytes } from "node:crypto";
import { IMAGES, type ImageName } from "./catalog.js";
import { docker, dockerRaw, type DockerOptions } from "./docker.js";

export const SMOKE_SCRIPT = "/opt/lockclaw/scripts/test-smoke.sh";

export interface SmokeCheck {
  status: "PASS" | "FAIL";
  check: string;
  message: string;
}

export interface SmokeReport {
  checks: SmokeCheck[];
  passed: number;
  failed: number;
  exitCode: number | null;
  output: string;
}

/** Parses the script's "PASS|FAIL <check>: <message>" lines; other lines (the summary) are ignored. */
export function parseSmokeOutput(output: string, exitCode: number | null = null): SmokeReport {
  const checks: SmokeCheck[] = [];
  for (const line of output.split("\n")) {
    const m = /^(PASS|FAIL) ([a-z-]+): (.*)$/.exec(line.trim());
    if (m) checks.push({ status: m[1] as "PASS" | "FAIL", check: m[2] ?? "", message: m[3] ?? "" });
  }
  const failed = checks.filter((c) => c.status === "FAIL").length;
  return { checks, passed: checks.length - failed, failed, exitCode, output };
}

/** The hardened `docker run` flags every LockClaw image must work with. */
export function hardenedRunArgs(): string[] {
  return [
    "--read-only",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
    "--network",
    "none",
    // Runtimes need a scratch /tmp (OpenClaw keeps logs and locks there); everything else stays read-only.
    "--tmpfs",
    "/tmp",
    "-e",
    "LOCKCLAW_EXPECT_READONLY=1",
  ];
}

export interface StartOptions extends DockerOptions {
  /** Extra `docker run` arguments (before the image), e.g. `-e LOCKCLAW_ENABLE_SSH=1`. */
  runArgs?: string[];
  /** Drop the hardened defaults (to test that the smoke test notices). */
  unhardened?: boolean;
  /** Command after the image (default: its CMD). */
  command?: string[];
}

/** Starts a detached container; returns its name. */
export async function startContainer(image: string, o: StartOptions = {}): Promise<string> {
  const name = `lockclaw-smoke-${randomBytes(4).toString("hex")}`;
  const args = ["run", "-d", "--name", name];
  if (!o.unhardened) args.push(...hardenedRunArgs());
  args.push(...(o.runArgs ?? []), image, ...(o.command ?? []));
  await docker(args, { ...o, what: `container ${image}` });
  return name;
}

export async function removeContainer(name: string, o: DockerOptions = {}): Promise<void> {
  await dockerRaw(["rm", "-f", name], o);
}

/** Runs the smoke script (optionally only some checks) in a running container. */
export async function runSmoke(container: string, o: DockerOptions & { checks?: string[] } = {}) {
  const r = await dockerRaw(["exec", container, SMOKE_SCRIPT, ...(o.checks ?? [])], o);
  return parseSmokeOutput(`${r.stdout}\n${r.stderr}`, r.code);
}

/** Starts the image hardened, runs the full smoke test, removes the container. */
export async function testImage(
  name: ImageName,
  o: StartOptions & { progress?: (line: string) => void } = {},
): Promise<SmokeReport> {
  const tag = IMAGES[name].tags[0] ?? `lockclaw:${name}`;
  const say = o.progress ?? (() => {});
  say(`${tag}: starting (read-only, cap-drop ALL, no-new-privileges, network none)`);
  const c = await startContainer(tag, o);
  try {
    const report = await runSmoke(c, o);
    for (const check of report.checks) say(`${tag}: ${check.status} ${check.check}: ${check.message}`);
    if (report.checks.length === 0) {
      const logs = await dockerRaw(["logs", "--tail", "20", c], o);
      say(`${tag}: no smoke output; container log:\n${logs.stdout}${logs.stderr}`);
    }
    return report;
  } finally {
    await removeContainer(c, o);
  }
}
