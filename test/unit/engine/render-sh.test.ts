/** The sh writer: each `{{x}}` one word wherever it stands, refused where no quoting is right. */
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { renderShSource, ShRenderError } from "../../../src/engine/render-sh.js";
import { raw, sh, Sh, shq, shArgs, base64Heredoc } from "../../../src/core/sh.js";

const NASTY = `a b'c"d\\e$(id)\`id\`\${x};|&<>*?[x]~#\u2028\n!%`;
const render = (src: string, vars: Record<string, unknown>) =>
  renderShSource(src, (name) => {
    if (!(name in vars)) throw new Error(`unknown ${name}`);
    return vars[name];
  });
/** What sh makes of the text: argv of printf, one line per word. */
const words = (code: string) => {
  const r = spawnSync("sh", ["-c", code], { encoding: "utf8" });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
};

describe("renderShSource", () => {
  it('writes a value as exactly one word unquoted, inside $(…), and inside "…"', () => {
    const v = { x: NASTY };
    expect(words(render(`printf '<%s>' {{x}}`, v))).toBe(`<${NASTY}>`);
    expect(words(render(`y=$(printf '<%s>' {{x}}); printf %s "$y"`, v))).toBe(`<${NASTY}>`);
    expect(words(render(`printf '<%s>' "pre {{x}} post"`, v))).toBe(`<pre ${NASTY} post>`);
    expect(words(render(`printf '<%s>' --opt={{x}}`, v))).toBe(`<--opt=${NASTY}>`);
  });

  it("keeps a safe value as it was written (no drift for today's values)", () => {
    expect(render(`[ "$(id -un)" = "{{u}}" ] # {{u}}`, { u: "deploy" })).toBe(
      `[ "$(id -un)" = "deploy" ] # deploy`,
    );
    expect(render(`id -u -- {{u}}`, { u: "deploy" })).toBe("id -u -- deploy");
  });

  it("a list becomes several words where a word stands, and is refused inside quotes", () => {
    expect(words(render(`printf '<%s>' {{l}}`, { l: ["a b", "c'd", 3] }))).toBe("<a b><c'd><3>");
    expect(() => render(`echo "{{l}}"`, { l: ["a"] })).toThrow(/is a list/);
    expect(() => render(`echo {{m}}`, { m: { a: 1 } })).toThrow(/is a mapping/);
    expect(() => render(`echo {{m}}`, { m: null })).toThrow(/empty/);
  });

  it.each([
    [`echo '{{x}}'`, /inside '…'/],
    [`cat <<EOF\n{{x}}\nEOF`, /here-document/],
    [`cat <<'EOF'\n{{x}}\nEOF\n`, /here-document/],
    ["echo `echo {{x}}`", /inside `…`/],
    ["echo ${y:-{{x}} }", /inside \$\{…\}/],
    ["echo $(( {{x}} + 1 ))", /\$\(\(…\)\)/],
    ["echo \\{{x}}", /backslash/],
    ["echo ${{x}}", /after a \$/],
    ["{{#if x}}a{{/if}}", /only \{\{name\}\}/],
    ["{{{x}}}", /only \{\{name\}\}/],
    ["{{join x ' '}}", /only \{\{name\}\}/],
  ])("refuses %j", (src, why) => {
    expect(() => render(src, { x: "v" })).toThrow(why);
    try {
      render(src, { x: "v" });
    } catch (err) {
      expect(err).toBeInstanceOf(ShRenderError);
    }
  });

  it("a here-document's body is skipped: a substitution after it is a word again", () => {
    const out = render(`cat <<'EOF' >/dev/null\nliteral '"\nEOF\nprintf '<%s>' {{x}}`, { x: NASTY });
    expect(words(out)).toBe(`<${NASTY}>`);
  });

  it("a comment takes only safe values; where the reader is unsure, too", () => {
    expect(() => render(`# {{x}}\ntrue`, { x: "a b" })).toThrow(/in a sh comment/);
    const unsure = `y=$(case a in a) echo "{{x}}" ;; esac)`;
    expect(render(unsure, { x: "ok" })).toContain('"ok"');
    expect(() => render(unsure, { x: "a$(id)" })).toThrow(/cannot be written safely/);
  });

  it("names the line of the refusal", () => {
    try {
      render(`true\ntrue\necho '{{x}}'`, { x: "v" });
      expect.unreachable();
    } catch (err) {
      expect((err as ShRenderError).line).toBe(3);
    }
  });
});

describe("the sh layer (src/core/sh.ts)", () => {
  it("sh`` quotes every value as one word; an Sh goes in as is", () => {
    const path = "/tmp/a b'c";
    const cmd = sh`printf '<%s>' ${path} ${["x y", 2]} ${raw("$((1+1))")} ${shq("$(id)")}`;
    expect(cmd).toBeInstanceOf(Sh);
    expect(words(String(cmd))).toBe(`<${path}><x y><2><2><$(id)>`);
    expect(String(shArgs(["a", "b c"]))).toBe("a 'b c'");
    expect(() => shq("a\u0000b")).toThrow(/NUL/);
    expect(words(`${base64Heredoc(raw("cat"), NASTY)}`)).toBe(NASTY);
  });

  it("a plain string is not an Sh (for the type checker and at run time)", () => {
    // @ts-expect-error a string is not finished sh
    const notSh: Sh = "rm -rf /";
    expect(notSh instanceof Sh).toBe(false);
    // @ts-expect-error only this module makes an Sh
    expect(() => new Sh(Symbol("x"), "id")).toThrow(/made with sh/);
    // @ts-expect-error base64Heredoc wants finished sh for its command
    base64Heredoc("cat", "x");
  });
});
