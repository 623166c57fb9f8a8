// The bundle sizes a browser pays, minified (esbuild) and gzipped: the core replica
// (Replica with the CBOR codec: decoder, frames, patching, listeners), the WebSocket
// client with it, and the whole package. The core must stay within 12 KB (issue #16):
// this script fails when it does not.
// Run after `npm run build`: node bench/bundle.mjs
import { build } from "esbuild";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";

const dist = fileURLToPath(new URL("../dist/index.js", import.meta.url));
const LIMIT = 12 * 1024;

async function size(names) {
  const result = await build({
    stdin: { contents: `export ${names === "*" ? "*" : `{ ${names} }`} from ${JSON.stringify(dist)};`, resolveDir: ".", loader: "js" },
    bundle: true,
    minify: true,
    format: "esm",
    write: false,
    logLevel: "silent",
  });
  return gzipSync(result.outputFiles[0].contents, { level: 9 }).length;
}

const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const core = await size("Replica");
const client = await size("Client");
const all = await size("*");
console.log(`bundle, minified and gzipped: core replica (CBOR) ${kb(core)} (limit ${kb(LIMIT)}), client ${kb(client)}, whole package ${kb(all)}`);
if (core > LIMIT) {
  console.error(`the core replica bundle is ${core} bytes, over the limit of ${LIMIT}`);
  process.exitCode = 1;
}
