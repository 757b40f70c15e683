// warden — the agent-warden command line (entry point: warden.ts). Subcommands live in cli/commands/; each returns an exit
// code (0 ok, 1 findings/denied, 2 usage or unreadable input).
import { provenance } from "./provenance.ts";

export function versionText(): string {
  const p = provenance();
  return [
    `warden ${p.packageVersion}`,
    `rule catalog ${p.catalogVersion} (${p.ruleCount} rules)`,
    `commit ${p.commit}`,
    `api warden.dev/v1alpha1, node ${process.version}, ${p.build === "package" ? "packaged build" : "source checkout"}`,
  ].join("\n");
}

const USAGE = `usage: warden <command> [options]

commands:
  version                 print the package version, rule catalog version and commit
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
