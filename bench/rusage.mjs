// Preloaded into a lockclaw process by the fleet bench (node --import): at exit, the process's own CPU
// time (user + system) and peak RSS go to the file named by LOCKCLAW_BENCH_RUSAGE.
import { writeFileSync } from "node:fs";
import process from "node:process";

const file = process.env.LOCKCLAW_BENCH_RUSAGE;
if (file) {
  process.on("exit", () => {
    const u = process.resourceUsage();
    writeFileSync(
      file,
      JSON.stringify({ userUs: u.userCPUTime, systemUs: u.systemCPUTime, maxRssKb: u.maxRSS }),
    );
  });
}
