/**
 * Runs the docker CLI: execFile-style (argv, never a shell), output streamed line by line so callers can
 * show progress, and a typed error carrying the command's stderr when it fails.
 */
import { spawn } from "node:child_process";
import { ApplyError } from "../core/errors.js";

export interface DockerOptions {
  /** docker binary (default: $LOCKCLAW_DOCKER or `docker` from PATH). */
  bin?: string;
  /** Daemon address; passed as DOCKER_HOST so it never shows up in argv. */
  host?: string;
  /** Called for every output line (stdout and stderr), e.g. to print build progress. */
  onLine?: (line: string, stream: "stdout" | "stderr") => void;
  /** Extra environment for the docker CLI. Pair with `-e NAME` (no value) to hand a container a value
   *  that must not appear in argv (API keys). */
  env?: Record<string, string>;
  /** Bytes written to the command's stdin (e.g. a rootfs tarball is streamed instead). */
  input?: NodeJS.ReadableStream;
  /** Labels the error: "image openclaw", "smoke test". */
  what?: string;
  /** Kill the command after this many milliseconds. */
  timeoutMs?: number;
}

export interface DockerResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function dockerBin(o: DockerOptions = {}): string {
  return o.bin ?? process.env.LOCKCLAW_DOCKER ?? "docker";
}

/** Runs docker and resolves with its exit code and output, whatever the code. */
export function dockerRaw(args: string[], o: DockerOptions = {}): Promise<DockerResult> {
  const env = { ...process.env, ...o.env };
  if (o.host) env.DOCKER_HOST = o.host;
  return new Promise((resolve, reject) => {
    const child = spawn(dockerBin(o), args, { env, stdio: [o.input ? "pipe" : "ignore", "pipe", "pipe"] });
    const out: Record<"stdout" | "stderr", string[]> = { stdout: [], stderr: [] };
    const pending: Record<"stdout" | "stderr", string> = { stdout: "", stderr: "" };
    const feed = (stream: "stdout" | "stderr", chunk: Buffer) => {
      const text = pending[stream] + chunk.toString("utf8");
      const lines = text.split("\n");
      pending[stream] = lines.pop() ?? "";
      for (const line of lines) {
        out[stream].push(line);
        o.onLine?.(line, stream);
      }
    };
    child.stdout?.on("data", (c: Buffer) => feed("stdout", c));
    child.stderr?.on("data", (c: Buffer) => feed("stderr", c));
    if (o.input && child.stdin) o.input.pipe(child.stdin);
    const timer = o.timeoutMs ? setTimeout(() => child.kill("SIGKILL"), o.timeoutMs) : undefined;
    child.on("error", (err) => {
      if (timer) clearTimeout(timer);
      reject(
        new ApplyError(o.what ?? "docker", `${dockerBin(o)} ${args[0] ?? ""}`, null, err.message, {
          cause: err,
        }),
      );
    });
    child.on("close", (code) => {
      if (timer) clearTimeout(timer);
      for (const s of ["stdout", "stderr"] as const) {
        if (pending[s]) {
          out[s].push(pending[s]);
          o.onLine?.(pending[s], s);
        }
      }
      resolve({ code, stdout: out.stdout.join("\n"), stderr: out.stderr.join("\n") });
    });
  });
}

/** Runs docker and throws an ApplyError (with stderr) unless it exits 0. Returns trimmed stdout. */
export async function docker(args: string[], o: DockerOptions = {}): Promise<string> {
  const r = await dockerRaw(args, o);
  if (r.code !== 0) {
    throw new ApplyError(o.what ?? "docker", describe(args), r.code, r.stderr || r.stdout);
  }
  return r.stdout.trim();
}

/** A short, secret-free rendering of a docker command for messages: options' values are kept only for
 *  flags that never carry secrets (env values are shown as NAME=…). */
export function describe(args: string[]): string {
  const shown: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? "";
    if ((a === "-e" || a === "--env") && i + 1 < args.length) {
      const kv = args[++i] ?? "";
      shown.push(a, `${kv.split("=")[0]}=…`);
    } else if (a.startsWith("--env=")) {
      shown.push(`--env=${a.slice(6).split("=")[0]}=…`);
    } else shown.push(a);
  }
  return `docker ${shown.join(" ")}`;
}
