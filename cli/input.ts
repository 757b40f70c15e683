// Reads Kubernetes manifests for the CLI: files, directories (recursively, *.yaml|*.yml|*.json) or
// stdin ("-"), multi-document YAML or JSON, `kind: List` expanded. Keeps each document's YAML node
// tree so a finding's field path can be mapped back to a line for text and SARIF output.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { type Document, LineCounter, parseAllDocuments } from "yaml";

export interface InputDoc {
  /** File path as given (or "-" for stdin). */
  file: string;
  /** 0-based index of the YAML document in the file; List items add ".items[i]". */
  index: number;
  /** Path prefix inside the document (["items", 3] for List items). */
  prefix: (string | number)[];
  object: unknown;
  doc: Document;
  lines: LineCounter;
}

export class InputError extends Error {
  override name = "InputError";
}

const MANIFEST = /\.(ya?ml|json)$/i;

function expandPaths(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    if (p === "-") {
      out.push(p);
      continue;
    }
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(p);
    } catch (err) {
      throw new InputError(
        `${p}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
    if (st.isDirectory()) {
      const entries = readdirSync(p, { withFileTypes: true })
        .filter((e) => !e.name.startsWith("."))
        .sort((a, b) => a.name.localeCompare(b.name));
      out.push(
        ...expandPaths(
          entries
            .filter((e) => e.isDirectory() || (e.isFile() && MANIFEST.test(e.name)))
            .map((e) => join(p, e.name)),
        ),
      );
    } else {
      out.push(p);
    }
  }
  return out;
}

export function readInputs(paths: string[], readStdin: () => string): InputDoc[] {
  const docs: InputDoc[] = [];
  let stdinUsed = false;
  for (const file of expandPaths(paths)) {
    let text: string;
    if (file === "-") {
      if (stdinUsed) throw new InputError("'-' (stdin) given more than once");
      stdinUsed = true;
      text = readStdin();
    } else {
      try {
        text = readFileSync(file, "utf8");
      } catch (err) {
        throw new InputError(
          `${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        );
      }
    }
    docs.push(...parseText(file, text));
  }
  return docs;
}

export function parseText(file: string, text: string): InputDoc[] {
  const lines = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false });
  const list = Array.isArray(parsed) ? parsed : [parsed];
  const out: InputDoc[] = [];
  list.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      const pos = e.pos ? lines.linePos(e.pos[0]) : undefined;
      throw new InputError(
        `${file}: document ${index}${pos ? ` (line ${pos.line})` : ""}: not valid YAML/JSON: ${e.message.split("\n")[0]}`,
      );
    }
    const object = doc.toJS({ maxAliasCount: 100 }) as unknown;
    if (object === null || object === undefined) return; // empty document (e.g. a trailing ---)
    if (typeof object !== "object" || Array.isArray(object)) {
      throw new InputError(
        `${file}: document ${index}: expected a Kubernetes object (a mapping), got ${Array.isArray(object) ? "a list" : typeof object}`,
      );
    }
    const o = object as { kind?: unknown; items?: unknown };
    if (typeof o.kind === "string" && o.kind.endsWith("List") && Array.isArray(o.items)) {
      o.items.forEach((item, i) => {
        out.push({ file, index, prefix: ["items", i], object: item, doc, lines });
      });
      return;
    }
    out.push({ file, index, prefix: [], object, doc, lines });
  });
  return out;
}

/** Splits a field path as the rules write it: a.b[2]["x/y"].c -> ["a","b",2,"x/y","c"]. */
export function parseFieldPath(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  const re = /([^.[\]]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/g;
  for (const m of path.matchAll(re)) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else if (m[3] !== undefined) out.push(JSON.parse(m[3]) as string);
  }
  return out;
}

/** Line/column of the deepest node on `path` that exists in the document (1-based). */
export function locate(d: InputDoc, path: string): { line: number; column: number } | undefined {
  const segs = [...d.prefix, ...parseFieldPath(path)];
  for (let n = segs.length; n >= 0; n--) {
    const node = d.doc.getIn(segs.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node && typeof node === "object" && Array.isArray(node.range)) {
      const pos = d.lines.linePos(node.range[0]);
      return { line: pos.line, column: pos.col };
    }
  }
  return undefined;
}
