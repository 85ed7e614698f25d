/** Replaces every known secret value with a mask in any text that leaves the engine (events, errors, logs). */
export const MASK = "********";

/** Shorter than this, a value (or one line of a multi-line secret) would mask ordinary words. */
const MIN_SECRET = 4;

export class Redactor {
  private readonly secrets = new Set<string>();
  private sorted?: string[];

  add(value: unknown): void {
    if (typeof value === "string") this.addString(value);
    else if (Array.isArray(value)) value.forEach((v) => this.add(v));
    else if (value && typeof value === "object") Object.values(value).forEach((v) => this.add(v));
  }

  private addString(value: string): void {
    if (value.length < MIN_SECRET) return;
    const forms = [value];
    // a diff, an indented error excerpt or a log shows a multi-line secret one line at a time, each
    // line with its own prefix: mask every line on its own
    if (/[\r\n]/.test(value)) forms.push(...value.split(/\r?\n|\r/).map((l) => l.trim()));
    // a file rendered with a JSON helper holds the secret escaped (`\"`, `\\`, `\n`)
    const escaped = JSON.stringify(value).slice(1, -1);
    if (escaped !== value) forms.push(escaped);
    for (const f of forms) if (f.length >= MIN_SECRET) this.secrets.add(f);
    this.sorted = undefined;
  }

  get size(): number {
    return this.secrets.size;
  }

  text(input: string): string {
    // longest first, so a secret containing another (or one of its own lines) is masked whole
    this.sorted ??= [...this.secrets].sort((a, b) => b.length - a.length);
    let out = input;
    for (const s of this.sorted) if (out.includes(s)) out = out.split(s).join(MASK);
    return out;
  }

  /**
   * Deep copy of a JSON-like value with every string (keys too) redacted. Works on the values, never
   * on their serialisation: a secret holding `"` or `\` is escaped in JSON and would not match there.
   */
  value<T>(input: T): T {
    if (this.secrets.size === 0) return input;
    return this.walk(input) as T;
  }

  private walk(v: unknown): unknown {
    if (typeof v === "string") return this.text(v);
    if (Array.isArray(v)) return v.map((x) => this.walk(x));
    if (v && typeof v === "object") {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [this.text(k), this.walk(x)]));
    }
    return v;
  }
}
