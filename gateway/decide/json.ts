// A strict JSON parser for untrusted JSON-RPC bodies. JSON.parse silently keeps the LAST of two
// duplicate keys, while other parsers (and the upstream tool server) may keep the first: a request
// could then be authorized on one value and executed on another. So we parse ourselves and refuse
// duplicate keys at any depth, `__proto__` keys anywhere, nesting deeper than a limit and bodies
// over a size limit. Objects are built with a null prototype so no key can reach Object.prototype.

export const DEFAULT_MAX_BYTES = 1024 * 1024;
export const DEFAULT_MAX_DEPTH = 32;

export class JsonRejected extends Error {
  override name = "JsonRejected";
  /** Stable CamelCase code: ParseError, DuplicateKey, ForbiddenKey, TooDeep, TooLarge. */
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}

export interface StrictJsonOptions {
  maxBytes?: number;
  maxDepth?: number;
}

/** Parses `text` as JSON, refusing duplicate keys, `__proto__` keys, deep nesting and large input. */
export function parseStrictJson(text: string, opts: StrictJsonOptions = {}): unknown {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxDepth = opts.maxDepth ?? DEFAULT_MAX_DEPTH;
  // Characters are at most 3 UTF-8 bytes each in the BMP; a cheap bound first, the exact one after.
  if (text.length > maxBytes || Buffer.byteLength(text, "utf8") > maxBytes) {
    throw new JsonRejected("TooLarge", `the body is larger than ${maxBytes} bytes`);
  }
  let i = 0;
  const fail = (msg: string): never => {
    throw new JsonRejected("ParseError", `invalid JSON at offset ${i}: ${msg}`);
  };
  const ws = () => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else return;
    }
  };
  const str = (): string => {
    // i is at the opening quote
    i++;
    let out = "";
    let start = i;
    for (;;) {
      if (i >= text.length) fail("unterminated string");
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(start, i);
        i++;
        return out;
      }
      if (c < 0x20) fail("control character in string");
      if (c === 0x5c) {
        out += text.slice(start, i);
        const e = text[i + 1];
        switch (e) {
          case '"':
            out += '"';
            break;
          case "\\":
            out += "\\";
            break;
          case "/":
            out += "/";
            break;
          case "b":
            out += "\b";
            break;
          case "f":
            out += "\f";
            break;
          case "n":
            out += "\n";
            break;
          case "r":
            out += "\r";
            break;
          case "t":
            out += "\t";
            break;
          case "u": {
            const hex = text.slice(i + 2, i + 6);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail("bad \\u escape");
            out += String.fromCharCode(Number.parseInt(hex, 16));
            i += 4;
            break;
          }
          default:
            fail("bad escape");
        }
        i += 2;
        start = i;
        continue;
      }
      i++;
    }
  };
  const num = (): number => {
    const m = /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
    m.lastIndex = i;
    const r = m.exec(text);
    if (!r) return fail("bad number");
    i += r[0].length;
    const n = Number(r[0]);
    if (!Number.isFinite(n)) fail("number out of range");
    return n;
  };
  const value = (depth: number): unknown => {
    ws();
    const c = text[i];
    if (c === "{") {
      if (depth >= maxDepth) throw new JsonRejected("TooDeep", `JSON nesting deeper than ${maxDepth} levels`);
      i++;
      // Null prototype: `key in obj` is true only for a key this object already has (no Set needed
      // to find duplicates), and no key can reach Object.prototype.
      const obj: Record<string, unknown> = Object.create(null);
      ws();
      if (text[i] === "}") {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail("expected a string key");
        const key = str();
        if (key in obj)
          throw new JsonRejected("DuplicateKey", `duplicate key ${JSON.stringify(key)} in a JSON object`);
        if (key === "__proto__") throw new JsonRejected("ForbiddenKey", `the key "__proto__" is not allowed`);
        ws();
        if (text[i] !== ":") fail("expected ':'");
        i++;
        obj[key] = value(depth + 1);
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return obj;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === "[") {
      if (depth >= maxDepth) throw new JsonRejected("TooDeep", `JSON nesting deeper than ${maxDepth} levels`);
      i++;
      const arr: unknown[] = [];
      ws();
      if (text[i] === "]") {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value(depth + 1));
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return arr;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return str();
    if (c === "t" && text.startsWith("true", i)) {
      i += 4;
      return true;
    }
    if (c === "f" && text.startsWith("false", i)) {
      i += 5;
      return false;
    }
    if (c === "n" && text.startsWith("null", i)) {
      i += 4;
      return null;
    }
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return num();
    return fail(c === undefined ? "unexpected end of input" : `unexpected character ${JSON.stringify(c)}`);
  };
  // A UTF-8 BOM is not JSON; refuse it like any other stray character.
  const v = value(0);
  ws();
  if (i !== text.length) fail("trailing characters after the JSON value");
  return v;
}
