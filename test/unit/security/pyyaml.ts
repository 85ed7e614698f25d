/** PyYAML (YAML 1.1, LiteLLM's own reader) through python3, for the tests that read what LiteLLM reads. */
import { spawnSync } from "node:child_process";

export const hasPyYaml = spawnSync("python3", ["-c", "import yaml"]).status === 0;

/** PyYAML → JSON. */
export function pyYaml(text: string): unknown {
  const r = spawnSync(
    "python3",
    ["-c", "import json,sys,yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))"],
    { input: text, encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`PyYAML: ${r.stderr}`);
  return JSON.parse(r.stdout);
}
