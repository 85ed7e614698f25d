/**
 * `template`: a `file` whose content comes from a handlebars template under templates/.
 *
 * Contract with the engine: the resource never renders. Before probe/plan/apply the engine renders
 * `src` with the play's variables (strict) and puts the result in `content`; this kind then behaves
 * exactly like `file` (same probe, plan, atomic apply, validate, backup, sensitive handling). A spec that
 * reaches plan/apply without `content` is an engine bug and fails loudly rather than writing "".
 * A playbook must not set `content` itself (the engine overwrites it); the schema allows it only so the
 * rendered spec can be validated again.
 */
import { z } from "zod";
import type { ResourceKind } from "../engine/resource.js";
import { fileBaseShape, fileKind, type FileFacts, type FilePlan, type FileSpec } from "./file.js";
import { singleLine } from "./common/schema.js";

export const templateSpec = z
  .strictObject({
    ...fileBaseShape,
    /** Template name relative to templates/, e.g. `sshd/00-lockclaw.conf.hbs`. */
    src: singleLine("src")
      .refine((s) => !s.startsWith("/") && !s.split("/").includes(".."), {
        error: "src must be a template name relative to templates/ (no leading / and no ..)",
      })
      .describe(
        "Handlebars template name, looked up in templates/ next to the playbook (then lockclaw's own); rendered with the play's variables, each value escaped for the file's format.",
      ),
    /** Filled by the engine with the rendered template. */
    content: z.string().optional().describe("Internal: the rendered template, filled by lockclaw."),
  })
  .meta({
    description:
      "A file rendered from a template in templates/ with the play's variables, then managed like the file module (same options, src instead of content).",
    examples: [
      {
        src: "sudoers-deploy.hbs",
        path: "/etc/sudoers.d/{{deploy_user}}",
        mode: "0440",
        owner: "root",
        group: "root",
        validate: "visudo -cf %s",
      },
    ],
  });
export type TemplateSpec = z.output<typeof templateSpec>;

/** The file spec a rendered template stands for. */
export function renderedFileSpec(spec: TemplateSpec): FileSpec {
  const { src, content, ...rest } = spec;
  if (spec.state === "present" && content === undefined) {
    throw new Error(`template ${src} for ${spec.path} was not rendered before use (engine bug)`);
  }
  return { ...rest, content };
}

export const templateKind: ResourceKind<TemplateSpec, FileFacts, FilePlan> = {
  name: "template",
  spec: templateSpec,
  shFields: ["validate"],
  verifiable: true,
  describe: (spec) => `template ${spec.path} (from ${spec.src})`,
  // probe does not need the content yet: it reads the same facts whatever the desired content is
  probe: (spec) => fileKind.probe(spec),
  plan: (spec, facts, ctx) => fileKind.plan(renderedFileSpec(spec), facts, ctx),
  apply: (spec, plan) => fileKind.apply(renderedFileSpec(spec), plan),
  secrets: (spec) => (spec.sensitive && spec.content ? [spec.content] : []),
};
