/**
 * `file`: a file's content, mode and ownership, or its absence. Writes are atomic (temp file in the same
 * directory, mode/owner set on the temp, optional `validate`, then `mv -f`), so a reader never sees a
 * half-written or wrongly-permissioned file, and a config that fails its validator never lands.
 */
import { z } from "zod";
import { planned, type Change, type ResourceKind } from "../engine/resource.js";
import { sh, shJoin, type Sh } from "../core/sh.js";
import { contentDiff, redactedDiff } from "./common/diffText.js";
import {
  attributeDrift,
  attributesLabel,
  parsePathState,
  pathProbeScript,
  type PathState,
  sha256,
} from "./common/fileState.js";
import { atomicWriteSh, chownSh, dirOf } from "../core/atomic-write.js";
import { absPath, bool, mode, presentAbsent, userName } from "./common/schema.js";

/** Fields file and template share (template swaps `content` for `src`). */
export const fileBaseShape = {
  path: absPath.describe("Absolute path of the file on the host."),
  mode: mode
    .optional()
    .describe(
      'Octal mode as a string, e.g. "0640"; left as it is when not given (a new file gets 0644, 0600 when sensitive).',
    ),
  owner: userName("owner").optional().describe("Owner (user name or uid); left as it is when not given."),
  group: userName("group").optional().describe("Group (name or gid); left as it is when not given."),
  state: presentAbsent
    .default("present")
    .describe("present: the file exists with this content and attributes; absent: it is removed."),
  validate: z
    .string({ error: "validate must be a command string" })
    .refine((s) => s.includes("%s"), {
      error: "validate must contain %s (replaced by the temp file's path), e.g. `visudo -cf %s`",
    })
    .refine((s) => !/[\n\r\0]/.test(s), { error: "validate must be a single line" })
    .optional()
    .describe(
      "A command run on the new content before it replaces the file, %s standing for a temp copy (e.g. visudo -cf %s); the file is not replaced when it fails.",
    ),
  backup: bool("backup")
    .default(false)
    .describe("Keep the previous content as PATH.lockclaw-bak.TIMESTAMP before replacing it."),
  sensitive: bool("sensitive")
    .default(false)
    .describe("The content is secret: diffs and logs show it redacted."),
};

export const fileSpec = z
  .strictObject({
    ...fileBaseShape,
    content: z
      .string({ error: "content must be a string" })
      .optional()
      .describe("The whole content of the file; not given: only the attributes are managed."),
  })
  .meta({
    description:
      "A file with exact content, mode and ownership, replaced atomically (written beside it, then renamed).",
    examples: [
      { path: "/etc/motd", content: "Authorised use only.\n", mode: "0644", owner: "root", group: "root" },
    ],
  });
export type FileSpec = z.output<typeof fileSpec>;
export type FileFacts = PathState;

/** What apply has to do, derived once from spec + facts with the changes it shows. */
interface FileSteps {
  remove: boolean;
  /** Content to write atomically (includes mode/owner), or undefined to leave the content alone. */
  write?: string;
  chmod: boolean;
  chown: boolean;
  changes: Change[];
}

export type FilePlan = Omit<FileSteps, "changes">;

function planFile(spec: FileSpec, facts: FileFacts): FileSteps {
  const p: FileSteps = { remove: false, chmod: false, chown: false, changes: [] };
  if (facts.type === "directory" || facts.type === "other") {
    throw new Error(
      `${spec.path} exists and is a ${facts.type === "directory" ? "directory" : "special file"}, not a regular file; ` +
        `remove it or choose another path`,
    );
  }
  if (spec.state === "absent") {
    if (facts.type !== "absent") {
      p.remove = true;
      p.changes.push({ summary: `remove ${spec.path}` });
    }
    return p;
  }
  const diffOf = (before: string | undefined | null, after: string) =>
    spec.sensitive ? redactedDiff(spec.path) : contentDiff(spec.path, before, after);

  if (facts.type === "link" && spec.content === undefined) {
    // without content the only way to "fix" a symlink would be an empty file: never silently do that
    throw new Error(
      `${spec.path} is a symlink; give content to replace it with a regular file, or manage its target`,
    );
  }
  if (facts.type !== "file") {
    // absent or a symlink: a new regular file, content "" when the spec gives none (a `touch`)
    const content = spec.content ?? "";
    p.write = content;
    const what =
      facts.type === "link" ? `replace symlink ${spec.path} with a regular file` : `create ${spec.path}`;
    const attrs = attributesLabel(spec);
    p.changes.push({
      summary: `${what} (${Buffer.byteLength(content)} bytes${attrs ? `, ${attrs}` : ""})`,
      diff: diffOf(undefined, content),
    });
    return p;
  }
  if (spec.content !== undefined && sha256(spec.content) !== facts.sha256) {
    p.write = spec.content;
    const before = facts.content === undefined ? null : facts.content;
    p.changes.push({
      summary: `update content of ${spec.path}${spec.sensitive ? " (sensitive)" : ""}`,
      diff: diffOf(before, spec.content),
    });
  }
  const drift = attributeDrift(spec, facts);
  p.chmod = drift.chmod;
  p.chown = drift.chown;
  p.changes.push(...drift.changes);
  return p;
}

export const fileKind: ResourceKind<FileSpec, FileFacts, FilePlan> = {
  name: "file",
  spec: fileSpec,
  shFields: ["validate"],
  verifiable: true,
  describe: (spec) => `file ${spec.path}`,

  probe(spec) {
    // a sensitive file's current content must not travel back in probe output (it may be logged at -v)
    const wantContent = spec.state === "present" && !spec.sensitive;
    return {
      script: pathProbeScript(spec.path, "", { checksum: true, content: wantContent }),
      parse: (stdout) => parsePathState(stdout),
    };
  },

  plan: (spec, facts) => planned(planFile(spec, facts)),

  apply(spec, p) {
    const target = sh`${spec.path}`;
    if (p.remove) return sh`rm -f -- ${target}`;
    const out: Sh[] = [];
    if (p.write !== undefined) {
      out.push(
        atomicWriteSh({
          target,
          dir: sh`${dirOf(spec.path)}`,
          source: { content: p.write },
          mode: spec.mode,
          defaultMode: spec.sensitive ? "0600" : "0644",
          owner: spec.owner,
          group: spec.group,
          validate: spec.validate,
          backup: spec.backup,
          label: `file ${spec.path}`,
        }),
      );
      return shJoin(out);
    }
    if (p.chown) out.push(chownSh(target, spec.owner, spec.group));
    // chmod after chown: chown clears setuid/setgid bits
    if (p.chmod || (p.chown && spec.mode !== undefined)) out.push(sh`chmod ${spec.mode ?? ""} ${target}`);
    return shJoin(out);
  },

  secrets: (spec) => (spec.sensitive && spec.content ? [spec.content] : []),
};
