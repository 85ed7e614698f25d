/**
 * Rootless Docker (playbooks/docker.yml, SPEC §6) on a real hardened machine, and the security claims
 * it exists for: the daemon runs as its own user (lockclaw-agent: no sudo, no password, no login), so a
 * container that bind-mounts everything it can reach still cannot become root through deploy's account
 * (the `.profile` + `sudo -n` escalation, docs/threat-model.md); deploy drives it from a plain
 * `ssh deploy@host docker …` (a Docker context, no login shell needed); and ports published by rootless
 * Docker go through rootlesskit, a user-space listener on the host, so UFW's INPUT rules apply to them
 * (SPEC §4, last bullet). Rootful Docker's DNAT rules would bypass UFW; this proves from outside that
 * here they do not.
 *
 * The machine has no network, so the container image is built on it from its own files: python3, its
 * standard library and the shared libraries `ldd` names, imported with `docker import`.
 */
import { execFileSync } from "node:child_process";
import { request } from "node:http";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { quoteWord as shq } from "../../../src/core/sh.js";
import { useMachines } from "../support/lab.js";
import { cliFor, events, probePort, show, target } from "../host/support.js";

const DOCKER_PLAYBOOK = join(import.meta.dirname, "..", "..", "..", "playbooks", "docker.yml");
// inside 173.245.48.0/20; not the address test/e2e/host uses, so both can run side by side
const CLOUDFLARE_SOURCE = "173.245.49.33";
const IMAGE = "local/lc-py:e2e";
const AGENT = "lockclaw-agent";
/** What the escape writes into every file that a login of deploy (or root) would run. */
const ESCAPED = "/root/lc-escaped";

/**
 * Python, run in a container that bind-mounts the host's / at /host (and runs privileged: whoever
 * reaches the daemon chooses the create options). It plants the escalation in every file a login of
 * deploy or root would run, and lists every path under the places that lead to root which it can write.
 */
const ESCAPE = String.raw`
import os, sys
payload = "sudo -n sh -c 'id -u > ${ESCAPED}' 2>/dev/null\n"
for t in ["/host/home/deploy/.profile", "/host/home/deploy/.bashrc", "/host/home/deploy/.ssh/authorized_keys",
          "/host/root/.profile", "/host/etc/profile.d/lc-escape.sh", "/host/etc/sudoers.d/lc-escape",
          "/host/etc/cron.d/lc-escape", "/host/etc/passwd", "/host/etc/systemd/system/lc-escape.service"]:
    try:
        with open(t, "a") as f: f.write(payload)
        print("WROTE", t)
    except OSError as e:
        print("DENIED", t, e.strerror)
allowed = ("/host/var/lib/${AGENT}", "/host/srv/lockclaw/openclaw")
for top in ["/host/etc", "/host/root", "/host/home", "/host/usr", "/host/srv", "/host/var/lib",
            "/host/var/spool", "/host/opt", "/host/boot"]:
    for d, dirs, files in os.walk(top):
        if d.startswith(allowed): dirs[:] = []; continue
        for n in [d] + [os.path.join(d, f) for f in files]:
            if os.path.islink(n) or not os.access(n, os.W_OK): continue
            print("WRITABLE", n)
            # and write it, as an attacker would: a file gets the payload, a directory a new file
            try:
                with open(os.path.join(n, "lc-escape") if os.path.isdir(n) else n, "a") as f: f.write(payload)
            except OSError: pass
print("DONE uid", os.getuid())
`;

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

describe("rootless Docker of its own user (playbooks/docker.yml) on a hardened machine", () => {
  const machines = useMachines(1, { prefix: "rdk" });
  const cli = cliFor();
  const m = () => machines[0]!;
  /**
   * A command as deploy over plain SSH (`ssh deploy@host CMD`: no login shell, so nothing from
   * /etc/profile.d or ~/.profile), on the hardened port: the Docker context alone must lead to the daemon.
   */
  const asDeploy = (script: string, timeoutMs?: number) =>
    m().ssh(`bash -c ${shq(script)}`, { user: "deploy", port: 2222, timeoutMs });
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
    expect(first.stdout).toMatch(/changed\s+Rootless Docker running for the daemon's user/);
    expect(first.stdout).toMatch(/failed=0/);
    // the lab's net.* sysctls are writable (only other keys are read-only there): no read-only excuse
    expect(first.stdout).not.toMatch(/read-only/i);
    // the run ended by rebuilding AIDE's baseline (a failed hook is only a warning: it would show here)
    expect(first.stdout).not.toMatch(/after-change hook/);

    const second = await cli(["provision", "stack", target(m()), "--playbook", DOCKER_PLAYBOOK]);
    expect(second.code, show(second)).toBe(0);
    expect(second.stdout).toMatch(/changed=0/);
    // a no-op run: one exec per play (the probe), nothing applied
    const third = await cli(["provision", "stack", target(m()), "--playbook", DOCKER_PLAYBOOK, "--json"]);
    const recap = events(third.stdout).find((e) => e.type === "recap") as
      { hosts: Array<{ changed: number; execs: number }> } | undefined;
    expect(recap?.hosts[0]?.changed, show(third)).toBe(0);
    expect(recap?.hosts[0]?.execs, show(third)).toBe(1);
    console.log(
      `provision host ${recapSeconds(host.stdout)} s; docker.yml first run ${recapSeconds(first.stdout)} s, ` +
        `second run ${recapSeconds(second.stdout)} s, no-op execs ${recap?.hosts[0]?.execs}`,
    );
  });

  it("the daemon is lockclaw-agent's, rootless with no-new-privileges; deploy reaches it from plain SSH", async () => {
    // nothing in the session's environment points docker anywhere: the context does
    expect(await ok('printf "[%s]" "${DOCKER_HOST:-}"')).toBe("[]");
    expect(await ok("docker context show")).toBe("lockclaw");
    const agentUid = await ok(`id -u ${AGENT}`);
    expect(await ok("docker context inspect lockclaw --format '{{.Endpoints.docker.Host}}'")).toBe(
      `unix:///run/user/${agentUid}/docker.sock`,
    );
    // the exact command of issue 11.10
    const ps = await m().ssh("docker ps", { user: "deploy", port: 2222 });
    expect(ps.code, ps.stderr).toBe(0);
    expect(ps.stdout).toMatch(/^CONTAINER ID/);

    const security = JSON.parse(await ok("docker info --format '{{json .SecurityOptions}}'")) as string[];
    expect(security).toContain("name=rootless");
    expect(security).toContain("name=no-new-privileges");
    expect(await ok("docker info --format '{{.LoggingDriver}}'")).toBe("json-file");
    // read from the root-owned copy (the unit's XDG_CONFIG_HOME), not from the daemon user's home
    expect(await ok("stat -c '%U %a' /etc/lockclaw-docker/docker/daemon.json")).toBe("root 644");
    const daemonJson = JSON.parse(await ok("cat /etc/lockclaw-docker/docker/daemon.json")) as Record<
      string,
      unknown
    >;
    expect(daemonJson).toMatchObject({
      "no-new-privileges": true,
      "log-driver": "json-file",
      "log-opts": { "max-size": "10m", "max-file": "3" },
    });
    expect(
      await ok(`sudo -n test -e /var/lib/${AGENT}/.config/docker/daemon.json && echo there || echo none`),
    ).toBe("none");

    // the daemon's user: its processes, no sudo, no password, no login shell, no group but its own
    expect(await ok("ps -o user:32= -C rootlesskit | sort -u")).toBe(AGENT);
    expect(await ok("ps -o user:32= -C dockerd | sort -u")).toBe(AGENT);
    expect(await ok(`id -nG ${AGENT}`)).toBe(AGENT);
    expect(await ok(`getent passwd ${AGENT} | cut -d: -f6,7`)).toBe(`/var/lib/${AGENT}:/usr/sbin/nologin`);
    expect(await ok(`sudo -n getent shadow ${AGENT} | cut -d: -f2 | cut -c1`)).toBe("!");
    expect(await ok(`sudo -n sudo -n -l -U ${AGENT}`)).toMatch(
      new RegExp(`User ${AGENT} is not allowed to run sudo`),
    );
    const agentSudo = await asDeploy(`sudo -n -u ${AGENT} sudo -n true`);
    expect(agentSudo.code, agentSudo.stdout).not.toBe(0);
    // deploy holds only search on the runtime dir and the socket, by ACL
    expect(await ok(`getfacl -cp /run/user/${agentUid}/docker.sock | grep '^user:deploy:'`)).toBe(
      "user:deploy:rw-",
    );
    expect(await ok(`getfacl -cp /run/user/${agentUid} | grep '^user:deploy:'`)).toBe("user:deploy:--x");
    // the profile.d DOCKER_HOST of earlier versions is gone
    expect(await ok("test -e /etc/profile.d/lockclaw-docker-host.sh && echo there || echo none")).toBe(
      "none",
    );

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

    expect(await ok(`loginctl show-user ${AGENT} -p Linger`)).toBe("Linger=yes");
    for (const file of ["/etc/subuid", "/etc/subgid"]) {
      const total = await ok(`awk -F: '$1=="${AGENT}"{s+=$3} END{print s+0}' ${file}`);
      expect(Number(total), file).toBeGreaterThanOrEqual(65536);
    }
    expect(await ok("cat /etc/systemd/system/user@.service.d/delegate.conf")).toMatch(
      /^Delegate=cpu cpuset io memory pids$/m,
    );
    // in effect, not just written: the handler reloaded systemd and restarted the daemon user's manager
    // (the lab cannot enforce the limits themselves: its kernel delegates no controllers to the machine)
    expect(await ok(`systemctl show -p DelegateControllers "user@${agentUid}.service"`)).toBe(
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
    // the publishing process is rootlesskit, running as the daemon's user: a plain host listener UFW filters
    const listeners = await ok("sudo -n ss -tlnpH '( sport = :443 or sport = :8080 )'");
    expect(listeners).toMatch(/0\.0\.0\.0:443\b.*rootlesskit/);
    expect(listeners).toMatch(/0\.0\.0\.0:8080\b.*rootlesskit/);
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
    expect(
      failed.map((c) => c.id),
      JSON.stringify(failed),
    ).toEqual(["listeners.public"]);
    expect(failed[0]!.evidence).toMatch(/0\.0\.0\.0:8080 \(rootlesskit\)/);
    expect(failed[0]!.evidence).not.toMatch(/:443\b/);
    // the audit's Docker part read the same host: rootless daemon on, rootful daemon off
    const passed = report!.checks.filter((c) => c.pass).map((c) => c.id);
    expect(passed).toEqual(
      expect.arrayContaining([
        "docker.rootless",
        "docker.rootful",
        "docker.user.sudo",
        "docker.user.login",
        "containers.secrets",
      ]),
    );

    await ok("docker rm -f web8080 >/dev/null");
    const clean = await cli(["audit", target(m())]);
    expect(clean.code, show(clean)).toBe(0);
    await ok("docker rm -f web443 >/dev/null");
  });

  it("a container bind-mounting / cannot become root: the .profile + sudo escalation fails", async () => {
    const py = await ok(BUILD_IMAGE);
    // what an attacker who reaches the daemon (through the socket proxy, or the socket itself) would run
    const r = await asDeploy(
      `docker run --rm --privileged -v /:/host ${IMAGE} ${py} -c ${shq(ESCAPE)}`,
      120_000,
    );
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines.at(-1)).toBe("DONE uid 0"); // root in the container, lockclaw-agent on the host
    // every planted file refused; nothing under the paths that lead to root is writable
    expect(lines.filter((l) => l.startsWith("WROTE"))).toEqual([]);
    // The only writable paths: /etc itself and its top-level entries, which are rootlesskit's copy-up of
    // /etc (a tmpfs of the daemon's own mount namespace: --copy-up=/etc), not the host's /etc
    for (const l of lines.filter((x) => x.startsWith("WRITABLE"))) {
      expect(l).toMatch(/^WRITABLE \/host\/etc(\/[^/]+)?$/);
    }
    // nothing the container wrote reached the host's files
    expect(
      await ok(
        "sudo -n grep -rls lc-escaped /etc /root /home /usr/local /srv /var/spool 2>/dev/null || true",
      ),
    ).toBe("");
    expect(lines.filter((l) => l.startsWith("DENIED"))).toContain(
      "DENIED /host/home/deploy/.profile Permission denied",
    );
    // deploy logs in (its .profile and .bashrc run) and sudo works for it as ever: the payload, had it
    // been planted, would have run as root now
    const login = await m().ssh("bash -lic true", { user: "deploy", port: 2222 });
    expect(login.code, login.stderr).toBe(0);
    expect(await ok(`sudo -n test -e ${ESCAPED} && echo escaped || echo none`)).toBe("none");
    expect(await ok("grep -c lc-escaped ~/.profile ~/.bashrc | cut -d: -f2 | sort -u")).toBe("0");
    // and the daemon's user itself has no way up
    const agentSudo = await asDeploy(`sudo -n -u ${AGENT} sudo -n true`);
    expect(agentSudo.code).not.toBe(0);
    await ok(`docker rmi ${IMAGE} >/dev/null`);
  });
});
