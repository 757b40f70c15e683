// What the operator integration tests share lives in test/support/operator-process.ts (the demo
// uses it too); re-exported here so the tests keep one import.
export * from "../support/operator-process.ts";
