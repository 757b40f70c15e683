// CRD `pattern`s are Go (RE2) regular expressions. JavaScript's engine reads most of them the same
// way, but not all: RE2's \s, \d, \w and `.` are ASCII/rune classes where JavaScript's are Unicode
// or exclude \r. This rewrites a pattern into a JavaScript RegExp (with the `u` flag, so counts
// and `.` are per code point, as RE2's are per rune) with RE2's meaning, and refuses — naming the
// construct — whatever it cannot translate exactly, so `warden check` never guesses.

export class UnsupportedPattern extends Error {
  override name = "UnsupportedPattern";
}

const CLASS_BODY: Record<string, string> = {
  d: "0-9",
  s: "\\t\\n\\f\\r ",
  w: "0-9A-Za-z_",
};

export function re2ToJs(pattern: string): RegExp {
  let out = "";
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "\\") {
      const n = pattern[i + 1];
      if (n === undefined) throw new UnsupportedPattern(`pattern ${pattern} ends with a lone backslash`);
      i++;
      const lower = n.toLowerCase();
      if (lower in CLASS_BODY) {
        const body = CLASS_BODY[lower]!;
        const negated = n !== lower;
        if (inClass) {
          if (negated) throw new UnsupportedPattern(`\\${n} inside a character class in ${pattern}`);
          out += body;
        } else out += negated ? `[^${body}]` : `[${body}]`;
      } else if (n === "p" || n === "P") {
        // \pL → \p{L}; \p{Greek} stays.
        if (pattern[i + 1] === "{") {
          const end = pattern.indexOf("}", i);
          out += `\\${n}${pattern.slice(i + 1, end + 1)}`;
          i = end;
        } else {
          out += `\\${n}{${pattern[i + 1]}}`;
          i++;
        }
      } else if (n === "z") out += "$";
      else if (n === "A") out += "^";
      else if (/[0-9]/.test(n) && n !== "0")
        throw new UnsupportedPattern(`backreference \\${n} in ${pattern}`);
      else if (n === "Q" || n === "C") throw new UnsupportedPattern(`\\${n} in ${pattern}`);
      else out += `\\${n}`;
      continue;
    }
    if (inClass) {
      if (c === "[" && pattern[i + 1] === ":") throw new UnsupportedPattern(`POSIX class in ${pattern}`);
      if (c === "]") inClass = false;
      out += c;
      continue;
    }
    if (c === "[") {
      inClass = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal in RE2.
      if (pattern[i + 1] === "^") {
        out += "^";
        i++;
      }
      if (pattern[i + 1] === "]") {
        out += "\\]";
        i++;
      }
      continue;
    }
    if (c === "(" && pattern[i + 1] === "?") {
      if (pattern[i + 2] === ":") {
        out += "(?:";
        i += 2;
        continue;
      }
      if (pattern[i + 2] === "P" && pattern[i + 3] === "<") {
        out += "(?<";
        i += 3;
        continue;
      }
      if (pattern[i + 2] === "<") {
        out += "(?<";
        i += 2;
        continue;
      }
      throw new UnsupportedPattern(`flag group ${pattern.slice(i, i + 4)}… in ${pattern}`);
    }
    if (c === ".") {
      out += "[^\\n]";
      continue;
    }
    out += c;
  }
  return new RegExp(out, "u");
}
