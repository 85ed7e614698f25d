import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { becomeCommand } from "../../../src/transport/ssh.js";
import { runScript, SCRIPT_TRAILER, SCRIPT_WRAPPER } from "../../../src/transport/script.js";
import type { ExecOptions, ExecResult, Transport } from "../../../src/transport/types.js";

describe("becomeCommand", () => {
  it("leaves commands alone for root or without become", () => {
    expect(becomeCommand("id -u", "root", true)).toBe("id -u");
    expect(becomeCommand("id -u", "deploy", false)).toBe("id -u");
  });
  it("wraps in sudo -n sh -c with the command as one quoted word", () => {
    const cmd = `echo "it's"; printf '%s' $HOME`;
    const wrapped = becomeCommand(cmd, "deploy", true);
    expect(wrapped.startsWith("sudo -n sh -c ")).toBe(true);
    // a local sh parses the quoted word back into exactly the original command
    const word = execFileSync("sh", [
      "-c",
      `printf '%s' ${wrapped.slice("sudo -n sh -c ".length)}`,
    ]).toString();
    expect(word).toBe(cmd);
  });
});

describe("runScript", () => {
  it("sends a fixed command and the script (plus trailer) on stdin only", async () => {
    const calls: Array<{ command: string; options?: ExecOptions }> = [];
    // A recording Transport: this checks what runScript hands to exec, not SSH behaviour (the
    // integration tests run it against a real sshd).
    const recorder: Transport = {
      target: {
        name: "t",
        host: "h",
        port: 22,
        user: "u",
        identityFiles: [],
        hostKeyPolicy: "strict",
        knownHostsFile: "",
      },
      execCount: 0,
      hostKeyFingerprint: "",
      exec: async (command, options): Promise<ExecResult> => {
        calls.push({ command, options });
        return { stdout: "", stderr: "", code: 0 };
      },
      close: async () => {},
      onClose: () => {},
    };
    await runScript(recorder, "echo secret-value", { become: true });
    await runScript(recorder, "echo other\n");
    expect(calls[0]!.command).toBe(SCRIPT_WRAPPER);
    expect(calls[1]!.command).toBe(SCRIPT_WRAPPER);
    expect(calls[0]!.command).not.toContain("secret-value");
    expect(calls[0]!.options).toMatchObject({
      become: true,
      stdin: `echo secret-value\n${SCRIPT_TRAILER}\n`,
    });
    expect(calls[1]!.options?.stdin).toBe(`echo other\n${SCRIPT_TRAILER}\n`);
  });

  it("the wrapper refuses a truncated upload and keeps the script's exit status (local sh)", () => {
    const run = (input: string) => {
      try {
        return {
          code: 0,
          out: execFileSync("sh", ["-c", SCRIPT_WRAPPER], { input, stdio: "pipe" }).toString(),
        };
      } catch (e) {
        const err = e as { status: number; stderr: Buffer };
        return { code: err.status, out: err.stderr.toString() };
      }
    };
    expect(run(`echo ran\n${SCRIPT_TRAILER}\n`)).toEqual({ code: 0, out: "ran\n" });
    expect(run(`exit 3\n${SCRIPT_TRAILER}\n`).code).toBe(3);
    const cut = run(`echo ran\n${SCRIPT_TRAILER.slice(0, 5)}`);
    expect(cut.code).toBe(125);
    expect(cut.out).toMatch(/incomplete/);
  });
});
