/** `lockclaw doc [MODULE]`: the modules a playbook task may use, from their schemas (src/resources/doc.ts). */
import type { Command } from "commander";
import { ConfigError, ExitCode } from "../core/errors.js";
import type { CommandResult } from "./result.js";

// the modules and their schemas (zod, yaml, diff) load when doc runs: declaring the command loads commander only

export function registerDocCommand(program: Command, done: (r: Promise<CommandResult>) => void): void {
  program
    .command("doc")
    .description("list the modules a playbook task may use, or print one module's options and an example")
    .argument("[module]", "a module's name (e.g. ufw)")
    .option("--markdown", "every module as markdown (docs/modules.md is this output)")
    .action((module: string | undefined, o: { markdown?: boolean }) =>
      done(
        (async () => {
          const [{ formatModuleDoc, formatModuleList, moduleDoc, modulesMarkdown }, { resourceKinds }] =
            await Promise.all([import("../resources/doc.js"), import("../resources/index.js")]);
          const docs = Object.values(resourceKinds).map(moduleDoc);
          if (o.markdown) process.stdout.write(modulesMarkdown(docs));
          else if (module === undefined) process.stdout.write(formatModuleList(docs));
          else {
            const d = docs.find((x) => x.name === module);
            if (!d) {
              throw new ConfigError(
                `unknown module '${module}'`,
                undefined,
                `the modules are: ${docs.map((x) => x.name).join(", ")}`,
              );
            }
            process.stdout.write(formatModuleDoc(d));
          }
          return { exitCode: ExitCode.Ok };
        })(),
      ),
    );
}
