export * from "./common.ts";
export * from "./constraints.ts";
export * from "./enclave.ts";
export * from "./identity.ts";
export * from "./kinds.ts";
export * from "./labels.ts";
export * from "./policy.ts";
export * from "./toolmanifest.ts";
