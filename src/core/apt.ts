/**
 * The one apt-get command line lockclaw runs on a host (the package module, `audit --lynis`).
 *
 * NEEDRESTART_SUSPEND and APT_LISTCHANGES_FRONTEND=none: once the host play has installed needrestart
 * and apt-listchanges, each of their dpkg hooks would run on every later apt-get of the same run
 * (needrestart scans every process, apt-listchanges reads the changelogs of each .deb) and cost
 * seconds each time, for output nobody reads; unattended-upgrades' own runs still get both.
 */
import { raw, type Sh } from "./sh.js";

export const APT_GET: Sh = raw(
  [
    "DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 APT_LISTCHANGES_FRONTEND=none apt-get -q -y",
    "-o DPkg::Lock::Timeout=300",
    "-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold",
  ].join(" "),
);
