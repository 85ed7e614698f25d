/**
 * Issue 5, the hardened compose stack, end to end on a lab machine with no network: ONE `provision host
 * --bundle <image tarballs>` run hardens the host, installs rootless Docker and deploys the stack (images
 * loaded from the bundle and pinned by digest on the host); all containers healthy and hardened, egress and
 * Docker API confined, no secret in the run's output, in `ps` on the host during the run, or in `docker
 * inspect`; re-run 0 changed; a removed container, a removed image, an edited compose file and a changed
 * setting are detected by --check and corrected. The bundle travels as one tarball of the images the host
 * lacks, each shared layer once, and is not kept on the host.
 */
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import type { StackLabImages } from "../../../src/stack/lab-images.js";
import { cliFor, events, httpStatusLine, probePort, show, target } from "../host/support.js";
import { sshArgs, useMachines } from "../support/lab.js";
import { stackLabImages } from "../../../src/stack/lab-bundle.js";

const log = (line: string) => process.stderr.write(`[stack] ${line}\n`);
const PROJECT = "lockclaw";
const STACK = "/srv/lockclaw";
/** The rootless daemon's user (playbooks/docker.yml): no sudo, no login. */
const AGENT = "lockclaw-agent";
/** Where image_bundle stages the one tarball it sends (playbooks/stack.yml's bundle_host_dir). */
const BUNDLE_HOST_DIR = "/var/lib/lockclaw/bundle";
/** Bytes of each upload of a `--json -v` run (the engine's debug events). */
const uploadedBytes = (out: string) =>
  events(out)
    .filter((e) => e.type === "debug")
    .map((e) => /: upload .* \((\d+) bytes\), exit 0$/.exec(String(e.message))?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number);
const SERVICES = ["egress", "gateway", "ingress", "litellm", "redis", "socket-proxy"];
/** Networks per service as compose.yml.hbs declares them (compose prefixes the project name). */
const NETWORKS: Record<string, string[]> = {
  gateway: ["docker-api-net", "openclaw-net"],
  "socket-proxy": ["docker-api-net"],
  egress: ["egress-net", "openclaw-net"],
  litellm: ["openclaw-net"],
  redis: ["openclaw-net"],
  ingress: ["ingress-net", "openclaw-net"],
};
// A provider key given by the user (through a 0600 vars file, never argv): it must not show anywhere either
const PROVIDER_KEY = `sk-ant-lab-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;

describe("provision stack on a lab machine, offline (--bundle)", () => {
  const machines = useMachines(1, { prefix: "st" });
  const machine = () => machines[0]!;
  const cli = cliFor();
  let images: StackLabImages;
  let stackArgs: string[];
  const deploy = (cmd: string, timeoutMs = 120_000) =>
    machine().ssh(cmd, { user: "deploy", port: 2222, timeoutMs });
  /** docker as deploy over plain SSH: its Docker context leads to lockclaw-agent's rootless daemon. */
  const dk = (args: string, timeoutMs?: number) => deploy(`docker ${args}`, timeoutMs);
  const containerOf = async (service: string) => {
    const r = await dk(
      `ps -aq --filter label=com.docker.compose.project=${PROJECT} --filter label=com.docker.compose.service=${service}`,
    );
    return r.stdout.trim().split("\n").filter(Boolean);
  };
  /**
   * docker exec into a container. runc sometimes fails to start the exec'd process in a container that
   * has just been (re)created ("read init-p: connection reset by peer", seen once in CI on a loaded
   * 2-core machine); that is the runtime's hiccup, not the stack's state, so only that error is retried.
   */
  const execIn = async (id: string, cmd: string, timeoutMs?: number) => {
    for (let attempt = 1; ; attempt++) {
      const r = await dk(`exec ${id} ${cmd}`, timeoutMs);
      if (attempt >= 5 || !/OCI runtime exec failed/.test(r.stdout + r.stderr)) return r;
      log(`exec in ${id} attempt ${attempt}: ${(r.stdout + r.stderr).trim()}; again in 3 s`);
      await new Promise((done) => setTimeout(done, 3000));
    }
  };
  /** Runs a node script inside the gateway container (it has node; no curl). */
  const inGateway = async (script: string) => {
    const [id] = await containerOf("gateway");
    const b64 = Buffer.from(script).toString("base64");
    return execIn(id!, `node -e "$(echo ${b64} | base64 -d)"`, 60_000);
  };

  /** On failure: the containers' states and log tails, to say why (the lab's images print no secret). */
  const diagnose = async () => {
    const r = await dk(
      `ps -a --format '{{.Names}} {{.State}} {{.Status}}'; for c in $(docker ps -aq); do echo "--- $(docker inspect --format '{{.Name}}' $c)"; docker logs --tail 15 $c 2>&1; done`,
    );
    log(`diagnostics:\n${r.stdout}${r.stderr}`);
  };

  beforeAll(async () => {
    images = await stackLabImages(log);
    log(`SUBSTITUTIONS (lab images, not production's):\n  - ${images.substitutions.join("\n  - ")}`);
    // the provider key is a secret: it goes in a 0600 vars file, never on the command line
    const vars: Record<string, string | boolean> = {
      ...images.vars,
      anthropic_api_key: PROVIDER_KEY,
    };
    const varsDir = mkdtempSync(join(tmpdir(), "lc-stack-vars-"));
    const varsFile = join(varsDir, "stack-vars.yml");
    // 0600: it holds a provider key (never given on the command line, where ps would show it)
    writeFileSync(varsFile, stringify(vars), { mode: 0o600 });
    chmodSync(varsFile, 0o600);
    stackArgs = ["--bundle", images.dir, "--vars-file", varsFile];
  }, 1_800_000); // a cold machine builds the lab image bundle here first (about 8 min idle, 23 under load)

  it("lab stack-images --vars-out, the demo's first step, writes the bundle's vars through the built CLI", () => {
    // the bundled CLI (dist/, built by setup), as the demo runs it: its lazy imports differ from the
    // sources' (a dynamic import("yaml") had no `stringify` there); the images are cached by now
    const dir = mkdtempSync(join(tmpdir(), "lc-stack-varsout-"));
    const file = join(dir, "vars.yml");
    execFileSync(
      process.execPath,
      [join(import.meta.dirname, "../../../bin/lockclaw.js"), "lab", "stack-images", "--vars-out", file],
      {
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    expect(parse(readFileSync(file, "utf8"))).toEqual({ ...images.vars, bundle_src: images.dir });
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  let firstRun = "";
  let psSamples = "";
  it("provision host: hardens the host and deploys the stack from the bundle, every container healthy", async () => {
    // ps on the host from a second SSH session as deploy on 2222: it connects as soon as the host part of
    // the run has created deploy and moved sshd, and samples all through the Docker and stack parts
    const chunks: Buffer[] = [];
    let sampling = true;
    let sampler: ReturnType<typeof spawn> | undefined;
    const samplerLoop = (async () => {
      while (sampling) {
        sampler = spawn(
          "ssh",
          [
            ...sshArgs(machine().target, { user: "deploy", port: 2222 }),
            "while :; do ps -eo args; echo ---; sleep 0.3; done",
          ],
          { stdio: ["ignore", "pipe", "ignore"] },
        );
        sampler.stdout!.on("data", (c: Buffer) => chunks.push(c));
        await new Promise((done) => sampler!.on("exit", done));
        if (sampling) await new Promise((r) => setTimeout(r, 1000));
      }
    })();
    const t0 = Date.now();
    const r = await cli(["provision", "host", target(machine()), ...stackArgs, "--json", "-v"], {});
    sampling = false;
    sampler?.kill("SIGTERM");
    await samplerLoop;
    psSamples = Buffer.concat(chunks).toString("utf8");
    log(`provision host (host + docker + stack): exit ${r.code} in ${Math.round((Date.now() - t0) / 1000)}s`);
    firstRun = r.stdout + r.stderr;
    if (r.code !== 0) await diagnose();
    // a successful apply exits 0; what changed is in the recap
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/"type":"recap".*"changed":[1-9]/);
    expect(psSamples.split("\n---\n").length, "ps was sampled during the run").toBeGreaterThan(10);

    const ps = await dk(
      `ps -a --filter label=com.docker.compose.project=${PROJECT} --format '{{.Label "com.docker.compose.service"}} {{.State}} {{.Status}}'`,
    );
    const rows = ps.stdout.trim().split("\n").sort();
    expect(rows.map((l) => l.split(" ")[0])).toEqual(SERVICES);
    for (const row of rows) {
      expect(row, row).toMatch(/^\S+ running Up .*\(healthy\)/);
    }
    // the host part ran in this same invocation, before the stack
    const tasks = events(firstRun)
      .filter((e) => (e as { type?: string }).type === "task-start")
      .map((e) => (e as { task: string }).task);
    expect(tasks.indexOf("sshd hardening")).toBeGreaterThanOrEqual(0);
    expect(tasks.indexOf("sshd hardening")).toBeLessThan(tasks.indexOf("Stack up and healthy"));
  }, 1_200_000);

  it("every container runs its image pinned by digest, as recorded in images.lock", async () => {
    const lock = await deploy(`sudo -n cat ${STACK}/images.lock`);
    expect(lock.code, lock.stderr).toBe(0);
    const pins = lock.stdout
      .trim()
      .split("\n")
      .map((l) => l.split("\t"));
    expect(pins.map((p) => p[0]).sort()).toEqual([
      "EGRESS",
      "INGRESS",
      "LITELLM",
      "OPENCLAW",
      "REDIS",
      "SOCKET_PROXY",
    ]);
    const varOf: Record<string, string> = {
      EGRESS: "image_squid",
      INGRESS: "image_ingress",
      LITELLM: "image_litellm",
      OPENCLAW: "image_openclaw",
      REDIS: "image_redis",
      SOCKET_PROXY: "image_socket_proxy",
    };
    for (const [key = "", ref, pin] of pins) {
      expect(ref, key).toBe(images.vars[varOf[key]!]);
      // images loaded from a tarball carry no registry digest: the pin is their content-addressed ID
      expect(pin, key).toMatch(/(^|@)sha256:[0-9a-f]{64}$/);
    }
    for (const svc of SERVICES) {
      const [id] = await containerOf(svc);
      const img = await dk(`inspect --format '{{.Config.Image}}' ${id}`);
      expect(img.stdout.trim(), svc).toMatch(/(^|@)sha256:[0-9a-f]{64}$/);
    }
  }, 300_000);

  it("the bundle went as one tarball smaller than its tarballs, and none is kept on the host", async () => {
    const bundleBytes = readdirSync(images.dir).reduce((n, f) => n + statSync(join(images.dir, f)).size, 0);
    const sent = uploadedBytes(firstRun);
    log(`bundle: ${bundleBytes} bytes of tarballs; sent ${sent.join(" + ")} bytes`);
    // the five images share their Debian base: each layer once is far less than the five tarballs
    expect(sent.length).toBe(1);
    expect(sent[0]!).toBeLessThan(bundleBytes * 0.75);
    const dir = await deploy(
      `sudo -n stat -c '%a %U %G' ${BUNDLE_HOST_DIR} && sudo -n ls -A ${BUNDLE_HOST_DIR}`,
    );
    expect(dir.code, dir.stderr).toBe(0);
    expect(dir.stdout.trim().split("\n")).toEqual(["700 root root", "image-ids"]);
  }, 300_000);

  it("no secret value in the run's --json -v output, in ps on the host, or in docker inspect", async () => {
    const files = await deploy(
      `sudo -n sh -c 'for f in ${STACK}/secrets/gateway_token ${STACK}/secrets/litellm_master_key ${STACK}/secrets/redis_password; do cat "$f"; echo; done'`,
    );
    expect(files.code, files.stderr).toBe(0);
    const secrets = [...files.stdout.split("\n").filter((l) => l.length >= 16), PROVIDER_KEY];
    expect(secrets.length).toBe(4);
    const inspect = await dk(
      `inspect --format '{{json .Config.Env}} {{json .Config.Cmd}} {{json .Config.Entrypoint}} {{json .Args}} {{json .Path}}' $(docker ps -aq --filter label=com.docker.compose.project=${PROJECT})`,
    );
    expect(inspect.code, inspect.stderr).toBe(0);
    for (const s of secrets) {
      expect(firstRun.includes(s), "secret in the run's output").toBe(false);
      expect(psSamples.includes(s), "secret in ps -eo args on the host").toBe(false);
      expect(inspect.stdout.includes(s), "secret in docker inspect").toBe(false);
    }
    // the provider key did reach the stack: in its 0600 secret file
    const keyFile = await deploy(`sudo -n cat ${STACK}/secrets/provider_keys.env`);
    expect(keyFile.stdout).toContain(PROVIDER_KEY);
  }, 120_000);

  it("hardens every container: no capability, no-new-privileges, read-only root, declared networks", async () => {
    for (const service of SERVICES) {
      const [id] = await containerOf(service);
      const r = await dk(
        `inspect --format '{{json .HostConfig.CapDrop}}|{{json .HostConfig.SecurityOpt}}|{{.HostConfig.ReadonlyRootfs}}|{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}' ${id}`,
      );
      expect(r.code, r.stderr).toBe(0);
      const [capDrop, secOpt, ro, nets] = r.stdout.trim().split("|");
      expect(JSON.parse(capDrop!), service).toEqual(["ALL"]);
      expect(secOpt, service).toContain("no-new-privileges:true");
      expect(ro, `${service} read-only root`).toBe("true");
      expect(nets!.trim().split(" ").sort(), service).toEqual(
        NETWORKS[service]!.map((n) => `${PROJECT}_${n}`),
      );
      const status = await execIn(id!, "cat /proc/1/status");
      expect(status.stdout, service).toMatch(/^CapEff:\s+0{16}$/m);
      expect(status.stdout, service).toMatch(/^NoNewPrivs:\s+1$/m);
    }
  }, 300_000);

  it("the gateway starts from the image's compile cache: root's, read-only, with the gateway's modules", async () => {
    // images/openclaw/populate-compile-cache.sh fills it at build time; OpenClaw's launcher hands the
    // gateway process NODE_COMPILE_CACHE=<the image's cache>/openclaw/<version>/<install marker>
    const r = await inGateway(
      `const fs=require("fs");const base="/opt/lockclaw/compile-cache";` +
        `const dirs=[];for(const p of fs.readdirSync("/proc")){if(!/^\\d+$/.test(p))continue;` +
        `let env="",cmd="";try{env=fs.readFileSync("/proc/"+p+"/environ","utf8");cmd=fs.readFileSync("/proc/"+p+"/cmdline","utf8")}catch{continue}` +
        `const m=/(?:^|\\0)NODE_COMPILE_CACHE=([^\\0]*)/.exec(env);if(cmd.includes("gateway")&&m)dirs.push(m[1])}` +
        `const files=(d)=>fs.readdirSync(d,{withFileTypes:true}).reduce((n,e)=>n+(e.isDirectory()?files(d+"/"+e.name):e.isFile()?1:0),0);` +
        `let writable=true;try{fs.accessSync(base,fs.constants.W_OK)}catch{writable=false}` +
        `const st=fs.statSync(base);` +
        `console.log(JSON.stringify({dirs,files:files(base),writable,uid:st.uid,mode:(st.mode&0o777).toString(8)}))`,
    );
    expect(r.code, r.stderr).toBe(0);
    const c = JSON.parse(r.stdout.trim()) as {
      dirs: string[];
      files: number;
      writable: boolean;
      uid: number;
      mode: string;
    };
    expect(
      c.dirs.some((d) => d.startsWith("/opt/lockclaw/compile-cache/openclaw/")),
      r.stdout,
    ).toBe(true);
    expect(c.files).toBeGreaterThan(1000);
    expect(c.writable).toBe(false);
    expect(c.uid).toBe(0);
    expect(c.mode).toBe("555");
  }, 120_000);

  it("from the gateway: no direct egress, a denied name refused by the proxy (403), BUILD refused (403)", async () => {
    const direct = await inGateway(
      `const s=require("net").connect({host:"1.1.1.1",port:443,timeout:4000});` +
        `s.on("connect",()=>{console.log("CONNECTED");process.exit(0)});` +
        `s.on("timeout",()=>{console.log("blocked:timeout");process.exit(0)});` +
        `s.on("error",e=>{console.log("blocked:"+e.code);process.exit(0)});`,
    );
    expect(direct.stdout, direct.stderr).toMatch(/^blocked:/);
    const connect = (name: string) =>
      inGateway(
        `const s=require("net").connect({host:"egress",port:3128},()=>s.write("CONNECT ${name}:443 HTTP/1.1\\r\\nHost: ${name}:443\\r\\n\\r\\n"));` +
          `let b="";s.on("data",d=>{b+=d;if(b.includes("\\r\\n")){console.log(b.split("\\r\\n")[0]);process.exit(0)}});` +
          `s.on("error",e=>{console.log("error:"+e.code);process.exit(0)});setTimeout(()=>{console.log("timeout");process.exit(0)},40000);`,
      );
    const denied = await connect("exfil.example.com");
    expect(denied.stdout.trim(), denied.stderr).toMatch(/^HTTP\/1\.[01] 403/);
    // an allowed name passes the allowlist; with no DNS in the lab squid then fails upstream (5xx), not 403
    const allowed = await connect("api.anthropic.com");
    log(
      `CONNECT api.anthropic.com:443 via squid (allowed name, no DNS in the lab): ${allowed.stdout.trim()}`,
    );
    expect(allowed.stdout.trim()).not.toMatch(/ 403/);

    const api = (method: string, path: string) =>
      inGateway(
        `fetch("http://socket-proxy:2375${path}",{method:"${method}"}).then(r=>console.log(r.status),e=>console.log("error:"+e.message))`,
      );
    expect((await api("POST", "/build")).stdout.trim()).toBe("403");
    expect((await api("POST", "/v1.41/build")).stdout.trim()).toBe("403");
    expect((await api("GET", "/secrets")).stdout.trim()).toBe("403");
    expect((await api("GET", "/_ping")).stdout.trim()).toBe("200");
    expect((await api("GET", "/containers/json")).stdout.trim()).toBe("200");
  }, 300_000);

  it("the stack's files: root's but for the gateway's state; the daemon's user owns no path leading to root", async () => {
    const r = await deploy(
      `sudo -n stat -c '%n %U:%G %a' ${STACK} ${STACK}/compose.yml ${STACK}/secrets ${STACK}/gateway ${STACK}/openclaw ${STACK}/egress/squid.conf`,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual([
      `${STACK} root:${AGENT} 750`,
      `${STACK}/compose.yml root:${AGENT} 640`,
      `${STACK}/secrets root:${AGENT} 750`,
      `${STACK}/gateway root:${AGENT} 750`,
      `${STACK}/openclaw ${AGENT}:${AGENT} 700`,
      `${STACK}/egress/squid.conf root:root 644`,
    ]);
  }, 60_000);

  it("the Docker API is out of the ingress's and LiteLLM's reach: socket-proxy is not even a name there", async () => {
    for (const svc of ["ingress", "litellm", "redis", "egress"]) {
      const [id] = await containerOf(svc);
      const r = await execIn(id!, "sh -c 'getent hosts socket-proxy || echo unresolved'");
      expect(r.stdout.trim(), `${svc}: ${r.stderr}`).toBe("unresolved");
    }
  }, 120_000);

  it("through the real socket proxy, from the gateway: a container bind-mounting / gets no root", async () => {
    const marker = "/root/lc-escaped-proxy";
    // the gateway's own image (present on the host): sh, and a root user in the container
    const [gw] = await containerOf("gateway");
    const image = (await dk(`inspect --format '{{.Image}}' ${gw}`)).stdout.trim();
    const payload = `sudo -n sh -c 'id -u > ${marker}' 2>/dev/null`;
    const targets = [
      "/host/home/deploy/.profile",
      "/host/home/deploy/.bashrc",
      "/host/root/.profile",
      "/host/etc/sudoers.d/lc-escape",
      "/host/etc/profile.d/lc-escape.sh",
      `/host${STACK}/compose.yml`,
    ];
    const sh =
      `for f in ${targets.join(" ")}; do if (printf '%s\\n' "$P" >> "$f") 2>/dev/null; then echo "WROTE $f"; else echo "DENIED $f"; fi; done; ` +
      `echo "UID $(id -u)"`;
    const create = {
      Image: image,
      User: "0:0",
      Entrypoint: ["sh", "-c"],
      Cmd: [sh],
      Env: [`P=${payload}`],
      HostConfig: { Binds: ["/:/host", "/home:/homes"], Privileged: true, NetworkMode: "none" },
    };
    const r = await inGateway(
      `const api=(m,p,b)=>fetch("http://socket-proxy:2375/v1.41"+p,{method:m,headers:{"content-type":"application/json"},body:b&&JSON.stringify(b)});` +
        `(async()=>{const c=await api("POST","/containers/create",${JSON.stringify(create)});` +
        `if(c.status!==201){console.log("REFUSED "+c.status);return}const id=(await c.json()).Id;` +
        `const st=await api("POST","/containers/"+id+"/start");if(st.status!==204){console.log("REFUSED start "+st.status);return}` +
        `await api("POST","/containers/"+id+"/wait");const l=await api("GET","/containers/"+id+"/logs?stdout=1&stderr=1");` +
        `console.log(Buffer.from(await l.arrayBuffer()).toString("latin1").replace(/[\\x00-\\x08]/g,""));` +
        `await api("DELETE","/containers/"+id+"?force=1")})().catch(e=>console.log("ERROR "+e.message))`,
    );
    log(`escape attempt through the socket proxy:\n${r.stdout.trim()}`);
    expect(r.stdout).not.toMatch(/ERROR/);
    // refused outright, or run: then as container root (the daemon's user on the host) and every write denied
    if (!/^REFUSED/m.test(r.stdout)) {
      expect(r.stdout).toMatch(/UID 0/);
      expect(r.stdout).not.toMatch(/WROTE/);
      for (const t of targets) expect(r.stdout).toContain(`DENIED ${t}`);
    }
    // deploy logs in (a payload in .profile would run now, with sudo): no root came of it
    const login = await machine().ssh("bash -lic true", { user: "deploy", port: 2222 });
    expect(login.code, login.stderr).toBe(0);
    expect((await deploy(`sudo -n test -e ${marker} && echo escaped || echo none`)).stdout.trim()).toBe(
      "none",
    );
    const agentSudo = await deploy(`sudo -n -u ${AGENT} sudo -n true`);
    expect(agentSudo.code).not.toBe(0);
  }, 300_000);

  it("a second run changes nothing (exit 0)", async () => {
    const t0 = Date.now();
    const r = await cli(["provision", "host", target(machine()), ...stackArgs, "--json"]);
    const recap = events(r.stdout).find((e) => e.type === "recap") as
      { durationMs: number; hosts: Array<{ changed: number; execs: number }> } | undefined;
    log(
      `provision host, no-op: exit ${r.code} in ${((Date.now() - t0) / 1000).toFixed(1)}s ` +
        `(run ${recap?.durationMs} ms, ${recap?.hosts[0]?.execs} SSH execs)`,
    );
    expect(r.code, show(r)).toBe(0);
    expect(recap?.hosts[0]?.changed, show(r)).toBe(0);
    // the three plays (host, docker, stack) read the host in one batched probe exec
    expect(recap?.hosts[0]?.execs, show(r)).toBe(1);
  }, 600_000);

  it("a compose value edited on the host is detected by --check and put back, without recreating anything", async () => {
    const [before] = await containerOf("redis");
    const edit = await deploy(`sudo -n sed -i 's/mem_limit: "256m"/mem_limit: "999m"/' ${STACK}/compose.yml`);
    expect(edit.code, edit.stderr).toBe(0);
    const check = await cli(["provision", "stack", target(machine()), ...stackArgs, "--check"]);
    expect(check.code, show(check)).toBe(2);
    expect(check.stdout).toMatch(/Compose file/);
    const fix = await cli(["provision", "stack", target(machine()), ...stackArgs]);
    // a successful apply exits 0; what changed is in the recap
    expect(fix.code, show(fix)).toBe(0);
    expect(fix.stdout).toMatch(/\bchanged=[1-9]/);
    expect((await deploy(`sudo -n grep -c '999m' ${STACK}/compose.yml`)).stdout.trim()).toBe("0");
    // the containers never ran with the edited value: none was recreated
    expect(await containerOf("redis")).toEqual([before]);
    const again = await cli(["provision", "stack", target(machine()), ...stackArgs, "--check"]);
    expect(again.code, show(again)).toBe(0);
  }, 600_000);

  it("a changed setting recreates the service that reads it (config hash), then nothing", async () => {
    const ids = Object.fromEntries(await Promise.all(SERVICES.map(async (s) => [s, await containerOf(s)])));
    // the squid allowlist is bind-mounted into egress: only egress reads it
    const changed = [...stackArgs, "--var", 'egress_allowlist_squid=[".anthropic.com"]'];
    const check = await cli(["provision", "stack", target(machine()), ...changed, "--check"]);
    expect(check.code, show(check)).toBe(2);
    expect(check.stdout).toMatch(/changed +Squid allowlist/);
    expect(check.stdout).toMatch(/handler: stack up/);
    const r = await cli(["provision", "stack", target(machine()), ...changed]);
    // a successful apply exits 0; what changed is in the recap
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/\bchanged=[1-9]/);
    expect(await containerOf("egress"), "egress").not.toEqual(ids.egress);
    // compose v2 also recreates the services that depend_on a recreated one (gateway, litellm, and the
    // ingress in front of the gateway: docker/compose#10308); the others stay as they were
    for (const svc of ["redis", "socket-proxy"]) expect(await containerOf(svc), svc).toEqual(ids[svc]);
    const conf = await execIn((await containerOf("egress"))[0]!, "grep -c openai /etc/squid/lockclaw.conf");
    expect(conf.stdout.trim()).toBe("0");
    const again = await cli(["provision", "stack", target(machine()), ...changed, "--check"]);
    expect(again.code, show(again)).toBe(0);
    // back to the defaults for the tests after this one
    const back = await cli(["provision", "stack", target(machine()), ...stackArgs]);
    // a successful apply exits 0; what changed is in the recap
    expect(back.code, show(back)).toBe(0);
    expect(back.stdout).toMatch(/\bchanged=[1-9]/);
  }, 900_000);

  it("a removed container is detected by --check and restored by a run", async () => {
    const [id] = await containerOf("redis");
    expect((await dk(`rm -f ${id}`)).code).toBe(0);
    const check = await cli(["provision", "stack", target(machine()), ...stackArgs, "--check"]);
    expect(check.code, show(check)).toBe(2);
    expect(check.stdout + check.stderr).toMatch(/redis: container missing/);
    const fix = await cli(["provision", "stack", target(machine()), ...stackArgs]);
    // a successful apply exits 0; what changed is in the recap
    expect(fix.code, show(fix)).toBe(0);
    expect(fix.stdout).toMatch(/\bchanged=[1-9]/);
    const ps = await dk(
      `ps --filter label=com.docker.compose.project=${PROJECT} --filter label=com.docker.compose.service=redis --format '{{.Status}}'`,
    );
    expect(ps.stdout).toMatch(/\(healthy\)/);
    const again = await cli(["provision", "stack", target(machine()), ...stackArgs, "--check"]);
    expect(again.code, show(again)).toBe(0);
  }, 900_000);

  it("a removed image is found by --check and restored by a run that sends that image only", async () => {
    const [id] = await containerOf("redis");
    expect((await dk(`rm -f ${id}`)).code).toBe(0);
    const rmi = await dk("rmi lockclaw-lab/redis:latest");
    expect(rmi.code, rmi.stderr).toBe(0);
    const check = await cli(["provision", "stack", target(machine()), ...stackArgs, "--check"]);
    expect(check.code, show(check)).toBe(2);
    expect(check.stdout + check.stderr).toMatch(/load image lockclaw-lab\/redis:latest/);
    const fix = await cli(["provision", "stack", target(machine()), ...stackArgs, "--json", "-v"]);
    expect(fix.code, show(fix)).toBe(0);
    // the other four images are in the daemon: only redis's config and its one layer travel
    const sent = uploadedBytes(fix.stdout);
    log(`restoring the redis image sent ${sent.join(" + ")} bytes`);
    expect(sent.length).toBe(1);
    expect(sent[0]!).toBeLessThan(statSync(join(images.dir, "redis.tar")).size + 1e6);
    const ps = await dk(
      `ps --filter label=com.docker.compose.project=${PROJECT} --filter label=com.docker.compose.service=redis --format '{{.Status}}'`,
    );
    expect(ps.stdout).toMatch(/\(healthy\)/);
    const again = await cli(["provision", "stack", target(machine()), ...stackArgs, "--check"]);
    expect(again.code, show(again)).toBe(0);
  }, 900_000);

  it("the stack's 443 (published by rootless Docker) answers only a Cloudflare source; lockclaw audit passes", async () => {
    const m = machine();
    const host = m.target.host;
    const source = "173.245.49.90"; // inside 173.245.48.0/20, distinct from the other e2e files' addresses
    expect(await probePort(host, 443)).toBe("filtered");
    // from the CI host nothing else answers: not the stack's services, not Docker, not the old SSH port
    expect(await probePort(host, 2222)).toBe("open");
    const others = [22, 80, 2375, 2376, 3128, 4000, 4750, 6379, 8080, 8443, 18789];
    const states = await Promise.all(others.map(async (p) => `${p}:${await probePort(host, p)}`));
    expect(states).toEqual(others.map((p) => `${p}:filtered`));
    execFileSync("ip", ["addr", "add", `${source}/32`, "dev", m.lab!.veth]);
    try {
      const route = await m.ssh(`sudo -n ip route replace ${source}/32 dev host0`, {
        user: "deploy",
        port: 2222,
      });
      expect(route.code, route.stderr).toBe(0);
      expect(await probePort(host, 443, source)).toBe("open");
      // through the ingress passthrough to the gateway, which listens on the stack's network (bind: lan)
      expect(await httpStatusLine(host, 443, "/healthz", source)).toMatch(/^HTTP\/1\.[01] 200/);
    } finally {
      execFileSync("ip", ["addr", "del", `${source}/32`, "dev", m.lab!.veth]);
    }
    const audit = await cli(["audit", target(m), "--json"]);
    const [report] = events(audit.stdout) as Array<{
      checks: Array<{ id: string; pass: boolean; evidence: string }>;
    }>;
    const failed = report!.checks.filter((c) => !c.pass).map((c) => `${c.id}: ${c.evidence}`);
    expect(failed, show(audit)).toEqual([]);
    expect(audit.code).toBe(0);
    // OpenClaw's own checks ran inside the gateway (not skipped) and passed (failed is empty above)
    for (const id of [
      "openclaw.security_audit",
      "openclaw.gateway_probe",
      "openclaw.sandbox",
      "openclaw.elevated",
    ]) {
      expect(report!.checks.map((c) => c.id)).toContain(id);
    }
    // the Docker part of the audit looked at every container of the stack
    for (const svc of SERVICES) {
      for (const what of ["caps", "nnp", "readonly", "networks"]) {
        expect(report!.checks.map((c) => c.id)).toContain(`container.${PROJECT}-${svc}-1.${what}`);
      }
    }
  }, 300_000);
});
