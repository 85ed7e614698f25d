import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../../src/core/errors.js";
import {
  buildOrder,
  contextDir,
  dockerfileArgs,
  parseImageName,
  readDockerfileArgs,
} from "../../../src/images/catalog.js";
import { openclawVersions } from "../../../src/images/openclaw-context.js";
import { suiteOf } from "../../../src/images/offline-base.js";

describe("image catalog", () => {
  it("builds dependencies first, each once", () => {
    expect(buildOrder(["openclaw"])).toEqual(["base", "openclaw"]);
    expect(buildOrder(["openclaw", "base", "ollama"])).toEqual(["base", "openclaw", "ollama"]);
    expect(buildOrder([])).toEqual(["base", "ollama", "openclaw"]);
  });

  it("rejects an unknown image name with the list of valid ones", () => {
    expect(() => parseImageName("nginx")).toThrow(ConfigError);
    expect(() => parseImageName("nginx")).toThrow(/base, ollama, openclaw/);
  });

  it("reads ARG defaults, quoted ones included, first definition wins", () => {
    const a = dockerfileArgs(
      'ARG A=1\nARG B="x y z"\nARG C\nARG A=2\n  ARG D=debian:bookworm-slim@sha256:ab\n',
    );
    expect(a).toEqual({ A: "1", B: "x y z", D: "debian:bookworm-slim@sha256:ab" });
  });

  it("pins Node and openclaw in the openclaw Dockerfile, with Node inside openclaw's engines range", () => {
    const v = openclawVersions();
    expect(v.node).toMatch(/^\d+\.\d+\.\d+$/);
    expect(v.nodeIntegrity).toMatch(/^sha512-[A-Za-z0-9+/]+=*$/);
    const [major, minor] = v.node.split(".").map(Number);
    // openclaw 2026.9.x: node ">=24.16.0 <25 || >=26.1.0"
    expect((major === 24 && (minor ?? 0) >= 16) || (major ?? 0) >= 26).toBe(true);
  });

  it("the base image installs what the smoke test and SSH need, from a Debian FROM", () => {
    const a = readDockerfileArgs("base");
    expect(suiteOf(a.BASE_IMAGE ?? "")).toBe("bookworm");
    expect((a.LOCKCLAW_PACKAGES ?? "").split(" ")).toEqual(
      expect.arrayContaining(["openssh-server", "iproute2", "tini", "ca-certificates"]),
    );
  });

  it("keeps credentials out of every build context", () => {
    for (const name of ["base", "ollama", "openclaw"] as const) {
      const ignore = readFileSync(join(contextDir(name), ".dockerignore"), "utf8");
      for (const p of ["**/.env", "**/.env.*", "**/*.pem", "**/id_rsa*", "**/id_ed25519*", "**/.ssh"]) {
        expect(ignore.split("\n"), `${name}/.dockerignore lacks ${p}`).toContain(p);
      }
    }
  });

  it("leaves the same editor files out of lockclaw:openclaw on both builds, TypeScript's kept", () => {
    const ignore = readFileSync(join(contextDir("openclaw"), ".dockerignore"), "utf8").split("\n");
    const script = readFileSync(join(contextDir("openclaw"), "install-runtime.sh"), "utf8");
    // prepared (offline) build: .dockerignore keeps them out of the COPY layer
    const ignored = ignore.flatMap((l) => /^runtime\/\*\*\/\*(\.[a-z.]+)$/.exec(l)?.[1] ?? []);
    // online (npm) build: the same RUN that installs deletes them
    const deleted = [...script.matchAll(/-name '\*(\.[a-z.]+)'/g)].map((m) => m[1]);
    expect(ignored.sort()).toEqual([".d.cts", ".d.mts", ".d.ts", ".map"]);
    expect(deleted.sort()).toEqual(ignored);
    // the exception comes after the exclusions (the last matching line wins) and the script prunes it too
    const keep = ignore.indexOf("!runtime/app/node_modules/typescript/**");
    expect(keep).toBeGreaterThan(ignore.indexOf("runtime/**/*.d.ts"));
    expect(ignore.indexOf("runtime/**/*.d.ts")).toBeGreaterThan(
      ignore.indexOf("!runtime/app/node_modules/**"),
    );
    expect(script).toContain(`-path "$R/app/node_modules/typescript" -prune`);
  });

  it("sets exactly the seed's environment defaults and volumes", () => {
    const base = readFileSync(join(contextDir("base"), "Dockerfile"), "utf8");
    const ollama = readFileSync(join(contextDir("ollama"), "Dockerfile"), "utf8");
    const openclaw = readFileSync(join(contextDir("openclaw"), "Dockerfile"), "utf8");
    expect(base).toMatch(/LOCKCLAW_ENABLE_SSH=0/);
    expect(base).toContain('VOLUME ["/home/lockclaw/.ssh"]');
    expect(ollama).toMatch(/OLLAMA_HOST=127\.0\.0\.1:11434/);
    expect(ollama).toMatch(/OLLAMA_MODELS=\/home\/lockclaw\/\.ollama\/models/);
    expect(ollama).toContain('VOLUME ["/home/lockclaw/.ollama"]');
    expect(openclaw).toContain('VOLUME ["/home/lockclaw/.openclaw"]');
    // API keys are run-time only
    for (const f of [base, ollama, openclaw]) expect(f).not.toMatch(/^\s*(ENV|ARG)\b.*API_KEY/m);
  });
});
