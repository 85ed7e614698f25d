/**
 * Just enough tar for image bundles: an index of an uncompressed tar file (name → where its bytes are),
 * read by seeking from header to header (a 1 GB tarball costs a few hundred small reads, nothing is
 * hashed), and a writer of a new ustar stream whose file bodies are byte ranges of those tarballs.
 * Understands ustar, GNU long names (L) and PAX path/size records (x), as Go's archive/tar (docker save)
 * writes them; hard and symbolic links are kept as aliases of their target.
 */
import { closeSync, createReadStream, fstatSync, openSync, readSync } from "node:fs";
import { posix } from "node:path";
import { Readable } from "node:stream";

const BLOCK = 512;

export interface TarEntry {
  name: string;
  type: "file" | "dir" | "link" | "other";
  /** Offset of the body in the tar file. */
  offset: number;
  size: number;
  /** Target of a hard or symbolic link (as stored). */
  linkname?: string;
}

/** A byte range of a local file. */
export interface Extent {
  file: string;
  offset: number;
  size: number;
}

const cstr = (b: Buffer, start: number, len: number) => {
  const s = b.subarray(start, start + len);
  const nul = s.indexOf(0);
  return (nul < 0 ? s : s.subarray(0, nul)).toString("utf8");
};

/** A numeric header field: octal text, or GNU base-256 (high bit set) for values past 8 GiB. */
function num(b: Buffer, start: number, len: number, what: string): number {
  const f = b.subarray(start, start + len);
  if (f[0]! & 0x80) {
    let v = 0;
    for (let i = 1; i < len; i++) v = v * 256 + f[i]!;
    if (!Number.isSafeInteger(v)) throw new Error(`tar: ${what} too large`);
    return v;
  }
  const t = cstr(b, start, len).trim();
  if (t === "") return 0;
  if (!/^[0-7]+$/.test(t)) throw new Error(`tar: bad ${what} field ${JSON.stringify(t)}`);
  return parseInt(t, 8);
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  return sum === num(h, 148, 8, "checksum");
}

function paxRecords(body: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  while (i < body.length) {
    const sp = body.indexOf(0x20, i);
    if (sp < 0) break;
    const len = parseInt(body.subarray(i, sp).toString("ascii"), 10);
    if (!(len > 0) || i + len > body.length) throw new Error("tar: bad PAX record");
    const rec = body.subarray(sp + 1, i + len - 1).toString("utf8");
    const eq = rec.indexOf("=");
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    i += len;
  }
  return out;
}

/** Normalised archive path: no leading ./ or /, no trailing /. */
export const normName = (n: string) => posix.normalize(n.replace(/^\/+/, "")).replace(/\/+$/, "");

/** Every entry of an uncompressed tar file, in order. Throws on anything that is not one. */
export function readTarIndex(file: string): TarEntry[] {
  const fd = openSync(file, "r");
  const h = Buffer.alloc(BLOCK);
  const fileSize = fstatSync(fd).size;
  const read = (buf: Buffer, pos: number) => {
    let n = 0;
    while (n < buf.length) {
      const r = readSync(fd, buf, n, buf.length - n, pos + n);
      if (r === 0) break;
      n += r;
    }
    return n;
  };
  try {
    const out: TarEntry[] = [];
    let pos = 0;
    let longName: string | undefined;
    let pax = new Map<string, string>();
    for (;;) {
      const n = read(h, pos);
      if (n === 0 || h.every((x) => x === 0)) break; // end of archive (two zero blocks, or EOF)
      if (n < BLOCK) throw new Error("tar: truncated header");
      if (!checksumOk(h)) throw new Error(`tar: bad header checksum at byte ${pos} (not a tar file?)`);
      const flag = String.fromCharCode(h[156]!);
      let size = num(h, 124, 12, "size");
      const body = pos + BLOCK;
      const next = body + Math.ceil(size / BLOCK) * BLOCK;
      if (flag === "L" || flag === "x" || flag === "K") {
        if (size > 1 << 20) throw new Error("tar: oversized extended header");
        const b = Buffer.alloc(size);
        if (read(b, body) < size) throw new Error("tar: truncated extended header");
        if (flag === "L") longName = cstr(b, 0, size);
        else if (flag === "x") pax = paxRecords(b);
        pos = next;
        continue;
      }
      if (flag === "g") {
        pos = next;
        continue;
      }
      // POSIX ustar keeps a name prefix at 345; GNU's "ustar  " header keeps times there
      const prefix = h.subarray(257, 263).toString("latin1") === "ustar\0" ? cstr(h, 345, 155) : "";
      let name = longName ?? (prefix ? `${prefix}/${cstr(h, 0, 100)}` : cstr(h, 0, 100));
      name = pax.get("path") ?? name;
      if (pax.has("size")) size = Number(pax.get("size"));
      const linkname = pax.get("linkpath") ?? cstr(h, 157, 100);
      const type =
        flag === "0" || flag === "\0" || flag === "7"
          ? "file"
          : flag === "5"
            ? "dir"
            : flag === "1" || flag === "2"
              ? "link"
              : "other";
      const entry: TarEntry = { name: normName(name), type, offset: body, size: type === "file" ? size : 0 };
      // a hard link names an archive path; a symlink a path relative to its own directory
      if (flag === "1") entry.linkname = normName(linkname);
      if (flag === "2") {
        entry.linkname = linkname.startsWith("/")
          ? normName(linkname)
          : normName(posix.join(posix.dirname(entry.name), linkname));
      }
      if (body + entry.size > fileSize) throw new Error(`tar: ${entry.name} runs past the end (truncated?)`);
      out.push(entry);
      pos = body + Math.ceil(size / BLOCK) * BLOCK;
      longName = undefined;
      pax = new Map();
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/** The regular file an archive path stands for, following links inside the archive. */
export function resolveEntry(index: Map<string, TarEntry>, name: string): TarEntry | undefined {
  let cur = normName(name);
  for (let hops = 0; hops < 16; hops++) {
    const e = index.get(cur);
    if (!e || e.type === "file") return e;
    if (e.type !== "link" || e.linkname === undefined) return undefined;
    cur = e.linkname;
  }
  return undefined;
}

function header(name: string, size: number, mtime: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  if (Buffer.byteLength(name) > 100) throw new Error(`tar: name too long for ustar: ${name}`);
  h.write(name, 0, 100, "utf8");
  h.write("0000600\0", 100, "ascii");
  h.write("0000000\0", 108, "ascii");
  h.write("0000000\0", 116, "ascii");
  if (size <= 0o77777777777) h.write(`${size.toString(8).padStart(11, "0")}\0`, 124, "ascii");
  else {
    // base-256 for a body past 8 GiB
    h[124] = 0x80;
    let v = size;
    for (let i = 135; i > 124; i--) {
      h[i] = v % 256;
      v = Math.floor(v / 256);
    }
  }
  h.write(`${mtime.toString(8).padStart(11, "0")}\0`, 136, "ascii");
  h[156] = 0x30; // "0": a regular file
  h.write("ustar\0", 257, "latin1");
  h.write("00", 263, "latin1");
  h.fill(32, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
  return h;
}

/** A member of the tar to write: literal bytes, or a byte range of a local file. */
export type TarMember = { name: string; data: Buffer } | { name: string; extent: Extent };

export const tarSize = (members: TarMember[]) =>
  members.reduce(
    (n, m) => n + BLOCK + Math.ceil(("data" in m ? m.data.length : m.extent.size) / BLOCK) * BLOCK,
    0,
  ) +
  2 * BLOCK;

/** A ustar stream of the members, in order; file ranges are read as the stream is consumed. */
export function tarStream(members: TarMember[], mtime = 0): Readable {
  async function* gen(): AsyncGenerator<Buffer> {
    for (const m of members) {
      const size = "data" in m ? m.data.length : m.extent.size;
      yield header(m.name, size, mtime);
      if ("data" in m) yield m.data;
      else if (size > 0) {
        let got = 0;
        for await (const chunk of createReadStream(m.extent.file, {
          start: m.extent.offset,
          end: m.extent.offset + size - 1,
          highWaterMark: 1 << 20,
        })) {
          got += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
        if (got !== size) throw new Error(`${m.extent.file}: changed while being sent (short read)`);
      }
      const pad = (BLOCK - (size % BLOCK)) % BLOCK;
      if (pad) yield Buffer.alloc(pad);
    }
    yield Buffer.alloc(2 * BLOCK);
  }
  return Readable.from(gen(), { objectMode: false });
}
