/** Helpers for building POSIX sh fragments. Everything that runs on a host is plain sh + the host's tools. */

/** Quote one word for POSIX sh. */
export function shq(value: string | number): string {
  const s = String(value);
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Quote and join words. */
export function shArgs(words: Array<string | number>): string {
  return words.map(shq).join(" ");
}

/**
 * A here-document feeding `data` (base64, so any bytes survive) into `command`'s stdin.
 * The data travels inside the script on the exec's stdin, never in argv.
 */
export function base64Heredoc(command: string, data: string | Buffer): string {
  const b64 = Buffer.from(data)
    .toString("base64")
    .replace(/(.{76})/g, "$1\n");
  return `base64 -d <<'LOCKCLAW_B64_EOF' | ${command}\n${b64}\nLOCKCLAW_B64_EOF`;
}
