#!/usr/bin/env node
// The gateway sidecar's entrypoint: configuration from the environment, then startGateway.
// Exits non-zero with a message naming the variable when the configuration is invalid.
import { ValidationError } from "../lib/errors.ts";
import { createLogger } from "../lib/log.ts";
import { configFromEnv } from "./config.ts";
import { startGateway } from "./server.ts";

const log = createLogger("gateway");
try {
  const config = configFromEnv();
  // When the code is loaded, in ms since the process started: the first figure of a slow start-up.
  log.info("gateway starting", { mode: config.mode, loadedMs: Math.round(performance.now()) });
  const gw = await startGateway(config, { log: log.child({ mode: config.mode }) });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down: draining calls in flight", { signal, deadlineMs: config.drainTimeoutMs });
    // Calls already forwarded finish and get their outcome record; then the audit log is sealed
    // with a final checkpoint.
    const { leftInFlight } = await gw.drain(config.drainTimeoutMs);
    if (leftInFlight > 0) log.warn("drain deadline passed with calls still in flight", { leftInFlight });
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
} catch (e) {
  if (e instanceof ValidationError) log.error(e.message, { issues: e.issues });
  else log.error("gateway failed to start", { err: e });
  process.exit(2);
}
