/** The host-hardening benchmark on a real lab machine (systemd-nspawn Debian): filled in with the host playbook. */
export async function benchLab(): Promise<void> {
  throw new Error("the host playbook benchmark is not wired yet");
}
