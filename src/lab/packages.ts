/**
 * The lab's package store holds every .deb the playbooks install. The list is read from the playbooks
 * themselves so it is never kept by hand in a second place.
 */
import { readFileSync } from "node:fs";
import { parseDocument } from "yaml";
import { ConfigError } from "../core/errors.js";

/**
 * Packages the lab keeps in its store on top of what the playbooks install. ssh-audit: the e2e suite
 * runs the store's (newer) ssh-audit as the outside judge of sshd; the CI host's own release does not
 * know current OpenSSH algorithms and warns about them.
 */
export const LAB_EXTRA_PACKAGES: readonly string[] = ["ssh-audit", "lynis"];

/** Debian package names: lowercase, digits, + - . ; an optional :arch or =version is kept out. */
const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]+$/;

/** Collects the names of every `package:` task in the given playbook files, sorted and deduplicated. */
export function packagesFromPlaybooks(files: string[]): string[] {
  const names = new Set<string>();
  for (const file of files) {
    for (const name of packagesFromPlaybookText(readFileSync(file, "utf8"), file)) names.add(name);
  }
  return [...names].sort();
}

/** Same as packagesFromPlaybooks, for one document's text (`file` is only used in error messages). */
export function packagesFromPlaybookText(text: string, file: string): string[] {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    throw new ConfigError(
      `invalid YAML: ${first.message.split("\n")[0]}`,
      { file, line: first.linePos?.[0].line, column: first.linePos?.[0].col },
      "fix the YAML syntax",
    );
  }
  const root: unknown = doc.toJS();
  const found: string[] = [];
  // A playbook is either one play (a mapping with tasks:) or a list of plays.
  const plays = Array.isArray(root) ? root : root === null || root === undefined ? [] : [root];
  plays.forEach((play, playIndex) => {
    if (!isRecord(play)) {
      throw new ConfigError(
        `play ${playIndex} is not a mapping`,
        { file, path: `[${playIndex}]` },
        "each play must be a mapping with tasks:",
      );
    }
    for (const section of ["tasks", "handlers"] as const) {
      const tasks = play[section];
      if (tasks === undefined || tasks === null) continue;
      if (!Array.isArray(tasks)) {
        throw new ConfigError(
          `${section} is not a list`,
          { file, path: `[${playIndex}].${section}` },
          `write ${section}: as a list of tasks`,
        );
      }
      tasks.forEach((task, taskIndex) => {
        const path = `[${playIndex}].${section}[${taskIndex}].package`;
        found.push(...packagesOfTask(task, file, path));
      });
    }
  });
  return found;
}

function packagesOfTask(task: unknown, file: string, path: string): string[] {
  if (!isRecord(task) || !("package" in task)) return [];
  const spec = task.package;
  if (!isRecord(spec)) {
    throw new ConfigError(
      "package: must be a mapping",
      { file, path },
      "write package: { name: [pkg, ...] }",
    );
  }
  // Packages a playbook removes must not be in the store (that would hide a missing removal).
  if (spec.state === "absent" || spec.state === "purged") return [];
  const out: string[] = [];
  for (const key of ["name", "names"] as const) {
    const value = spec[key];
    if (value === undefined) continue;
    const list = Array.isArray(value) ? value : [value];
    for (const item of list) {
      // A templated name cannot be resolved here; the store would silently lack it, so say so.
      if (typeof item !== "string" || !PACKAGE_NAME.test(item.split(/[=:]/)[0] ?? "")) {
        throw new ConfigError(
          `package ${JSON.stringify(item)} is not a plain Debian package name`,
          { file, path: `${path}.${key}` },
          "list package names literally so the lab's package store can include them",
        );
      }
      out.push(item.split(/[=:]/)[0]!);
    }
  }
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
