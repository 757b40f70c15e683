// Go-style durations ("90s", "15m", "1h30m", "250ms"), the form the API uses (DURATION_PATTERN).
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDurationMs(text: string): number {
  const re = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * (UNIT_MS[m[2]!] ?? Number.NaN);
    consumed = re.lastIndex;
  }
  if (consumed === 0 || consumed !== text.length || !Number.isFinite(total)) {
    throw new Error(`"${text}" is not a duration such as 90s, 15m or 1h30m`);
  }
  return total;
}
