#!/usr/bin/env node
// The `warden` executable. From a checkout: `npm run warden -- <command>` (Node 24 runs the
// TypeScript directly); the published package bundles this file into dist/warden.js for Node >= 20
// (scripts/build-cli.ts).
import { main } from "./main.ts";

process.exitCode = await main(process.argv.slice(2));
