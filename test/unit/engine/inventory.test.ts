import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { expandTargets, loadInventory } from "../../../src/engine/inventory.js";

function inv(text: string) {
  const f = join(mkdtempSync(join(tmpdir(), "lc-inv-")), "inventory.yml");
  writeFileSync(f, text);
  return loadInventory(f);
}

describe("inventory", () => {
  const i = () =>
    inv(`hosts:
  web1: { address: "root@203.0.113.10", vars: { ssh_port: 2200 } }
  web2: { address: "lab:t2", key: /k }
groups:
  prod: [web1, web2]
`);

  it("expands groups, host names and literal targets", () => {
    expect(expandTargets(["prod"], i()).map((h) => h.address)).toEqual(["root@203.0.113.10", "lab:t2"]);
    expect(expandTargets(["all", "root@198.51.100.1"], i()).map((h) => h.name)).toEqual([
      "web1",
      "web2",
      "root@198.51.100.1",
    ]);
    expect(expandTargets(["web1"], i())[0]!.vars[0]).toMatchObject({
      name: "ssh_port",
      // as written: the variable's type reads it (decimal only), as it does a --var
      value: "2200",
      from: { line: 2 },
    });
  });

  it("applies --limit globs", () => {
    expect(expandTargets(["prod"], i(), "web2").map((h) => h.name)).toEqual(["web2"]);
    expect(expandTargets(["prod"], i(), "w*").length).toBe(2);
    expect(() => expandTargets(["prod"], i(), "db*")).toThrowError(/matches none/);
  });

  it("names the line of a bad group member", () => {
    expect(() => inv("hosts:\n  a: { address: x }\ngroups:\n  g: [a, b]\n")).toThrowError(
      /inventory.yml:4.*group 'g' lists 'b'/,
    );
  });

  it("rejects unknown keys with their line", () => {
    expect(() => inv("hosts:\n  a: { adress: x }\n")).toThrowError(/inventory.yml:2/);
  });
});

function invFile(name: string, text: string) {
  const f = join(mkdtempSync(join(tmpdir(), "lc-inv-")), name);
  writeFileSync(f, text);
  return loadInventory(f);
}

describe("Ansible inventories", () => {
  const yaml = `all:
  vars:
    ssh_port: 2200
    ansible_user: root
  hosts:
    bastion:
  children:
    web:
      vars:
        ssh_port: 2300
      hosts:
        web1: { ansible_host: 203.0.113.10, ansible_port: 2222 }
        web2:
          ansible_host: "2001:db8::2"
          ssh_port: 2400
          ansible_python_interpreter: /usr/bin/python3
    db:
      hosts:
        db1: { ansible_host: lab:db1, ansible_user: null }
      children:
        replicas:
          hosts:
            db2:
`;

  it("reads all/children/hosts/vars: connection vars, group vars by depth, host vars last", () => {
    const i = invFile("hosts.yml", yaml.replace(", ansible_user: null", ""));
    expect([...i.hosts.keys()]).toEqual(["bastion", "web1", "web2", "db1", "db2"]);
    expect(i.groups.get("db")).toEqual(["db1", "db2"]);
    expect(i.groups.get("replicas")).toEqual(["db2"]);
    const web1 = i.hosts.get("web1")!;
    expect(web1).toMatchObject({ address: "203.0.113.10", user: "root", port: 2222 });
    // all's 2200, then web's 2300: the later (deeper) one wins when the overrides are applied in order
    expect(web1.vars.map((v) => [v.name, v.value, v.from.line])).toEqual([
      ["ssh_port", "2200", 3],
      ["ssh_port", "2300", 10],
    ]);
    const web2 = i.hosts.get("web2")!;
    expect(web2.address).toBe("2001:db8::2");
    expect(web2.vars.at(-1)).toMatchObject({ name: "ssh_port", value: "2400", from: { line: 15 } });
    expect(i.hosts.get("bastion")!.address).toBe("bastion");
    expect(expandTargets(["web*"], i).map((h) => h.name)).toEqual(["web1", "web2"]);
    expect(expandTargets(["db"], i).map((h) => h.name)).toEqual(["db1", "db2"]);
    expect(expandTargets(["all"], i, "web,db?").map((h) => h.name)).toEqual(["web1", "web2", "db1", "db2"]);
    expect(() => expandTargets(["cache*"], i)).toThrowError(/target 'cache\*' matches no host or group/);
  });

  it("refuses a lab target with a login, a hostile ansible_host, an unknown ansible_ key, with file:line", () => {
    expect(() => invFile("a.yml", yaml)).toThrowError(/a\.yml:19:\d+.*ansible_user/);
    expect(() => invFile("a.yml", yaml.replace(", ansible_user: null", ", ansible_user: x"))).toThrowError(
      /a\.yml:19:\d+.*lab:NAME target logs in as the lab recorded it/,
    );
    for (const bad of ["root@203.0.113.10", "-oProxyCommand=sh", "h;id", "h 1", "h:22"]) {
      expect(() => invFile("b.yml", `all:\n  hosts:\n    w:\n      ansible_host: "${bad}"\n`)).toThrowError(
        /b\.yml:4:\d+ .*not a host name[\s\S]*fix: set the login with ansible_user/,
      );
    }
    expect(() =>
      invFile("c.yml", `all:\n  hosts:\n    w:\n      ansible_ssh_common_args: "-o ProxyCommand=id"\n`),
    ).toThrowError(/c\.yml:4:\d+.*does not read 'ansible_ssh_common_args'[\s\S]*fix: remove it/);
    expect(() => invFile("d.yml", `all:\n  hosts:\n    w: { ansible_port: 0x16 }\n`)).toThrowError(
      /d\.yml:3:\d+.*ansible_port "0x16" is not a port/,
    );
    expect(() => invFile("e.yml", `all:\n  hosts:\n    w: { ansible_user: "a b" }\n`)).toThrowError(
      /e\.yml:3:\d+.*not a user name/,
    );
    expect(() => invFile("f.yml", `all:\n  childern:\n    web: {}\n`)).toThrowError(
      /f\.yml:3:\d+ \(at all\.childern\)[\s\S]*fix: did you mean .children./,
    );
    expect(() =>
      invFile("g.yml", `all:\n  children:\n    a:\n      children:\n        a:\n          hosts: { w: }\n`),
    ).toThrowError(/own child/);
  });

  it("reads INI: [group], [group:vars], [group:children], quoted host vars, with lines", () => {
    const i = invFile(
      "hosts",
      `# a comment
bastion ansible_host=198.51.100.1
[web]
web1 ansible_host=203.0.113.10 ansible_port=2222 ssh_port=2300
web2 admin_cidrs='203.0.113.7/32, 198.51.100.0/24'

[web:vars]
ssh_port=2200

[prod:children]
web
`,
    );
    expect(i.hosts.get("bastion")).toMatchObject({ address: "198.51.100.1" });
    expect(i.hosts.get("web1")).toMatchObject({ address: "203.0.113.10", port: 2222 });
    expect(i.groups.get("prod")).toEqual(["web1", "web2"]);
    // group vars first, the host's own last
    expect(i.hosts.get("web1")!.vars.map((v) => [v.name, v.value, v.from.line])).toEqual([
      ["ssh_port", "2200", 8],
      ["ssh_port", "2300", 4],
    ]);
    expect(i.hosts.get("web2")!.vars[1]).toMatchObject({
      name: "admin_cidrs",
      value: "203.0.113.7/32, 198.51.100.0/24",
    });
    expect(() => invFile("hosts", "[web]\nweb1 port\n")).toThrowError(/hosts:2.*not key=value/);
    expect(() => invFile("hosts", "[web]\nweb[01:03]\n")).toThrowError(
      /hosts:2.*bad host name[\s\S]*list each host/,
    );
    expect(() => invFile("hosts", "[web\n")).toThrowError(/hosts:1.*not a section header/);
  });
});
