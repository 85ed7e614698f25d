/** `lockclaw audit <target...>`: its options; the work (audit-run.ts) is loaded when it runs. */
import type { Command } from "commander";
import type { AuditOptions } from "./audit-run.js";
import type { CommandResult } from "./result.js";
import { addConnectionOptions } from "./options.js";

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerAuditCommand(program: Command, done: (r: Promise<CommandResult>) => void): void {
  const cmd = program
    .command("audit")
    .description(
      "read the live host and check sshd, listeners, UFW and fail2ban against the host playbook's values",
    )
    .argument("[target...]", "as for provision (none with -i: all the inventory's hosts)")
    .option(
      "-e, --var <key=value>",
      "the variables the host was provisioned with (e.g. ssh_port=2200, @vars.yml, a JSON mapping)",
      collect,
      [],
    )
    .option("--vars-file <file>", "YAML file of those variables", collect, [])
    .option(
      "--playbook <file>",
      "read the expected values from this host playbook instead of the built-in one",
    )
    .option(
      "--lynis",
      "also run Lynis on the host (installing the distribution's package when missing): its hardening " +
        "index, warnings and suggestions, in --json too; nothing is sent off the host",
    );
  addConnectionOptions(cmd).action((targets: string[], o: AuditOptions) =>
    done(import("./audit-run.js").then((m) => m.auditAction(targets, o))),
  );
}
