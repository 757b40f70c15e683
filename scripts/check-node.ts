// Fails fast when the tests would run on an end-of-life Node: npm scripts are expected to pick the
// Node 24 that the `node` devDependency puts in node_modules/.bin.
const major = Number(process.versions.node.split(".")[0]);
if (major < 24) {
  console.error(
    `agent-warden needs Node >= 24, but this is ${process.version}. Run it through npm scripts ` +
      "(npm ci installs Node 24 into node_modules/.bin) or install Node 24.",
  );
  process.exit(1);
}
