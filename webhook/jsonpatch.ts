// RFC 6902 JSON Patch: the ops the mutating webhook returns, and a strict applier (used by the
// CLI's --mutate path check and by tests to prove each patch applies to the object it was made for).
import * as z from "zod";

export const patchOp = z.discriminatedUnion("op", [
  z.object({ op: z.literal("add"), path: z.string(), value: z.unknown() }),
  z.object({ op: z.literal("replace"), path: z.string(), value: z.unknown() }),
  z.object({ op: z.literal("test"), path: z.string(), value: z.unknown() }),
  z.object({ op: z.literal("remove"), path: z.string() }),
  z.object({ op: z.literal("move"), from: z.string(), path: z.string() }),
  z.object({ op: z.literal("copy"), from: z.string(), path: z.string() }),
]);
export type PatchOp = z.infer<typeof patchOp>;

/** RFC 6901: '~' -> '~0', '/' -> '~1'. */
export function escapeToken(token: string | number): string {
  return String(token).replaceAll("~", "~0").replaceAll("/", "~1");
}

export function pointer(segments: readonly (string | number)[]): string {
  return segments.map((s) => `/${escapeToken(s)}`).join("");
}

function parsePointer(p: string): string[] {
  if (p === "") return [];
  if (!p.startsWith("/")) throw new Error(`JSON pointer "${p}" must start with /`);
  return p
    .slice(1)
    .split("/")
    .map((t) => t.replaceAll("~1", "/").replaceAll("~0", "~"));
}

type Container = Record<string, unknown> | unknown[];

function arrayIndex(arr: unknown[], token: string, forAdd: boolean): number {
  if (forAdd && token === "-") return arr.length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new Error(`"${token}" is not an array index`);
  const i = Number(token);
  if (i > arr.length || (!forAdd && i === arr.length)) throw new Error(`array index ${i} out of bounds`);
  return i;
}

function parentOf(doc: unknown, tokens: string[], path: string): { parent: Container; key: string } {
  if (tokens.length === 0) throw new Error("operations on the whole document are not supported");
  let cur: unknown = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(cur, t, false)];
    else if (cur && typeof cur === "object" && Object.hasOwn(cur, t))
      cur = (cur as Record<string, unknown>)[t];
    else throw new Error(`path ${path}: "${t}" does not exist`);
  }
  if (!cur || typeof cur !== "object") throw new Error(`path ${path}: parent is not an object or array`);
  return { parent: cur as Container, key: tokens[tokens.length - 1]! };
}

function getAt(doc: unknown, path: string): unknown {
  let cur: unknown = doc;
  for (const t of parsePointer(path)) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(cur, t, false)];
    else if (cur && typeof cur === "object" && Object.hasOwn(cur, t))
      cur = (cur as Record<string, unknown>)[t];
    else throw new Error(`path ${path}: "${t}" does not exist`);
  }
  return cur;
}

function add(doc: unknown, path: string, value: unknown): void {
  const { parent, key } = parentOf(doc, parsePointer(path), path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, true), 0, value);
  else parent[key] = value;
}

function remove(doc: unknown, path: string): unknown {
  const { parent, key } = parentOf(doc, parsePointer(path), path);
  if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, key, false), 1)[0];
  if (!Object.hasOwn(parent, key)) throw new Error(`path ${path} does not exist`);
  const v = parent[key];
  delete parent[key];
  return v;
}

/** Applies a patch to a deep copy of `doc`; throws on the first op that does not apply. */
export function applyPatch<T>(doc: T, ops: readonly PatchOp[]): T {
  const out = structuredClone(doc);
  for (const op of ops) {
    switch (op.op) {
      case "add":
        add(out, op.path, structuredClone(op.value));
        break;
      case "remove":
        remove(out, op.path);
        break;
      case "replace":
        remove(out, op.path);
        add(out, op.path, structuredClone(op.value));
        break;
      case "test":
        if (JSON.stringify(getAt(out, op.path)) !== JSON.stringify(op.value))
          throw new Error(`test failed at ${op.path}`);
        break;
      case "move":
        add(out, op.path, remove(out, op.from));
        break;
      case "copy":
        add(out, op.path, structuredClone(getAt(out, op.from)));
        break;
    }
  }
  return out;
}
