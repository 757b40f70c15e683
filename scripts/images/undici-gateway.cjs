"use strict";
// The part of undici the gateway uses (Agent, buildConnector, request), for the gateway image's
// bundle only: scripts/images/definitions.ts substitutes this file for "undici" there.
//
// Why: undici's index requires everything it has (fetch, WebSocket, EventSource, the cache, mock
// agents, proxy agents, interceptors) at load time, and a CommonJS index cannot be tree-shaken.
// Loading all of it costs the sidecar ~3 MiB of resident memory that no code path uses
// (docs/performance.md, "Where the sidecar's idle memory goes"). The modules required below are
// undici's own, unchanged; `request` is undici's `makeDispatcher(api.request)` (index.js), with
// the same global dispatcher when none is given (the inbound gateway's plain-HTTP upstream).
//
// scripts/images/gateway-bundle.test.ts checks that this file exports every value the gateway
// imports from "undici" and that `request` answers like undici's own.

const Dispatcher = require("undici/lib/dispatcher/dispatcher");
const Agent = require("undici/lib/dispatcher/agent");
const buildConnector = require("undici/lib/core/connect");
const errors = require("undici/lib/core/errors");
const util = require("undici/lib/core/util");
const api = require("undici/lib/api");
const { getGlobalDispatcher } = require("undici/lib/global");

// As undici's index does: request/stream/pipeline/upgrade/connect methods on every dispatcher.
Object.assign(Dispatcher.prototype, api);

const { InvalidArgumentError } = errors;

function request(url, opts) {
  if (!url || (typeof url !== "string" && typeof url !== "object" && !(url instanceof URL))) {
    throw new InvalidArgumentError("invalid url");
  }
  if (opts != null && typeof opts !== "object") throw new InvalidArgumentError("invalid opts");
  let target;
  if (opts?.path != null) {
    if (typeof opts.path !== "string") throw new InvalidArgumentError("invalid opts.path");
    const path = opts.path.startsWith("/") ? opts.path : `/${opts.path}`;
    target = new URL(util.parseOrigin(url).origin + path);
  } else {
    if (!opts) opts = typeof url === "object" ? url : {};
    target = util.parseURL(url);
  }
  const { agent, dispatcher = getGlobalDispatcher(), ...restOpts } = opts;
  if (agent) throw new InvalidArgumentError("unsupported opts.agent. Did you mean opts.client?");
  return api.request.call(dispatcher, {
    ...restOpts,
    origin: target.origin,
    path: target.search ? `${target.pathname}${target.search}` : target.pathname,
    method: opts.method || (opts.body ? "PUT" : "GET"),
  });
}

module.exports = { Agent, Dispatcher, buildConnector, errors, request };
