/** Replaces every known secret value with a mask in any text that leaves the engine (events, errors, logs). */
export const MASK = "********";

export class Redactor {
  private readonly secrets = new Set<string>();

  add(value: unknown): void {
    if (typeof value === "string") {
      // very short values would mask ordinary words; secrets that short are not secrets
      if (value.length >= 4) this.secrets.add(value);
    } else if (Array.isArray(value)) value.forEach((v) => this.add(v));
    else if (value && typeof value === "object") Object.values(value).forEach((v) => this.add(v));
  }

  get size(): number {
    return this.secrets.size;
  }

  text(input: string): string {
    let out = input;
    // longest first, so a secret containing another is masked whole
    for (const s of [...this.secrets].sort((a, b) => b.length - a.length)) {
      if (out.includes(s)) out = out.split(s).join(MASK);
    }
    return out;
  }

  /** Deep copy of a JSON-like value with every string redacted. */
  value<T>(input: T): T {
    if (this.secrets.size === 0) return input;
    return JSON.parse(this.text(JSON.stringify(input))) as T;
  }
}
