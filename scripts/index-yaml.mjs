// The built-in playbooks parsed once at build time (see src/engine/yaml-index.ts): dist/src/yaml-index/
// holds, per playbook text (named by its sha256), the value and the place of each node. Written whole
// into a fresh directory, then swapped in, like the bundle.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { YamlSource } = await import(join(root, "dist/src/engine/yaml-source.js"));
const { indexDir, indexDocument, textHash } = await import(join(root, "dist/src/engine/yaml-index.js"));

const out = indexDir(root);
const tmp = `${out}.tmp-${process.pid}`;
rmSync(tmp, { recursive: true, force: true });
mkdirSync(tmp, { recursive: true });
const dir = join(root, "playbooks");
for (const name of readdirSync(dir)
  .filter((f) => f.endsWith(".yml"))
  .sort()) {
  const text = readFileSync(join(dir, name), "utf8");
  const { doc, lines, value } = YamlSource.parseDocument(text, join(dir, name));
  const indexed = indexDocument(doc, lines, value);
  if (!indexed) {
    process.stderr.write(
      `index-yaml: playbooks/${name} is not indexed (a key that is not a string, or a value JSON would change): parsed at run time`,
    );
    continue;
  }
  writeFileSync(join(tmp, `${textHash(text)}.json`), JSON.stringify(indexed));
}
const old = `${out}.old-${process.pid}`;
if (existsSync(out)) renameSync(out, old);
renameSync(tmp, out);
rmSync(old, { recursive: true, force: true });
