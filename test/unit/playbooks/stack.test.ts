/**
 * The product's stack and docker playbooks, loaded and rendered exactly as a run would (real kinds, real
 * templates), and the rendered files checked: the hardening every service must carry, secrets only as
 * files, networks as declared, the OpenClaw sandbox and tool denials.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { builtinVars } from "../../../src/cli/builtins.js";
import { loadPlaybook } from "../../../src/engine/playbook/loader.js";
import { preparePlaybook, type PreparedTask } from "../../../src/engine/prepare.js";
import { Redactor } from "../../../src/engine/redact.js";
import { parseVarArg } from "../../../src/engine/vars.js";
import { resourceKinds } from "../../../src/resources/index.js";
import { packagesFromPlaybooks } from "../../../src/lab/packages.js";
import { saveTarball } from "../resources/image_bundle/fixtures.js";

const ROOT = join(__dirname, "..", "..", "..");
const STACK = join(ROOT, "playbooks", "stack.yml");
const DOCKER = join(ROOT, "playbooks", "docker.yml");
const DIGEST = `@sha256:${"ab".repeat(32)}`;
const PINNED = [
  "image_openclaw=ghcr.io/openclaw/openclaw",
  "image_socket_proxy=tecnativa/docker-socket-proxy",
  "image_smokescreen=ghcr.io/stripe/smokescreen",
  "image_squid=ubuntu/squid",
  "image_litellm=ghcr.io/berriai/litellm",
  "image_redis=redis",
  "image_ingress=haproxy",
].map((v) => `${v}${DIGEST}`);

function prepare(file: string, vars: string[] = []) {
  const redactor = new Redactor();
  const plays = preparePlaybook(loadPlaybook(file, resourceKinds), resourceKinds, {
    overrides: vars.map(parseVarArg),
    builtins: builtinVars(),
    redactor,
  });
  return { plays, redactor };
}

const task = (tasks: PreparedTask[], name: string): PreparedTask => {
  const t = tasks.find((x) => x.name === name);
  if (!t) throw new Error(`no task named ${name}: ${tasks.map((x) => x.name).join(", ")}`);
  return t;
};
const content = (tasks: PreparedTask[], name: string) =>
  (task(tasks, name).spec as { content: string }).content;

interface Service {
  image: string;
  cap_drop: string[];
  security_opt: string[];
  read_only: boolean;
  restart: string;
  healthcheck?: { test: unknown };
  cpus?: number;
  mem_limit?: string;
  pids_limit?: number;
  environment?: Record<string, unknown>;
  networks: string[];
  ports?: string[];
  secrets?: string[];
  volumes?: string[];
  user?: string;
}
function compose(vars: string[] = []) {
  const { plays } = prepare(STACK, [...PINNED, ...vars]);
  const doc = parse(content(plays[0]!.tasks, "Compose file"), { merge: true }) as {
    services: Record<string, Service>;
    networks: Record<string, { internal?: boolean } | null>;
    secrets: Record<string, { file: string }>;
    version?: string;
  };
  return { doc, tasks: plays[0]!.tasks };
}

describe("playbooks/stack.yml renders a hardened compose file", () => {
  const { doc } = compose();
  const services = Object.entries(doc.services);

  it("has the services of the seed, and no version key (compose v1.27+ and v2 both read it)", () => {
    expect(Object.keys(doc.services).sort()).toEqual(
      ["egress", "gateway", "ingress", "litellm", "redis", "socket-proxy"].sort(),
    );
    expect(doc.version).toBeUndefined();
  });

  it("every service: cap_drop ALL, no-new-privileges, read-only, health check, limits, restart policy", () => {
    for (const [name, s] of services) {
      expect(s.cap_drop, name).toEqual(["ALL"]);
      expect(s.security_opt, name).toEqual(["no-new-privileges:true"]);
      expect(s.read_only, name).toBe(true);
      expect(s.restart, name).toBe("unless-stopped");
      expect(s.healthcheck?.test, name).toBeDefined();
      expect(typeof s.cpus, name).toBe("number");
      expect(s.mem_limit, name).toMatch(/^[0-9]+[mg]$/);
      expect(s.pids_limit, name).toBeGreaterThan(0);
    }
  });

  it("every image comes from compose_stack's pins (LOCKCLAW_IMAGE_<KEY>), never a literal tag", () => {
    for (const [name, s] of services) {
      expect(s.image, name).toMatch(/^\$\{LOCKCLAW_IMAGE_[A-Z_]+:\?[^}]+\}$/);
    }
    const { tasks } = compose();
    const images = (task(tasks, "Stack up and healthy").spec as { images: Record<string, string> }).images;
    const used = services.map(([, s]) => /LOCKCLAW_IMAGE_([A-Z_]+)/.exec(s.image)![1]!);
    expect(Object.keys(images).sort()).toEqual([...new Set(used)].sort());
  });

  it("the services that bind-mount configuration carry its hash in a label", () => {
    const { tasks } = compose();
    const configFiles = (
      task(tasks, "Stack up and healthy").spec as { config_files: Record<string, string[]> }
    ).config_files;
    for (const [name, files] of Object.entries(configFiles)) {
      const svc = doc.services[name] as Service & { labels?: Record<string, string> };
      expect(svc.labels?.["lockclaw.config"], name).toBe(`\${LOCKCLAW_CONFIG_${name.toUpperCase()}:-}`);
      // every ./ mount of the service (a file, or the directory holding it) has a hashed file, but the
      // gateway's state dir (written by the gateway, not by lockclaw)
      const mounted = (svc.volumes ?? [])
        .map((v) => v.split(":")[0]!)
        .filter((v) => v.startsWith("./") && !(name === "gateway" && v === "./openclaw"));
      for (const m of mounted) {
        expect(
          files.some((f) => `./${f}` === m || `./${f}`.startsWith(`${m}/`)),
          `${name}: ${m}`,
        ).toBe(true);
      }
    }
  });

  it("networks: openclaw-net internal, only the egress proxy on egress-net, only ingress published", () => {
    expect(doc.networks["openclaw-net"]).toEqual({ internal: true });
    expect(doc.networks["egress-net"]?.internal).toBeFalsy();
    for (const [name, s] of services) {
      if (name !== "socket-proxy") expect(s.networks, name).toContain("openclaw-net");
      if (name !== "egress") expect(s.networks, name).not.toContain("egress-net");
      if (name !== "ingress") {
        expect(s.ports, name).toBeUndefined();
        expect(s.networks, name).not.toContain("ingress-net");
      }
    }
    expect(doc.services.egress!.networks.sort()).toEqual(["egress-net", "openclaw-net"]);
    expect(doc.services.ingress!.ports).toEqual(["443:8443"]);
    expect(doc.services.redis!.ports).toBeUndefined();
  });

  it("the Docker API (socket proxy) is on a network only the gateway shares, not the ingress's", () => {
    expect(doc.networks["docker-api-net"]).toEqual({ internal: true });
    expect(doc.services["socket-proxy"]!.networks).toEqual(["docker-api-net"]);
    const onApi = services.filter(([, s]) => s.networks.includes("docker-api-net")).map(([n]) => n);
    expect(onApi.sort()).toEqual(["gateway", "socket-proxy"]);
    expect(doc.services.ingress!.networks).not.toContain("docker-api-net");
  });

  it("root writes nothing where the daemon's user can write: only the gateway's state dir is its own", () => {
    const { tasks } = compose();
    const dirs = tasks.filter((t) => t.kind.name === "directory");
    const own = dirs.filter((t) => (t.spec as { owner?: string }).owner !== "root");
    expect(own.map((t) => (t.spec as { path: string }).path)).toEqual(["/srv/lockclaw/openclaw"]);
    // no file lockclaw writes is inside that dir; each of them is in a root-owned dir
    const rootDirs = new Set(
      dirs.filter((t) => !own.includes(t)).map((t) => (t.spec as { path: string }).path),
    );
    for (const t of tasks.filter((x) => ["template", "secret_file"].includes(x.kind.name))) {
      const path = (t.spec as { path: string }).path;
      expect(path, t.name).not.toMatch(/^\/srv\/lockclaw\/openclaw\//);
      expect(rootDirs.has(path.slice(0, path.lastIndexOf("/"))), t.name).toBe(true);
    }
    // the gateway reads lockclaw's config read-only, from outside its state dir
    const gw = doc.services.gateway!;
    expect(gw.volumes).toContain("./gateway/openclaw.json:/etc/lockclaw/openclaw.json:ro");
    expect(gw.environment).toMatchObject({ OPENCLAW_CONFIG_PATH: "/etc/lockclaw/openclaw.json" });
  });

  it("secrets only as files; no secret-looking value in any environment", () => {
    expect(Object.values(doc.secrets).map((s) => s.file)).toEqual([
      "./secrets/gateway_token",
      "./secrets/litellm_master_key",
      "./secrets/redis_password",
      "./secrets/provider_keys.env",
    ]);
    for (const [name, s] of services) {
      for (const [k, v] of Object.entries(s.environment ?? {})) {
        // the only such names allowed are the socket proxy's permission flags (SECRETS=0)
        if (/KEY|TOKEN|PASSWORD|SECRET/i.test(k)) expect(v, `${name}.${k}`).toBe(0);
        expect(String(v), `${name}.${k}`).not.toMatch(/sk-|^[A-Za-z0-9]{32,}$/);
      }
    }
  });

  it("the socket proxy mounts the ROOTLESS socket and allows only what the gateway needs", () => {
    const p = doc.services["socket-proxy"]!;
    expect(p.volumes).toEqual([
      "${XDG_RUNTIME_DIR:?run compose as lockclaw-agent with XDG_RUNTIME_DIR=/run/user/UID}/docker.sock:/var/run/docker.sock:ro",
    ]);
    const env = p.environment!;
    for (const k of ["CONTAINERS", "IMAGES", "INFO", "VERSION", "PING", "EVENTS", "EXEC", "POST"]) {
      expect(env[k], k).toBe(1);
    }
    for (const k of ["BUILD", "SECRETS", "SWARM", "NETWORKS", "VOLUMES", "PLUGINS", "SYSTEM"]) {
      expect(env[k], k).toBe(0);
    }
  });

  it("gateway and LiteLLM leave only through the egress proxy (Smokescreen by default)", () => {
    for (const name of ["gateway", "litellm"]) {
      expect(doc.services[name]!.environment).toMatchObject({
        HTTP_PROXY: "http://egress:3128",
        HTTPS_PROXY: "http://egress:3128",
      });
    }
    expect(doc.services.gateway!.environment!.DOCKER_HOST).toBe("tcp://socket-proxy:2375");
  });

  it("egress_proxy: squid (the default) or smokescreen swaps the egress service, image and proxy URL", () => {
    const { doc: sq, tasks } = compose();
    expect(
      (task(tasks, "Stack up and healthy").spec as { images: Record<string, string> }).images.EGRESS,
    ).toMatch(/^ubuntu\/squid@/);
    expect(sq.services.egress!.user).toBe("13:13");
    const { doc: sm, tasks: smTasks } = compose(["egress_proxy=smokescreen"]);
    expect(
      (task(smTasks, "Stack up and healthy").spec as { images: Record<string, string> }).images.EGRESS,
    ).toMatch(/^ghcr\.io\/stripe\/smokescreen@/);
    expect(sm.services.litellm!.environment!.HTTPS_PROXY).toBe("http://egress:4750");
    expect(sq.services.litellm!.environment!.HTTPS_PROXY).toBe("http://egress:3128");
    const conf = content(tasks, "Squid allowlist");
    expect(conf).toMatch(/^acl allowed_sites dstdomain \.anthropic\.com \.openai\.com$/m);
    expect(conf).toMatch(/^http_access deny all$/m);
  });

  it("compose.v2.yml (compose v2, Engine 25+ only) sets start_interval and nothing else, for exactly the services", () => {
    for (const vars of [[], ["ingress_enabled=false"], ["egress_proxy=smokescreen"]]) {
      const { doc: base, tasks } = compose(vars);
      const over = parse(content(tasks, "Compose file for compose v2 (health-check start interval)")) as {
        services: Record<string, unknown>;
      };
      expect(Object.keys(over)).toEqual(["services"]);
      expect(Object.keys(over.services).sort()).toEqual(Object.keys(base.services).sort());
      for (const [name, svc] of Object.entries(over.services)) {
        expect(svc).toEqual({ healthcheck: { start_interval: "1s" } });
        // start_interval applies only within a start period
        expect((base.services[name]!.healthcheck as { start_period?: string }).start_period).toBeTruthy();
      }
      const up = task(tasks, "Stack up and healthy").spec as { files: string[]; files_v2: string[] };
      expect(up.files).toEqual(["compose.yml"]);
      expect(up.files_v2).toEqual(["compose.v2.yml"]);
      expect(task(tasks, "Compose file for compose v2 (health-check start interval)").notify).toContain(
        "stack up",
      );
    }
  });
  it("ingress can be turned off", () => {
    const { doc: off } = compose(["ingress_enabled=false"]);
    expect(off.services.ingress).toBeUndefined();
    expect(off.networks["ingress-net"]).toBeUndefined();
  });
});

describe("playbooks/stack.yml other files and guards", () => {
  it("OpenClaw config: sandbox and tool denials with the package's key names", () => {
    const { tasks } = compose();
    const cfg = JSON.parse(content(tasks, "OpenClaw configuration (sandbox, tool denials)"));
    expect(cfg.agents.defaults.maxConcurrent).toBe(8);
    expect(cfg.agents.defaults.sandbox).toMatchObject({
      mode: "all",
      workspaceAccess: "none",
      docker: { network: "none", capDrop: ["ALL"], memory: "1g", cpus: 1, pidsLimit: 512 },
      prune: { idleHours: 12, maxAgeDays: 3 },
    });
    expect(cfg.tools.deny).toEqual([
      "process",
      "browser",
      "nodes",
      "gateway",
      "sessions_spawn",
      "sessions_send",
      "elevated",
      "host_exec",
      "docker",
      "camera",
      "canvas",
      "cron",
    ]);
    expect(cfg.gateway.tools.deny).toEqual([
      "sessions_spawn",
      "sessions_send",
      "gateway",
      "elevated",
      "host_exec",
      "docker",
      "camera",
      "canvas",
      "cron",
    ]);
    // the token is a file reference, never a value
    expect(cfg.gateway.auth.token).toEqual({ source: "file", provider: "gatewaytoken", id: "value" });
    expect(cfg.secrets.providers.gatewaytoken.path).toBe("/run/secrets/gateway_token");
  });

  it("the Control UI is off unless origins are listed, then on for exactly those", () => {
    const off = JSON.parse(content(compose().tasks, "OpenClaw configuration (sandbox, tool denials)"));
    expect(off.gateway.controlUi).toEqual({ enabled: false });
    const { tasks } = compose(["control_ui_origins=https://claw.example.com,https://ops.example.com"]);
    const on = JSON.parse(content(tasks, "OpenClaw configuration (sandbox, tool denials)"));
    expect(on.gateway.controlUi).toEqual({
      enabled: true,
      allowedOrigins: ["https://claw.example.com", "https://ops.example.com"],
    });
  });

  it("Smokescreen allowlist lists the allowed names", () => {
    const { tasks } = compose();
    const acl = parse(content(tasks, "Smokescreen allowlist"));
    expect(acl.default).toMatchObject({
      action: "enforce",
      allowed_domains: ["*.anthropic.com", "*.openai.com"],
    });
  });

  it("provider keys are secret: redacted and written 0600 as a sensitive file", () => {
    const key = "sk-ant-test-0123456789abcdef";
    const { plays, redactor } = prepare(STACK, [...PINNED, `anthropic_api_key=${key}`]);
    const t = task(plays[0]!.tasks, "Provider API keys (given by the user)");
    expect(t.spec).toMatchObject({ mode: "0600", sensitive: true, owner: "lockclaw-agent" });
    expect(redactor.text(`value ${key}`)).not.toContain(key);
    // the compose file and every non-sensitive file never hold it
    for (const x of plays[0]!.tasks) {
      const s = x.spec as { content?: string; sensitive?: boolean };
      if (s.content && !s.sensitive) expect(s.content, x.name).not.toContain(key);
    }
  });

  it("generated secrets are secret_file tasks (generated on the host)", () => {
    const { tasks } = compose();
    for (const n of ["Gateway token", "LiteLLM master key", "Redis password"]) {
      expect(task(tasks, n).kind.name).toBe("secret_file");
      expect(task(tasks, n).spec).toMatchObject({ mode: "0600", owner: "lockclaw-agent" });
    }
  });

  it("default images are tags pinned on first deploy; digests pass through; repin_images reaches the kind", () => {
    const { plays } = prepare(STACK);
    const up = task(plays[0]!.tasks, "Stack up and healthy").spec as {
      images: Record<string, string>;
      repin: boolean;
    };
    expect(up.repin).toBe(false);
    for (const [key, ref] of Object.entries(up.images)) {
      // a tag of a known release, never "latest": the pin taken on first deploy then means something
      expect(ref, key).toMatch(/^[a-z0-9./-]+:[A-Za-z0-9._-]+$/);
      expect(ref, key).not.toMatch(/:latest$/);
    }
    expect(up.images.EGRESS).toMatch(/^ubuntu\/squid:/);
    const pinned = task(prepare(STACK, PINNED).plays[0]!.tasks, "Stack up and healthy").spec as {
      images: Record<string, string>;
    };
    for (const ref of Object.values(pinned.images)) expect(ref).toMatch(/@sha256:[0-9a-f]{64}$/);
    const again = task(prepare(STACK, ["repin_images=true"]).plays[0]!.tasks, "Stack up and healthy");
    expect(again.spec).toMatchObject({ repin: true });
  });

  it("smokescreen without an image of the user's is refused with the fix", () => {
    const refuse = (vars: string[]) =>
      task(prepare(STACK, vars).plays[0]!.tasks, "Refuse Smokescreen without an image").spec as {
        unless: string;
        cmd: string;
      };
    const bad = refuse(["egress_proxy=smokescreen"]);
    expect(spawnSync("sh", ["-c", bad.unless]).status).not.toBe(0);
    expect(bad.cmd).toMatch(/set it to your Smokescreen image, or use egress_proxy squid/);
    expect(spawnSync("sh", ["-c", refuse(["egress_proxy=smokescreen", ...PINNED]).unless]).status).toBe(0);
    expect(spawnSync("sh", ["-c", refuse([]).unless]).status).toBe(0);
  });

  it("every file the stack reads notifies the 'stack up' handler, a compose_stack like the task", () => {
    const { plays } = prepare(STACK, PINNED);
    const handler = plays[0]!.handlers.get("stack up")!;
    expect(handler.kind.name).toBe("compose_stack");
    expect(handler.spec).toEqual(task(plays[0]!.tasks, "Stack up and healthy").spec);
    for (const t of plays[0]!.tasks.filter((x) => x.kind.name === "template")) {
      expect(t.notify, t.name).toEqual(["stack up"]);
    }
  });

  it("bundle_dir reaches compose_stack; empty means pull", () => {
    const plain = prepare(STACK, PINNED).plays[0]!.tasks;
    expect((task(plain, "Stack up and healthy").spec as { bundle_dir?: string }).bundle_dir).toBeUndefined();
    const air = prepare(STACK, [...PINNED, "bundle_dir=/var/lib/lockclaw/bundle"]).plays[0]!.tasks;
    expect(task(air, "Stack up and healthy").spec).toMatchObject({
      bundle_dir: "/var/lib/lockclaw/bundle",
      user: "lockclaw-agent",
    });
  });

  it("--bundle (bundle_src): image_bundle sends what lockclaw-agent's daemon lacks; compose_stack loads nothing", () => {
    const plain = prepare(STACK, PINNED).plays[0]!.tasks;
    expect(task(plain, "Images from the control machine (--bundle)").skippedByWhen).toBe(true);
    const bundle = mkdtempSync(join(tmpdir(), "lc-bundle-"));
    saveTarball(join(bundle, "redis.tar"), [{ tags: ["lockclaw-lab/redis:latest"], layers: ["base"] }]);
    const air = prepare(STACK, [...PINNED, `bundle_src=${bundle}`]).plays[0]!.tasks;
    // no directory task: the upload comes before any task of its batch runs (image_bundle keeps it 0700)
    expect(air.find((t) => t.name === "Bundle directory")).toBeUndefined();
    const images = task(air, "Images from the control machine (--bundle)");
    expect(images.skippedByWhen).toBe(false);
    expect(images.kind.name).toBe("image_bundle");
    expect(images.spec).toMatchObject({
      src: bundle,
      dir: "/var/lib/lockclaw/bundle",
      user: "lockclaw-agent",
    });
    const b = (images.spec as { bundle: { images: { tags: string[] }[] } }).bundle;
    expect(b.images.map((i) => i.tags)).toEqual([["lockclaw-lab/redis:latest"]]);
    // the images are in the daemon before `up`: compose_stack has no tarball to load
    expect((task(air, "Stack up and healthy").spec as { bundle_dir?: string }).bundle_dir).toBeUndefined();
    // a bundle that is not one is refused before anything connects, naming the file
    writeFileSync(join(bundle, "notes.txt"), "x");
    expect(() => prepare(STACK, [...PINNED, `bundle_src=${bundle}`])).toThrow(
      /notes\.txt is not an image tarball/,
    );
  });

  it("the gateway's home and entrypoint can be set (the lab's lockclaw:openclaw image)", () => {
    const dflt = compose().doc.services.gateway!;
    expect(dflt).not.toHaveProperty("entrypoint");
    expect(dflt.volumes).toContain("./openclaw:/home/node/.openclaw");
    const lab = compose(["gateway_home=/home/lockclaw", "gateway_entrypoint=/opt/lockclaw/start-openclaw.sh"])
      .doc.services.gateway! as Service & { entrypoint: string[] };
    expect(lab.entrypoint).toEqual(["/opt/lockclaw/start-openclaw.sh"]);
    expect(lab.volumes).toContain("./openclaw:/home/lockclaw/.openclaw");
    expect(lab.environment).toMatchObject({ OPENCLAW_CONFIG_PATH: "/etc/lockclaw/openclaw.json" });
  });

  it("cpu_limits: false drops only the CPU limits (Docker refuses them without a delegated cpu controller)", () => {
    const on = compose().doc.services;
    const off = compose(["cpu_limits=false"]).doc.services;
    for (const [name, svc] of Object.entries(off)) {
      expect(on[name]!.cpus, name).toBeGreaterThan(0);
      expect(svc.cpus, name).toBeUndefined();
      expect(svc.mem_limit, name).toBe(on[name]!.mem_limit);
      expect(svc.pids_limit, name).toBe(on[name]!.pids_limit);
    }
  });

  it("squid refuses a name off the allowlist before any DNS lookup (private_dst is a dst ACL)", () => {
    const { plays } = prepare(STACK, [...PINNED, "egress_proxy=squid"]);
    const rules = content(plays[0]!.tasks, "Squid allowlist")
      .split("\n")
      .filter((l) => l.startsWith("http_access"));
    expect(rules.indexOf("http_access deny !allowed_sites")).toBeLessThan(
      rules.indexOf("http_access deny private_dst"),
    );
    expect(rules.at(-1)).toBe("http_access deny all");
  });
});

describe("playbooks/docker.yml", () => {
  const { plays } = prepare(DOCKER);
  const tasks = plays[0]!.tasks;
  it("daemon.json: no-new-privileges and bounded logs, root-owned, read through the unit's XDG_CONFIG_HOME", () => {
    const t = task(tasks, "Rootless daemon.json (no-new-privileges, bounded logs)");
    expect(t.spec).toMatchObject({
      path: "/etc/lockclaw-docker/docker/daemon.json",
      owner: "root",
      mode: "0644",
    });
    expect(JSON.parse(content(tasks, t.name))).toEqual({
      "no-new-privileges": true,
      "log-driver": "json-file",
      "log-opts": { "max-size": "10m", "max-file": "3" },
    });
    const dropin = content(tasks, "Rootless daemon unit drop-in file");
    expect(dropin).toMatch(/^Environment=XDG_CONFIG_HOME=\/etc\/lockclaw-docker$/m);
    // deploy gets the socket (and search on the runtime dir), nothing else; systemd's specifiers, no $
    expect(dropin).toMatch(
      /^ExecStartPost=\/bin\/sh -c '\[ "%u" = "lockclaw-agent" \] \|\| exit 0; timeout 90 sh -c "until \[ -S %t\/docker\.sock \]; do sleep 0\.5; done"; setfacl -m u:deploy:x "%t" && setfacl -m u:deploy:rw "%t\/docker\.sock"'$/m,
    );
    expect(
      dropin
        .split("\n")
        .filter((l) => !l.startsWith("#"))
        .join("\n"),
    ).not.toContain("$");
  });
  it("the daemon runs as its own user: system, no password, no login shell, no groups", () => {
    expect(task(tasks, "The daemon's user (no sudo, no password, no login)").spec).toMatchObject({
      name: "lockclaw-agent",
      system: true,
      shell: "/usr/sbin/nologin",
      groups: [],
      append: false,
      password_locked: true,
    });
    expect(
      task(tasks, "Rootless Docker running for the daemon's user (rootful daemon disabled)").spec,
    ).toMatchObject({ user: "lockclaw-agent", disable_rootful: true, timeout: 90 });
    // deploy (sudo) or root as the daemon's user is refused before anything changes
    const guard = (vars: string[]) =>
      task(prepare(DOCKER, vars).plays[0]!.tasks, "Refuse running the daemon as the operator").spec as {
        unless: string;
      };
    expect(spawnSync("sh", ["-c", guard([]).unless]).status).toBe(0);
    expect(spawnSync("sh", ["-c", guard(["docker_user=deploy"]).unless]).status).not.toBe(0);
    // root never gets that far: its type (a user name other than root) refuses it before anything connects
    expect(() => guard(["docker_user=root"])).toThrowError(
      /variable 'docker_user' must be a lowercase POSIX user name other than root/,
    );
  });
  it("delegation drop-in, unprivileged 443, no DOCKER_HOST from profile.d (a Docker context instead)", () => {
    expect(content(tasks, "cgroup delegation for user managers (CPU limits in rootless containers)")).toMatch(
      /^Delegate=cpu cpuset io memory pids$/m,
    );
    expect(task(tasks, "Unprivileged ports from 443").spec).toMatchObject({
      settings: { "net.ipv4.ip_unprivileged_port_start": "443" },
    });
    expect(task(tasks, "No DOCKER_HOST from /etc/profile.d").spec).toMatchObject({
      path: "/etc/profile.d/lockclaw-docker-host.sh",
      state: "absent",
    });
    const ctx = task(tasks, "The operator's Docker context (deploy → the daemon's socket)").spec as {
      cmd: string;
    };
    expect(ctx.cmd).toContain("runuser -u deploy --");
    expect(ctx.cmd).toContain("docker context use lockclaw");
  });
  it("distribution packages by default, Docker's repository when docker_source is docker", () => {
    const distro = [
      "Docker from the distribution",
      "Docker's command-line client (its own package since Debian 13)",
    ];
    const repoTasks = [
      "Docker's apt key (fingerprint checked)",
      "Docker's apt repository",
      "Docker from Docker's repository",
    ];
    for (const n of distro) expect(task(tasks, n).skippedByWhen).toBe(false);
    for (const n of repoTasks) expect(task(tasks, n).skippedByWhen).toBe(true);
    const repo = prepare(DOCKER, ["docker_source=docker"]).plays[0]!.tasks;
    for (const n of distro) expect(task(repo, n).skippedByWhen).toBe(true);
    for (const n of repoTasks) expect(task(repo, n).skippedByWhen).toBe(false);
  });
  it("refuses a docker_source other than debian or docker before anything is installed", () => {
    const guardOf = (vars: string[]) => {
      const t = prepare(DOCKER, vars).plays[0]!.tasks;
      expect(t[0]!.name).toBe("Refuse unknown Docker sources");
      return t[0]!.spec as { cmd: string; unless: string };
    };
    // run the guard as the host would: non-zero = not satisfied = the failing command runs
    expect(spawnSync("sh", ["-c", guardOf([]).unless]).status).toBe(0);
    expect(spawnSync("sh", ["-c", guardOf(["docker_source=docker"]).unless]).status).toBe(0);
    // any other value is refused by its type before anything connects, naming where it came from
    expect(() => guardOf(["docker_source=ubuntu"])).toThrowError(
      /--var \(at docker_source\): variable 'docker_source' must be one of debian, docker/,
    );
  });
  it("the restart handlers leave what started after every file that notifies them alone (lc_fresh)", () => {
    const dir = mkdtempSync(join(tmpdir(), "lc-fresh-"));
    const f = join(dir, "daemon.json");
    writeFileSync(f, "{}");
    // the file's mtime: 2026-01-01 12:00:00.500000 UTC
    expect(spawnSync("touch", ["-d", "2026-01-01 12:00:00.500000 UTC", f]).status).toBe(0);
    for (const name of ["apply cgroup delegation", "restart rootless docker"]) {
      const cmd = (plays[0]!.handlers.get(name)!.spec as { cmd: string }).cmd;
      const fn = cmd.slice(0, cmd.indexOf("\n}\n") + 3);
      expect(fn).toMatch(/^lc_fresh\(\) \{/);
      const fresh = (t: string, ...files: string[]) =>
        spawnSync("sh", ["-c", `${fn}\nlc_fresh "$@"`, "sh", t, ...files]).status === 0;
      // started 0.2 s after the file was written (the first deploy): no restart; 0.2 s before: restart
      expect(fresh("Thu 2026-01-01 12:00:00.700000 UTC", f)).toBe(true);
      expect(fresh("Thu 2026-01-01 12:00:00.300000 UTC", f)).toBe(false);
      // a file that does not exist (key.json past Docker 20.10) does not count; any other doubt restarts
      expect(fresh("Thu 2026-01-01 12:00:00.700000 UTC", f, join(dir, "key.json"))).toBe(true);
      expect(fresh("", f)).toBe(false);
      expect(fresh("n/a", f)).toBe(false);
      expect(fresh("not a time", f)).toBe(false);
      expect(cmd).toContain("! lc_fresh ");
    }
  });
  it("the lab's package store gets every Debian package the docker play installs", () => {
    const pkgs = packagesFromPlaybooks([DOCKER, STACK]);
    for (const p of [
      "acl",
      "docker.io",
      "rootlesskit",
      "slirp4netns",
      "uidmap",
      "dbus-user-session",
      "docker-compose",
    ]) {
      expect(pkgs).toContain(p);
    }
    // Docker's own packages are not in Debian's archive: never asked of the lab store
    expect(pkgs).not.toContain("docker-ce");
  });
});
