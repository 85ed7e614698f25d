/**
 * Rootless Docker (playbooks/docker.yml, SPEC §6) on a real hardened machine, and the security claim
 * it exists for (SPEC §4, last bullet): ports published by rootless Docker go through rootlesskit, a
 * user-space listener on the host, so UFW's INPUT rules apply to them. Rootful Docker's DNAT rules
 * would bypass UFW; this proves from outside that here they do not.
 *
 * The machine has no network, so the container image is built on it from its own files: python3, its
 * standard library and the shared libraries `ldd` names, imported with `docker import`.
 */
import { execFileSync } from "node:child_process";
import { request } from "node:http";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { shq } from "../../../src/engine/shell.js";
import { useMachines } from "../support/lab.js";
import { cliFor, events, probePort, show, target } from "../host/support.js";

const DOCKER_PLAYBOOK = join(import.meta.dirname, "..", "..", "..", "playbooks", "docker.yml");
// inside 173.245.48.0/20; not the address test/e2e/host uses, so both can run side by side
const CLOUDFLARE_SOURCE = "173.245.49.33";
const IMAGE = "local/lc-py:e2e";

/** sh (bash, run as deploy) building IMAGE from the machine's own python3: no network, no base image. */
const BUILD_IMAGE = String.raw`
set -eo pipefail
py=$(readlink -f /usr/bin/python3); ver=\${py##*/}
libs=$(ldd "$py" /usr/lib/$ver/lib-dynload/*.so 2>/dev/null |
  awk '$2=="=>" && $3 ~ /^\// {print $3} NF==2 && $1 ~ /^\// {print $1}' | sort -u)
tar -C / -chf - --exclude=__pycache__ --exclude="usr/lib/$ver/test" --exclude="usr/lib/$ver/idlelib" \
  --exclude="usr/lib/$ver/tkinter" --exclude="usr/lib/$ver/ensurepip" \
  "\${py#/}" "usr/lib/$ver" $(printf '%s\n' $libs | sed 's|^/||') | docker import - ${IMAGE} >/dev/null
echo "$py"
`.replaceAll("\\$", "$");

/** An HTTP GET from this host (optionally from a given source address): the status, or the error code. */
function httpStatus(host: string, port: number, localAddress?: string): Promise<string> {
  return new Promise((resolve) => {
    const req = request({ host, port, path: "/", localAddress, timeout: 4000 }, (res) => {
      res.resume();
      resolve(String(res.statusCode));
    });
    req.once("timeout", () => req.destroy(Object.assign(new Error("timeout"), { code: "ETIMEDOUT" })));
    req.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end();
  });
}

const recapSeconds = (stdout: string) => Number(/([\d.]+)s\s*$/m.exec(stdout.split("RECAP")[1] ?? "")?.[1]);

describe("rootless Docker for deploy (playbooks/docker.yml) on a hardened machine", () => {
  const machines = useMachines(1, { prefix: "rdk" });
  const cli = cliFor();
  const m = () => machines[0]!;
  /** A command as deploy in a LOGIN shell (so /etc/profile.d gives it DOCKER_HOST), on the hardened port. */
  const asDeploy = (script: string, timeoutMs?: number) =>
    m().ssh(`bash -lc ${shq(script)}`, { user: "deploy", port: 2222, timeoutMs });
  const ok = async (script: string) => {
    const r = await asDeploy(script);
    expect(r.code, `${script}\n${r.stdout}\n${r.stderr}`).toBe(0);
    return r.stdout.trim();
  };

  it("host.yml, then docker.yml alone: changes once, then nothing", async () => {
    const host = await cli(["provision", "host", "--no-stack", target(m())]);
    // a successful apply exits 0; what changed is in the recap
    expect(host.code, show(host)).toBe(0);
    expect(host.stdout).toMatch(/\bchanged=[1-9]/);

    const first = await cli(["provision", "stack", target(m()), "--playbook", DOCKER_PLAYBOOK, "-v"]);
    // a successful apply exits 0; what changed is in the recap
    expect(first.code, show(first)).toBe(0);
    expect(first.stdout).toMatch(/\bchanged=[1-9]/);
    expect(first.stdout).toMatch(/changed\s+Rootless Docker running for deploy/);
    expect(first.stdout).toMatch(/failed=0/);
    // the lab's net.* sysctls are writable (only other keys are read-only there): no read-only excuse
    expect(first.stdout).not.toMatch(/read-only/i);

    const second = await cli(["provision", "stack", target(m()), "--playbook", DOCKER_PLAYBOOK]);
    expect(second.code, show(second)).toBe(0);
    expect(second.stdout).toMatch(/changed=0/);
    console.log(
      `provision host ${recapSeconds(host.stdout)} s; docker.yml first run ${recapSeconds(first.stdout)} s, ` +
        `second run ${recapSeconds(second.stdout)} s`,
    );
  });

  it("deploy's daemon is rootless with no-new-privileges; the rootful daemon is off; the host is set up for it", async () => {
    // DOCKER_HOST comes from /etc/profile.d even when the session did not set it
    const env = await ok(
      'unset DOCKER_HOST; . /etc/profile; printf "%s\\n" "$(id -u)" "$DOCKER_HOST" "$XDG_RUNTIME_DIR"',
    );
    const [uid, dockerHost, runtimeDir] = env.split("\n");
    expect(dockerHost).toBe(`unix:///run/user/${uid}/docker.sock`);
    expect(runtimeDir).toBe(`/run/user/${uid}`);

    const security = JSON.parse(await ok("docker info --format '{{json .SecurityOptions}}'")) as string[];
    expect(security).toContain("name=rootless");
    expect(security).toContain("name=no-new-privileges");
    expect(await ok("docker info --format '{{.LoggingDriver}}'")).toBe("json-file");
    const daemonJson = JSON.parse(await ok("cat ~/.config/docker/daemon.json")) as Record<string, unknown>;
    expect(daemonJson).toMatchObject({
      "no-new-privileges": true,
      "log-driver": "json-file",
      "log-opts": { "max-size": "10m", "max-file": "3" },
    });

    // rootful dockerd and the system containerd: inactive and disabled (systemctl prints a line per unit)
    const active = await asDeploy("systemctl is-active docker.service docker.socket containerd.service");
    expect(active.stdout.trim().split("\n")).toEqual(["inactive", "inactive", "inactive"]);
    const enabled = await asDeploy("systemctl is-enabled docker.service docker.socket containerd.service");
    expect(enabled.stdout.trim().split("\n")).toEqual(["disabled", "disabled", "disabled"]);
    // the package's stale /var/run/docker.sock node may remain after the stop; nothing answers on it
    expect(await ok("pgrep -u root -x dockerd || echo none")).toBe("none");
    const rootful = await asDeploy("sudo -n docker -H unix:///var/run/docker.sock version");
    expect(rootful.code, rootful.stdout).not.toBe(0);
    expect(rootful.stderr).toMatch(
      /Cannot connect to the Docker daemon at unix:\/\/\/var\/run\/docker\.sock/,
    );

    expect(await ok("loginctl show-user deploy -p Linger")).toBe("Linger=yes");
    for (const file of ["/etc/subuid", "/etc/subgid"]) {
      const total = await ok(`awk -F: '$1=="deploy"{s+=$3} END{print s+0}' ${file}`);
      expect(Number(total), file).toBeGreaterThanOrEqual(65536);
    }
    expect(await ok("cat /etc/systemd/system/user@.service.d/delegate.conf")).toMatch(
      /^Delegate=cpu cpuset io memory pids$/m,
    );
    // in effect, not just written: the handler reloaded systemd and restarted deploy's user manager (the lab
    // cannot enforce the limits themselves: its kernel delegates no controllers to the machine)
    expect(await ok('systemctl show -p DelegateControllers "user@$(id -u).service"')).toBe(
      "DelegateControllers=cpu cpuset io memory pids",
    );
    // the live kernel value, not just the file: binding 443 without root depends on it
    expect(await ok("/usr/sbin/sysctl -n net.ipv4.ip_unprivileged_port_start")).toBe("443");
    expect(await ok("cat /etc/sysctl.d/60-lockclaw-docker.conf")).toMatch(
      /^net\.ipv4\.ip_unprivileged_port_start = 443$/m,
    );
  });

  it("published ports obey UFW: 443 only from Cloudflare, 8080 from nowhere; audit names the 8080 listener", async () => {
    const py = await ok(BUILD_IMAGE);
    const serve = (name: string, publish: string) =>
      ok(`docker run -d --name ${name} -p ${publish} ${IMAGE} ${py} -m http.server 8443 --directory /usr`);
    await serve("web443", "443:8443");
    await serve("web8080", "8080:8443");
    // the publishing process is rootlesskit, running as deploy: a plain host listener UFW filters
    const listeners = await ok("sudo -n ss -tlnpH '( sport = :443 or sport = :8080 )'");
    expect(listeners).toMatch(/0\.0\.0\.0:443\b.*rootlesskit/);
    expect(listeners).toMatch(/0\.0\.0\.0:8080\b.*rootlesskit/);
    expect(await ok("ps -o user= -C rootlesskit | sort -u")).toBe("deploy");
    // the containers really answer (on the machine itself, where UFW does not apply to loopback)
    await expect
      .poll(
        () =>
          asDeploy(
            "python3 -c \"import urllib.request as u; print(u.urlopen('http://127.0.0.1:8080/').status)\"",
          ).then((r) => r.stdout.trim()),
        {
          timeout: 15_000,
          interval: 500,
        },
      )
      .toBe("200");

    const host = m().target.host;
    // from this host's ordinary address (not Cloudflare): both published ports are dropped by UFW
    expect(await probePort(host, 443)).toBe("filtered");
    expect(await probePort(host, 8080)).toBe("filtered");

    const veth = m().lab!.veth;
    execFileSync("ip", ["addr", "add", `${CLOUDFLARE_SOURCE}/32`, "dev", veth]);
    try {
      await ok(`sudo -n ip route replace ${CLOUDFLARE_SOURCE}/32 dev host0`);
      // from a Cloudflare address: 443 answers HTTP from inside the container; 8080 is still dropped
      expect(await httpStatus(host, 443, CLOUDFLARE_SOURCE)).toBe("200");
      expect(await probePort(host, 8080, CLOUDFLARE_SOURCE)).toBe("filtered");
    } finally {
      execFileSync("ip", ["addr", "del", `${CLOUDFLARE_SOURCE}/32`, "dev", veth]);
    }

    // audit: rootlesskit's 8080 listener is a public listener the spec does not allow; 443 is allowed
    const audit = await cli(["audit", target(m()), "--json"]);
    expect(audit.code, show(audit)).toBe(1);
    const [report] = events(audit.stdout) as Array<{
      checks: Array<{ id: string; pass: boolean; evidence: string }>;
    }>;
    const failed = report!.checks.filter((c) => !c.pass);
    expect(failed.map((c) => c.id)).toEqual(["listeners.public"]);
    expect(failed[0]!.evidence).toMatch(/0\.0\.0\.0:8080 \(rootlesskit\)/);
    expect(failed[0]!.evidence).not.toMatch(/:443\b/);
    // the audit's Docker part read the same host: rootless daemon on, rootful daemon off
    const passed = report!.checks.filter((c) => c.pass).map((c) => c.id);
    expect(passed).toEqual(
      expect.arrayContaining(["docker.rootless", "docker.rootful", "containers.secrets"]),
    );

    await ok("docker rm -f web8080 >/dev/null");
    const clean = await cli(["audit", target(m())]);
    expect(clean.code, show(clean)).toBe(0);
    await ok("docker rm -f web443 >/dev/null");
  });
});
