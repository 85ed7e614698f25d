import { JsonRenderer } from "./json.js";
import { PlainRenderer } from "./plain.js";
import type { Renderer, RendererOptions } from "./renderer.js";
import { TtyRenderer } from "./tty.js";

export type { Renderer, RendererOptions } from "./renderer.js";
export { JsonRenderer, PlainRenderer, TtyRenderer };
export { formatRecap } from "./plain.js";

/** --json wins; a terminal gets the live view; anything else (pipes, CI) gets plain lines. */
export function createRenderer(opt: RendererOptions & { json: boolean; tty: boolean }): Renderer {
  if (opt.json) return new JsonRenderer(opt);
  return opt.tty ? new TtyRenderer(opt) : new PlainRenderer(opt);
}
