/**
 * `command`: run a shell command, made idempotent by guards: `creates` (skip when the path exists),
 * `removes` (skip when it does not), `unless` (skip when that sh exits 0), `onlyif` (skip when it does
 * not). The probe evaluates the guards; without any guard the command runs on every run and the change
 * says so. Not verifiable: the guards are the check.
 *
 * The command text reaches the host inside the script on stdin, never in argv (it may hold a secret);
 * with `become_user` it goes through a 0600 temp file owned by that user. Guards are re-evaluated at
 * apply time too, because the probe ran before earlier tasks of the same run changed the host.
 * Guards (`unless`/`onlyif`) run as checks during the probe; with become_user they too reach the user's
 * shell on a file descriptor (a here-document), never in argv.
 */
import { z } from "zod";
import { parseKeyValues, type Change, type ResourceKind } from "../engine/resource.js";
import { base64Heredoc, raw, sh, shJoin, type Sh } from "../core/sh.js";
import { absPath, userName } from "./common/schema.js";

const shText = (what: string) =>
  z
    .string({ error: `${what} must be a shell command string` })
    .min(1, { error: `${what} must not be empty` });

export const commandSpec = z
  .strictObject({
    cmd: shText("cmd").describe(
      "POSIX sh run as root with set -e; a {{variable}} in it is one quoted word (declare its type in var_types).",
    ),
    creates: absPath.optional().describe("Skip the command when this path exists."),
    removes: absPath.optional().describe("Run the command only when this path exists."),
    unless: shText("unless")
      .optional()
      .describe("sh run first: the command is skipped when it exits 0 (the guard that makes it idempotent)."),
    onlyif: shText("onlyif").optional().describe("sh run first: the command runs only when it exits 0."),
    chdir: absPath.optional().describe("Directory the command runs in."),
    become_user: userName("become_user")
      .optional()
      .describe("Run the command (and its guards) as this user instead of root."),
  })
  .meta({
    description:
      "A shell command, run when its guard (creates, removes, unless, onlyif) says so; an action, so the audit does not judge it.",
    examples: [
      {
        cmd: "sed -i 's/^#\\?LLMNR=.*/LLMNR=no/' /etc/systemd/resolved.conf",
        unless: "grep -qx LLMNR=no /etc/systemd/resolved.conf",
      },
    ],
  });
export type CommandSpec = z.output<typeof commandSpec>;

export interface CommandFacts {
  createsExists?: boolean;
  removesExists?: boolean;
  /** Exit status of `unless` / `onlyif`. */
  unlessRc?: number;
  onlyifRc?: number;
}

const hasGuard = (s: CommandSpec) =>
  s.creates !== undefined || s.removes !== undefined || s.unless !== undefined || s.onlyif !== undefined;

/** A one-line label for the command (first line, shortened). */
function label(cmd: string): string {
  const first = cmd.trim().split("\n")[0] ?? "";
  const short = first.length > 60 ? `${first.slice(0, 57)}…` : first;
  return cmd.trim().includes("\n") ? `${short} …` : short;
}

/**
 * The user's own sh (cmd/unless/onlyif) as an Sh: it is the playbook's text, whose `{{x}}` were already
 * written as quoted words when the task was prepared (src/engine/render-sh.ts).
 */
const userSh = (text: string): Sh => raw(text);

/** The code as base64 lines, for a here-document (any bytes survive, no quoting inside). */
const b64Lines = (code: Sh): Sh =>
  raw(
    Buffer.from(String(code))
      .toString("base64")
      .replace(/(.{76})/g, "$1\n"),
  );

/** `"$(getent passwd USER | cut -d: -f6)"`: the user's home, the default directory as that user. */
const homeOf = (user: string): Sh => sh`"$(getent passwd ${user} | cut -d: -f6)"`;

/** sh that runs `code` as the spec's user in its chdir (a subshell: `exit` inside cannot end the batch). */
function asUser(spec: CommandSpec, code: Sh): Sh {
  if (spec.become_user === undefined) {
    return spec.chdir ? sh`( cd -- ${spec.chdir} && ${code}\n)` : sh`( ${code}\n)`;
  }
  const u = spec.become_user;
  const dir = spec.chdir ? sh`${spec.chdir}` : homeOf(u);
  // runuser does not open a login session: give the user its XDG_RUNTIME_DIR (systemctl --user, rootless
  // docker). The code arrives base64 on fd 3 (a here-document), not as `sh -c CODE`: argv is world-readable.
  return sh`(lc_uid=$(id -u -- ${u}) && cd -- ${dir} && if [ -d "/run/user/$lc_uid" ]; then lc_env="XDG_RUNTIME_DIR=/run/user/$lc_uid"; else lc_env=LOCKCLAW_BECOME=1; fi && runuser -u ${u} -- env "$lc_env" sh -c 'eval "$(base64 -d <&3)" 3<&-' 3<<'LOCKCLAW_B64_EOF'
${b64Lines(code)}
LOCKCLAW_B64_EOF
)`;
}

/** The guard as a condition: ` >/dev/null 2>&1 </dev/null`, output and input kept off the batch. */
const quiet = (spec: CommandSpec, code: string): Sh =>
  sh`${asUser(spec, userSh(code))} >/dev/null 2>&1 </dev/null`;

/** sh condition (exit 0 = run the command) from the guards, evaluated on the host. */
function shouldRunSh(spec: CommandSpec): Sh {
  const conds: Sh[] = [];
  if (spec.creates) conds.push(sh`[ ! -e ${spec.creates} ]`);
  if (spec.removes) conds.push(sh`[ -e ${spec.removes} ]`);
  if (spec.unless) conds.push(sh`! ${quiet(spec, spec.unless)}`);
  if (spec.onlyif) conds.push(quiet(spec, spec.onlyif));
  return shJoin(conds, " && ");
}

/** sh condition (exit 0 = run the command) from the guards, evaluated on the host. */
function planCommand(spec: CommandSpec, f: CommandFacts): Change[] {
  if (spec.creates && f.createsExists) return [];
  if (spec.removes && !f.removesExists) return [];
  if (spec.unless && f.unlessRc === 0) return [];
  if (spec.onlyif && f.onlyifRc !== 0) return [];
  const why = hasGuard(spec) ? "" : " (no guard: runs on every run)";
  return [{ summary: `run ${label(spec.cmd)}${spec.become_user ? ` as ${spec.become_user}` : ""}${why}` }];
}

export const commandKind: ResourceKind<CommandSpec, CommandFacts, undefined> = {
  name: "command",
  spec: commandSpec,
  verifiable: false,
  shFields: ["cmd", "unless", "onlyif"],
  describe: (spec) => `command ${label(spec.cmd)}`,

  probe(spec) {
    const lines: Sh[] = [raw("echo command=1")];
    if (spec.creates) lines.push(sh`if [ -e ${spec.creates} ]; then echo creates=1; else echo creates=0; fi`);
    if (spec.removes) lines.push(sh`if [ -e ${spec.removes} ]; then echo removes=1; else echo removes=0; fi`);
    if (spec.unless) lines.push(sh`${quiet(spec, spec.unless)}; echo "unless=$?"`);
    if (spec.onlyif) lines.push(sh`${quiet(spec, spec.onlyif)}; echo "onlyif=$?"`);
    return {
      script: shJoin(lines),
      // a guard is the user's own command: assume a couple of processes, one of them systemctl-like
      cost: 3 + 15 * (Number(!!spec.unless) + Number(!!spec.onlyif)),
      parse(stdout) {
        const kv = new Map([...parseKeyValues(stdout)].map(([k, v]) => [k, v.trim()]));
        if (kv.get("command") !== "1") throw new Error("command probe printed no command=1 line");
        const need = (key: string) => {
          const v = kv.get(key);
          if (v === undefined || !/^[0-9]+$/.test(v))
            throw new Error(`command probe printed no valid ${key}= line`);
          return Number(v);
        };
        const f: CommandFacts = {};
        if (spec.creates) f.createsExists = need("creates") === 1;
        if (spec.removes) f.removesExists = need("removes") === 1;
        if (spec.unless) f.unlessRc = need("unless");
        if (spec.onlyif) f.onlyifRc = need("onlyif");
        return f;
      },
    };
  },

  // the guards are read by the probe and again by apply on the host: nothing to carry over
  plan: (spec, facts) => ({ changes: planCommand(spec, facts), plan: undefined }),

  apply(spec) {
    let run: Sh;
    // the message does not repeat the command: it may hold a secret, and the engine names the task anyway
    const fail = raw(`echo "command failed (exit $lc_rc)" >&2; exit "$lc_rc"`);
    const cmd = userSh(spec.cmd);
    if (spec.become_user === undefined) {
      // a subshell without set -e: the command keeps plain `sh -c` semantics (only its last status counts)
      const cd = spec.chdir ? sh`; cd -- ${spec.chdir} || exit 1` : raw("");
      run = sh`if (set +e${cd}\n${cmd}\n) </dev/null; then :; else lc_rc=$?; ${fail}; fi`;
    } else {
      const u = spec.become_user;
      const dir = spec.chdir ? sh`${spec.chdir}` : homeOf(u);
      run = shJoin([
        raw(`lc_s=$(umask 077 && mktemp)`),
        base64Heredoc(raw(`cat > "$lc_s"`), spec.cmd),
        sh`chown -- ${u} "$lc_s"`,
        sh`lc_uid=$(id -u -- ${u})`,
        raw(
          `if [ -d "/run/user/$lc_uid" ]; then lc_env="XDG_RUNTIME_DIR=/run/user/$lc_uid"; else lc_env=LOCKCLAW_BECOME=1; fi`,
        ),
        sh`if (cd -- ${dir} && runuser -u ${u} -- env "$lc_env" sh "$lc_s") </dev/null; then lc_rc=0; else lc_rc=$?; fi`,
        raw(`rm -f -- "$lc_s"`),
        sh`if [ "$lc_rc" -ne 0 ]; then ${fail}; fi`,
      ]);
    }
    if (!hasGuard(spec)) return run;
    return sh`if ${shouldRunSh(spec)}; then\n${run}\nfi`;
  },
};
