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
  const gw = await startGateway(config, { log: log.child({ mode: config.mode }) });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down", { signal });
    await gw.close(); // seals the audit log with a final checkpoint
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
} catch (e) {
  if (e instanceof ValidationError) log.error(e.message, { issues: e.issues });
  else log.error("gateway failed to start", { err: e });
  process.exit(2);
}
