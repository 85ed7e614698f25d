/** A minimal resource kind for pure engine tests (loader, prepare): the real kinds have their own tests. */
import { z } from "zod";
import type { AnyResourceKind } from "../../../src/engine/resource.js";
import { raw } from "../../../src/core/sh.js";

export const noteKind: AnyResourceKind = {
  name: "note",
  spec: z.strictObject({
    path: z.string().startsWith("/"),
    text: z.string(),
    mode: z.coerce.number().optional(),
  }),
  describe: (s: { path: string }) => `note ${s.path}`,
  probe: () => ({ script: raw("true"), parse: () => ({}) }),
  plan: () => ({ changes: [], plan: undefined }),
  apply: () => raw("true"),
};

export const kinds = {
  note: noteKind,
  template: {
    ...noteKind,
    name: "template",
    spec: z.strictObject({ src: z.string(), content: z.string(), dest: z.string() }),
  },
};
