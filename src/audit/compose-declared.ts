/**
 * What the compose file on the host declares per service, for the audit to hold the running containers
 * to it: a read-only root where the file asks for one, and exactly the declared networks. Read from the
 * file compose itself used (the project's `config_files` label), so the audit needs no playbook.
 */
import { parse } from "yaml";

export interface DeclaredService {
  readOnly: boolean;
  /** Docker network names as compose creates them (`<project>_<key>`, or the network's own `name:`). */
  networks: string[];
}

interface ComposeDoc {
  name?: string;
  services?: Record<string, { read_only?: boolean; networks?: string[] | Record<string, unknown> | null }>;
  networks?: Record<string, { name?: string } | null>;
}

/** service → declaration; undefined when the text is not a compose file we can read. */
export function declaredServices(text: string, project: string): Map<string, DeclaredService> | undefined {
  let doc: ComposeDoc;
  try {
    doc = parse(text, { merge: true }) as ComposeDoc;
  } catch {
    return undefined;
  }
  if (!doc || typeof doc !== "object" || !doc.services) return undefined;
  const netName = (key: string) => doc.networks?.[key]?.name ?? `${project}_${key}`;
  const out = new Map<string, DeclaredService>();
  for (const [service, s] of Object.entries(doc.services)) {
    const keys = Array.isArray(s?.networks) ? s.networks : Object.keys(s?.networks ?? {});
    out.set(service, {
      readOnly: s?.read_only === true,
      // a service with no networks key joins the project's default network
      networks: (keys.length ? keys.map(netName) : [`${project}_default`]).sort(),
    });
  }
  return out;
}
