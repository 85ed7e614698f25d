/** `lockclaw image build|test [base|ollama|openclaw]`: the LockClaw container images, through docker. */
import { Option, type Command } from "commander";
import { ExitCode } from "../core/errors.js";
import { buildImages } from "../images/build.js";
import { IMAGE_NAMES, parseImageName, type ImageName } from "../images/catalog.js";
import { testImage } from "../images/smoke.js";

const say = (line: string) => process.stderr.write(`${line}\n`);

const dockerHostOption = () =>
  new Option("--docker-host <url>", "docker daemon (default: docker's own, e.g. $DOCKER_HOST)");

function names(values: string[]): ImageName[] {
  return values.map(parseImageName);
}

export function registerImageCommands(program: Command): void {
  const image = program
    .command("image")
    .description(`the LockClaw container images (${IMAGE_NAMES.join(", ")}): build them and smoke-test them`);

  image
    .command("build")
    .description(
      "build images (their dependency lockclaw:base first); tags lockclaw:<name>, openclaw also :latest",
    )
    .argument("[images...]", `any of ${IMAGE_NAMES.join(", ")} (default: all)`)
    .option(
      "--offline",
      "build with --network=none: base FROM a debootstrap rootfs (root + debootstrap), openclaw from a context prepared with the host's npm",
    )
    .option(
      "--prepared",
      "openclaw: install Node.js and openclaw with the host's npm, then build hermetically",
    )
    .option("--reuse", "do not rebuild dependencies the daemon already has")
    .option("-v, --verbose", "print docker's full output")
    .addOption(dockerHostOption())
    .action(
      async (
        values: string[],
        o: { offline?: boolean; prepared?: boolean; reuse?: boolean; verbose?: boolean; dockerHost?: string },
      ) => {
        const built = await buildImages(names(values), {
          offline: o.offline,
          prepared: o.prepared,
          reuseDependencies: o.reuse,
          host: o.dockerHost,
          progress: say,
          onLine: o.verbose ? (line) => say(`  | ${line}`) : undefined,
        });
        for (const b of built) process.stdout.write(`${b.tags.join(" ")} ${b.id}\n`);
        process.exitCode = ExitCode.Ok;
      },
    );

  image
    .command("test")
    .description(
      "run each image read-only, with no capability and no network, and run its smoke test inside (exit 1 on any FAIL)",
    )
    .argument("[images...]", `any of ${IMAGE_NAMES.join(", ")} (default: base and openclaw)`)
    .addOption(dockerHostOption())
    .action(async (values: string[], o: { dockerHost?: string }) => {
      const list = values.length > 0 ? names(values) : (["base", "openclaw"] as ImageName[]);
      let failed = 0;
      for (const n of list) {
        const r = await testImage(n, { host: o.dockerHost, progress: say });
        const ok = r.exitCode === 0 && r.failed === 0 && r.checks.length > 0;
        process.stdout.write(
          `lockclaw:${n} ${ok ? "PASS" : "FAIL"} (${r.passed} passed, ${r.failed} failed)\n`,
        );
        if (!ok) failed++;
      }
      process.exitCode = failed > 0 ? ExitCode.Failed : ExitCode.Ok;
    });
}
