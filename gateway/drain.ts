// Graceful stop: on SIGTERM the gateway stops taking calls, lets the calls already in flight
// finish (their outcome records are written), ends the server streams (they have no effect to
// lose and would otherwise hold the stop until the deadline), and only then closes the audit.
// Kubernetes sends SIGTERM, waits terminationGracePeriodSeconds (30 s by default), then SIGKILL:
// the drain deadline stays below it.
import type { IncomingMessage, ServerResponse } from "node:http";
import { type Deny, deny } from "./decide/deny.ts";
import { sendDeny } from "./http-util.ts";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export class Drainer {
  #calls = 0;
  readonly #streams = new Set<ServerResponse>();
  #draining = false;
  #idle: (() => void) | undefined;

  get inFlight(): number {
    return this.#calls;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Wraps a request handler: counts calls, remembers streams, refuses new work while draining. */
  wrap(handler: Handler): Handler {
    return (req, res) => {
      if (this.#draining) {
        req.resume();
        res.setHeader("connection", "close");
        sendDeny(res, null, shuttingDown(), 503);
        return;
      }
      // A GET is the server stream: no effect of its own, ended at once when draining starts.
      if (req.method === "GET") {
        this.#streams.add(res);
        res.on("close", () => this.#streams.delete(res));
      } else {
        this.#calls++;
        res.on("close", () => {
          this.#calls--;
          if (this.#calls === 0) this.#idle?.();
        });
      }
      handler(req, res);
    };
  }

  /** Stops new work and resolves when the calls in flight are over, or at the deadline. */
  async drain(deadlineMs: number): Promise<{ leftInFlight: number }> {
    this.#draining = true;
    for (const s of this.#streams) s.end();
    if (this.#calls > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadlineMs);
        timer.unref();
        this.#idle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return { leftInFlight: this.#calls };
  }
}

function shuttingDown(): Deny {
  return deny("ShuttingDown", "the gateway is stopping; retry on its replacement");
}
