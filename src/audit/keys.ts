/**
 * `lockclaw audit`, authorized keys: every key that can log in as root or as any user with a
 * login shell, each named by fingerprint and comment, and any key nobody declared fails the audit (an
 * added key is the first thing an intruder leaves behind to keep access).
 */
import { describeKey, parseKeyLine, type ParsedKey } from "../resources/authorized_key.js";
import type { AuditCheck } from "./check.js";
import type { Marks } from "../core/marks.js";
import { sh, shJoin, type Sh } from "../core/sh.js";

/**
 * sh (root, read-only): for root and every account whose shell is a login shell, each authorized keys
 * file sshd reads (its AuthorizedKeysFile, %h/%u expanded, plus OpenSSH's two defaults), base64.
 * `$lc_sshd` is set by the host audit script.
 */
export function authorizedKeysScript(marks: Marks): Sh {
  const m = marks.sh;
  return shJoin([
    sh`lc_akf=$("$lc_sshd" -T 2>/dev/null | sed -n 's/^authorizedkeysfile //p')`,
    sh`getent passwd | while IFS=: read -r lc_u _ _ _ _ lc_h lc_s; do`,
    sh`  case "$lc_s" in '' | */nologin | */false | */sync | */shutdown | */halt) [ "$lc_u" = root ] || continue ;; esac`,
    sh`  lc_done=' '`,
    sh`  set -f`,
    sh`  for lc_p in $lc_akf .ssh/authorized_keys .ssh/authorized_keys2; do`,
    sh`    lc_p=$(printf '%s\\n' "$lc_p" | awk -v h="$lc_h" -v u="$lc_u" '{ gsub(/%%/, "\\001"); gsub(/%h/, h); gsub(/%u/, u); gsub(/\\001/, "%"); print }')`,
    sh`    case "$lc_p" in /*) ;; *) lc_p="$lc_h/$lc_p" ;; esac`,
    sh`    case "$lc_done" in *" $lc_p "*) continue ;; esac`,
    sh`    lc_done="$lc_done$lc_p "`,
    sh`    [ -f "$lc_p" ] || continue`,
    sh`    echo "${m} keys $lc_u $lc_p"; base64 -w0 < "$lc_p"; echo`,
    sh`  done`,
    sh`  set +f`,
    sh`done`,
  ]);
}

const same = (a: ParsedKey, b: ParsedKey) => a.type === b.type && a.blob === b.blob;

/**
 * One check per user that has authorized keys: passes when every key is declared. `declared` undefined:
 * the keys are listed but not judged (skipped).
 */
export function authorizedKeyChecks(
  sections: Array<{ arg: string; body: string }>,
  declared: string[] | undefined,
): AuditCheck[] {
  const want = (declared ?? []).map((k) => parseKeyLine(k)).filter((k): k is ParsedKey => !!k);
  const byUser = new Map<string, string[]>();
  const bad = new Map<string, number>();
  for (const s of sections) {
    const sp = s.arg.indexOf(" ");
    const user = s.arg.slice(0, sp);
    const path = s.arg.slice(sp + 1);
    const text = Buffer.from(s.body.trim(), "base64").toString("utf8");
    const items = byUser.get(user) ?? [];
    for (const line of text.split("\n")) {
      const k = parseKeyLine(line);
      if (!k) continue;
      const ok = want.some((w) => same(w, k));
      if (!ok) bad.set(user, (bad.get(user) ?? 0) + 1);
      items.push(`${describeKey(k)} in ${path}${declared === undefined ? "" : ok ? "" : " NOT DECLARED"}`);
    }
    byUser.set(user, items);
  }
  return [...byUser].map(([user, items]) => ({
    id: `keys.${user}`,
    title: `${user}'s authorized keys are all declared`,
    pass: !bad.has(user),
    evidence: items.length ? `${items.length} key(s): ${items.join("; ")}` : "no keys",
    ...(declared === undefined ? { skipped: true } : {}),
  }));
}
