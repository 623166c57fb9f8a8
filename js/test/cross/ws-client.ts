/**
 * A JavaScript flatsync.net client for tests/test_js_net.py: connects to the
 * URL in argv[2] with the codec in argv[3], writes what happens as JSON lines
 * (welcome, state, message), and takes commands on stdin (send, drop, close).
 */

import { createInterface } from "node:readline";
import { Client, cbor, json, snapshotOf, toHex } from "../../src/index.js";
import { tagged, untagged } from "../helpers.js";

const [url, codec] = process.argv.slice(2) as [string, "cbor" | "json"];
const client = new Client(url, { codec: codec === "json" ? json : cbor, name: "js", backoff: { initial: 50, max: 500 } });
const say = (value: unknown) => process.stdout.write(JSON.stringify(value) + "\n");

client.onWelcome((welcome) => say({ event: "welcome", session: toHex(welcome.session), resumed: welcome.resumed, client: welcome.client }));
client.onState((state) => say({ event: "state", frame: client.replica.frame, state: tagged(snapshotOf(state)) }));
client.onMessage((message) => say({ event: "message", value: tagged(message) }));

createInterface({ input: process.stdin }).on("line", (line) => {
  const command = JSON.parse(line) as { cmd: string; value?: unknown };
  if (command.cmd === "send") client.send(untagged(command.value));
  else if (command.cmd === "drop") client.dropConnection();
  else if (command.cmd === "close") {
    client.close("done");
    setTimeout(() => process.exit(0), 50);
  }
});
