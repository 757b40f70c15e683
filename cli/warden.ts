#!/usr/bin/env node
// warden — the agent-warden command line. Subcommands live in cli/commands/; each returns an exit
// code (0 ok, 1 findings/denied, 2 usage or unreadable input).
import { readFileSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

export function versionText(): string {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
  return `warden ${pkg.version} (api warden.dev/v1alpha1, node ${process.version})`;
}

const USAGE = `usage: warden <command> [options]

commands:
  version                 print the version
  check <files|dirs|->    check manifests against the admission rules (text, json, sarif)
  audit verify <file>     check an audit log for edits, deletions, reordering and truncation
  authz                   evaluate a tool call against a compiled gateway policy, offline
`;

export async function main(argv: string[]): Promise<number> {
  const [cmd] = argv;
  switch (cmd) {
    case "version":
    case "--version":
      console.log(versionText());
      return 0;
    case "check":
      return (await import("./commands/check.ts")).run(argv.slice(1));
    case "audit":
      return (await import("./commands/audit.ts")).auditCommand(argv.slice(1));
    case "authz":
      return (await import("./commands/authz.ts")).authzCommand(argv.slice(1));
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`warden: unknown command '${cmd}'\n${USAGE}`);
      return 2;
  }
}

// Run as a program (not imported). Compared by real path: `warden` is usually a symlink to this file
// (node_modules/.bin/warden, /usr/local/bin/warden in the image), and Node reports the module by
// its real path but argv[1] as invoked.
if (process.argv[1] && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) {
  process.exitCode = await main(process.argv.slice(2));
}
