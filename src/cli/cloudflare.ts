/** `lockclaw cloudflare-ranges update`: refresh the pinned Cloudflare ranges from Cloudflare's published lists. */
import type { Command } from "commander";
import { httpFetchText, updateCloudflareRanges } from "../cloudflare/ranges.js";
import { ExitCode } from "../core/errors.js";
import type { CommandResult } from "./result.js";

export function registerCloudflareCommands(
  program: Command,
  done: (r: Promise<CommandResult>) => void,
): void {
  const cf = program
    .command("cloudflare-ranges")
    .description("the pinned snapshot of Cloudflare's IP ranges that 443 is open to");
  cf.command("update")
    .description(
      "fetch Cloudflare's published lists, validate them, and rewrite the snapshot if they changed",
    )
    .option("--file <file>", "snapshot to update (default: data/cloudflare-ranges.json)")
    .option("--dry-run", "show what would change, write nothing")
    .option(
      "--allow-shrink",
      "accept a list that lost more than half its ranges (refused by default: likely a broken fetch)",
    )
    .action((o: { file?: string; dryRun?: boolean; allowShrink?: boolean }) =>
      done(
        (async () => {
          const r = await updateCloudflareRanges({
            fetch: httpFetchText,
            file: o.file,
            dryRun: o.dryRun,
            allowShrink: o.allowShrink,
          });
          for (const a of r.added) process.stdout.write(`+ ${a}\n`);
          for (const d of r.removed) process.stdout.write(`- ${d}\n`);
          const verdict = r.written
            ? `updated ${r.file}`
            : r.added.length || r.removed.length
              ? "dry run: nothing written"
              : "already up to date";
          process.stdout.write(`${verdict}; re-run 'lockclaw provision host' to apply it to your hosts\n`);
          return {
            exitCode:
              r.written || (o.dryRun && (r.added.length || r.removed.length))
                ? ExitCode.Changed
                : ExitCode.Ok,
          };
        })(),
      ),
    );
}
