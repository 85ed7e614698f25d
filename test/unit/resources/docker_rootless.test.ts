import { describe, expect, it } from "vitest";
import {
  dockerRootlessKind,
  parseDockerRootlessFacts,
  type DockerRootlessFacts,
  type DockerRootlessSpec,
} from "../../../src/resources/docker_rootless.js";
import { applyOf, changesOf, parseSpec, probeFacts, runSh, specError } from "./helpers.js";

const spec = (input: Record<string, unknown>): DockerRootlessSpec => parseSpec(dockerRootlessKind, input);
const ctx = { check: false };
const ROOTLESS = `["name=seccomp,profile=builtin","name=rootless","name=cgroupns"]`;
const good: DockerRootlessFacts = {
  userExists: true,
  uid: 1001,
  subuids: 65536,
  subgids: 65536,
  linger: true,
  manager: true,
  unitEnabled: "enabled",
  unitActive: "active",
  rootless: true,
  securityOptions: ROOTLESS,
  rootfulEnabled: false,
  rootfulActive: false,
};

describe("docker_rootless spec", () => {
  it("has safe defaults", () => {
    expect(spec({ user: "deploy" })).toEqual({
      user: "deploy",
      subid_count: 65536,
      disable_rootful: true,
      timeout: 90,
    });
  });
  it("rejects too few subordinate ids and bad users", () => {
    expect(specError(dockerRootlessKind, { user: "deploy", subid_count: 1000 })).toMatch(/at least 65536/);
    expect(specError(dockerRootlessKind, { user: "de ploy" })).toMatch(/user must be a user\/group name/);
    expect(specError(dockerRootlessKind, { user: "deploy", setuptool: "rel/path.sh" })).toMatch(/absolute/);
  });
});

describe("docker_rootless probe parsing", () => {
  it("reads a fully set-up host", () => {
    const out = [
      "user=present",
      "uid=1001",
      "subuid=65536",
      "subgid=65536",
      "linger=1",
      "manager=1",
      "unit_enabled=enabled",
      "unit_active=active",
      `security=${ROOTLESS}`,
      "rootful=disabled disabled ",
      "rootful_active=inactive inactive ",
    ].join("\n");
    expect(parseDockerRootlessFacts(out)).toEqual(good);
  });
  it("reads a fresh host (no user, no docker)", () => {
    const f = parseDockerRootlessFacts("user=absent\nrootful=\nrootful_active=\n");
    expect(f).toMatchObject({ userExists: false, rootless: false, rootfulActive: false, subuids: 0 });
    expect(changesOf(dockerRootlessKind, spec({ user: "deploy" }), f, ctx)[0]!.summary).toMatch(
      /not found at probe time/,
    );
  });
  it("sees a rootful daemon the distribution package started", () => {
    const f = parseDockerRootlessFacts(
      "user=present\nuid=1000\nsubuid=65536\nsubgid=65536\nlinger=0\nmanager=0\nrootful=enabled enabled \nrootful_active=active active \n",
    );
    expect(f.rootfulEnabled).toBe(true);
    expect(f.rootfulActive).toBe(true);
  });
  it("fails clearly on garbage", () => {
    expect(() => parseDockerRootlessFacts("hello")).toThrow(/no valid user= line/);
    expect(() => parseDockerRootlessFacts("user=present\nuid=x\n")).toThrow(/bad uid= line/);
  });
  it("the probe runs here and reads a missing user without changing anything", () => {
    const f = probeFacts(dockerRootlessKind, spec({ user: "lc-no-such-user" }));
    expect(f.userExists).toBe(false);
  });
});

describe("docker_rootless diff", () => {
  const s = spec({ user: "deploy" });
  it("nothing to do on a proven rootless host", () => {
    expect(changesOf(dockerRootlessKind, s, good, ctx)).toEqual([]);
  });
  it("names each missing piece", () => {
    const f: DockerRootlessFacts = {
      ...good,
      subuids: 0,
      subgids: 1000,
      linger: false,
      unitEnabled: "",
      unitActive: "inactive",
      rootless: false,
      securityOptions: "",
      rootfulEnabled: true,
      rootfulActive: true,
    };
    expect(changesOf(dockerRootlessKind, s, f, ctx).map((c) => c.summary)).toEqual([
      "add subordinate uids for deploy (0 → 65536)",
      "add subordinate gids for deploy (1000 → 65536)",
      "enable lingering for deploy (its services run without a login)",
      "install and enable the rootless Docker user service of deploy",
      "start rootless Docker of deploy (is inactive)",
      "stop and disable the rootful Docker daemons (docker.socket, docker.service, containerd.service)",
    ]);
  });
  it("a running daemon that is not rootless is restarted", () => {
    const f = { ...good, rootless: false, securityOptions: `["name=seccomp"]` };
    expect(changesOf(dockerRootlessKind, s, f, ctx)[0]!.summary).toMatch(/does not report rootless.*restart/);
    expect(String(applyOf(dockerRootlessKind, s, f))).toMatch(/systemctl --user restart docker.service/);
    expect(String(applyOf(dockerRootlessKind, s, { ...good, unitActive: "inactive" }))).toMatch(
      /systemctl --user start docker.service/,
    );
  });
  it("leaves a rootful daemon alone when told to", () => {
    const keep = spec({ user: "deploy", disable_rootful: false });
    expect(changesOf(dockerRootlessKind, keep, { ...good, rootfulActive: true }, ctx)).toEqual([]);
    expect(String(applyOf(dockerRootlessKind, keep, good))).not.toMatch(/disable --now/);
  });
});

describe("docker_rootless apply script", () => {
  const sh = String(applyOf(dockerRootlessKind, spec({ user: "deploy", timeout: 30 }), good));
  it("is valid POSIX sh", () => {
    const r = runSh(`sh -n <<'LC_EOF'\n${sh}\nLC_EOF`);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });
  it("runs every step as the user with its runtime dir, tolerating the setup tool's known failure", () => {
    expect(sh).toContain('runuser -u deploy -- env XDG_RUNTIME_DIR=/run/user/"$lc_uid"');
    expect(sh).toContain("/usr/share/docker.io/contrib/dockerd-rootless-setuptool.sh");
    expect(sh).toMatch(/\.config\/systemd\/user\/docker\.service/);
    expect(sh).toMatch(/loginctl enable-linger deploy/);
    expect(sh).toMatch(/usermod --add-subuids/);
    expect(sh).toMatch(/systemctl disable --now/);
    expect(sh).toMatch(/-gt 30 \]/);
    expect(sh).toContain("name=rootless");
  });
  it("reloads systemd before it first starts the user manager (so the manager has the delegation drop-in)", () => {
    const reload = sh.indexOf('systemctl is-active -q "user@$lc_uid.service" || systemctl daemon-reload');
    expect(reload).toBeGreaterThan(-1);
    expect(reload).toBeLessThan(sh.indexOf("loginctl enable-linger"));
  });
  it("puts the setup tool's own dir first on PATH (it requires dockerd-rootless.sh there; Debian keeps it in contrib/)", () => {
    expect(sh).toContain('PATH="${lc_tool%/*}":/usr/local/bin:');
    const r = runSh(
      `lc_tool=/usr/share/docker.io/contrib/dockerd-rootless-setuptool.sh; printf '%s\\n' "\${lc_tool%/*}"`,
    );
    expect(r.stdout.trim()).toBe("/usr/share/docker.io/contrib");
  });
  it("fails at once, naming the package, when the docker client is missing (Debian 13: docker-cli)", () => {
    expect(sh).toMatch(/command -v docker >\/dev\/null 2>&1 \|\| \{ echo .*docker-cli/);
  });
  it("allocates a subordinate range above every existing one", () => {
    // the allocation pipeline, run on sample files
    const r = runSh(
      `printf 'a:100000:65536\\nb:165536:65536\\n' > /tmp/lc-subid-test; ` +
        `cat /tmp/lc-subid-test | awk -F: 'BEGIN{m=100000} NF>=3{e=$2+$3; if(e>m)m=e} END{print m}'; rm -f /tmp/lc-subid-test`,
    );
    expect(r.stdout.trim()).toBe("231072");
    expect(sh).toContain(`awk -F: 'BEGIN{m=100000} NF>=3{e=$2+$3; if(e>m)m=e} END{print m}'`);
  });
});
