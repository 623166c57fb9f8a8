// `npm run bench [-- --quick]`: the replica's own figures, then the comparison with @colyseus/schema.
await import("./apply.mjs");
await import("./colyseus.mjs");
