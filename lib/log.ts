// Structured JSON logs, one object per line on stderr. No secrets, no per-call payloads here:
// per-decision detail goes to the gateway's audit trail.
export type Level = "debug" | "info" | "warn" | "error";
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export function createLogger(
  component: string,
  opts: { level?: Level; write?: (line: string) => void; base?: Record<string, unknown> } = {},
): Logger {
  const min = order[opts.level ?? (process.env.WARDEN_LOG_LEVEL as Level | undefined) ?? "info"] ?? 20;
  const write = opts.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const base = { component, ...opts.base };
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (order[level] < min) return;
    const rec: Record<string, unknown> = { time: new Date().toISOString(), level, msg, ...base, ...fields };
    if (rec.err instanceof Error) rec.err = { name: rec.err.name, message: rec.err.message };
    write(JSON.stringify(rec));
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (fields) => createLogger(component, { ...opts, base: { ...opts.base, ...fields } }),
  };
}
