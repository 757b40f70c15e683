// npm run cluster:build — builds (or finds cached) the local control-plane binary.
import { buildClusterBinary } from "./local-cluster.ts";

const bin = await buildClusterBinary();
console.log(bin);
