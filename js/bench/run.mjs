// `npm run bench [-- --quick]`: the replica's own figures, the comparison with
// @colyseus/schema, and the bundle sizes (which fail the run when the core is over 12 KB).
await import("./apply.mjs");
await import("./colyseus.mjs");
await import("./bundle.mjs");
