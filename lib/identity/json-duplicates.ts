// Detects duplicate object keys in JSON text. JSON.parse keeps the last duplicate silently, so a
// token with two `aud` (or `exp`) claims could mean one thing to us and another to a different
// parser; such tokens are refused outright. Assumes `text` is otherwise valid JSON (checked after).
export function hasDuplicateKeys(text: string): boolean {
  const stack: { keys?: Set<string>; expectKey: boolean }[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{") stack.push({ keys: new Set(), expectKey: true });
    else if (c === "[") stack.push({ expectKey: false });
    else if (c === "}" || c === "]") stack.pop();
    else if (c === ",") {
      const top = stack[stack.length - 1];
      if (top?.keys) top.expectKey = true;
    } else if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top?.keys && top.expectKey) {
        let key: string;
        try {
          key = JSON.parse(text.slice(i, j + 1)) as string; // normalises escapes: "\u0061" is "a"
        } catch {
          return true; // unparsable key: treat as suspicious
        }
        if (top.keys.has(key)) return true;
        top.keys.add(key);
        top.expectKey = false;
      }
      i = j;
    }
  }
  return false;
}
