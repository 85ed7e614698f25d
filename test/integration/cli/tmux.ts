/**
 * The built `lockclaw` in a terminal as an operator has one: a tmux pane of a given size, on a tmux
 * server of the test's own (its own socket, so no other tmux is touched). The screen is read back as
 * tmux drew it (`capture-pane`: what the user sees, history included), keys are typed into the pane
 * (`send-keys C-c` is a real Ctrl-C from the terminal), and the pane stays once lockclaw exits so its
 * last screen can be read.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { quoteWord as shq } from "../../../src/core/sh.js";
import { commandLine } from "./cli.js";

const exec = promisify(execFile);

export interface TmuxPane {
  /** Everything the pane shows and scrolled off, one screen line per line, wrapped lines joined. */
  screen(): Promise<string>;
  /** What the user types (tmux key names: `C-c`). */
  keys(...keys: string[]): Promise<void>;
  /** The screen, once it matches (polled every 100 ms). */
  waitFor(what: RegExp, timeoutMs?: number): Promise<string>;
  /** lockclaw's exit status, once its process ended. */
  exited(timeoutMs?: number): Promise<number>;
  /** Stop the tmux server (and whatever still runs in the pane). */
  kill(): Promise<void>;
}

/** Starts `lockclaw args` in a `cols` × `rows` pane; `dir` holds the socket and the config. */
export async function startTmux(
  dir: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  size = { cols: 120, rows: 40 },
): Promise<TmuxPane> {
  const socket = join(dir, `tmux-${process.pid}-${Date.now()}.sock`);
  const conf = join(dir, "tmux.conf");
  const statusFile = `${socket}.status`;
  // the pane stays after lockclaw exits (its last screen readable); all of its output is kept
  writeFileSync(conf, "set -g remain-on-exit on\nset -g history-limit 10000\nset -g status off\n");
  const tmux = (...a: string[]) => exec("tmux", ["-S", socket, "-f", conf, ...a], { env });
  // the server inherits env (XDG_STATE_HOME, no agent); the pane's TERM is tmux's own, as for a user
  await tmux(
    "new-session",
    "-d",
    "-x",
    String(size.cols),
    "-y",
    String(size.rows),
    "-s",
    "lc",
    // bash writes the status: tmux's own (#{pane_dead_status}) is sometimes never read (a zombie left
    // unreaped); bash waits for a Ctrl-C'd child that handles the signal, and goes on
    `bash -c ${shq(`${commandLine(args)}; echo $? > ${shq(statusFile)}`)}`,
  );
  /** lockclaw's exit status, once its process ended (the file the wrapping bash writes then). */
  const exitStatus = async (): Promise<number | undefined> => {
    const text = existsSync(statusFile) ? readFileSync(statusFile, "utf8") : "";
    return /^\d+\n$/.test(text) ? Number(text) : undefined;
  };
  const pane: TmuxPane = {
    async screen() {
      const { stdout } = await tmux("capture-pane", "-p", "-J", "-S", "-", "-E", "-", "-t", "lc");
      return stdout;
    },
    async keys(...keys: string[]) {
      await tmux("send-keys", "-t", "lc", ...keys);
    },
    async waitFor(what: RegExp, timeoutMs = 60_000) {
      let screen = "";
      await poll(`the screen to show ${what}`, timeoutMs, async () => {
        const dead = await exitStatus();
        screen = await pane.screen();
        if (what.test(screen)) return true;
        if (dead !== undefined)
          throw new Error(`lockclaw exited (${dead}) before ${what} showed:\n${screen}`);
        return false;
      });
      return screen;
    },
    async exited(timeoutMs = 120_000) {
      let status: number | undefined;
      await poll("lockclaw to exit in its tmux pane", timeoutMs, async () => {
        status = await exitStatus();
        return status !== undefined;
      });
      return status!;
    },
    async kill() {
      await tmux("kill-server").catch(() => undefined);
    },
  };
  return pane;
}

async function poll(what: string, timeoutMs: number, cond: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
