import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeWelcome, encodeHello, fromHex, toHex } from "../src/index.js";

test("the hello of the protocol page, byte for byte", () => {
  assert.equal(toHex(encodeHello("cbor", "ann")), "a36176016563" + "6f646563" + "6463626f72" + "646e616d65" + "63616e6e");
});

test("a welcome is read, and a welcome of another version refused", () => {
  const body = fromHex(
    "a8 61 76 01 65 63 6f 64 65 63 64 63 62 6f 72 67 73 65 73 73 69 6f 6e 48 00 01 02 03 04 05 06 07" +
      " 66 63 6c 69 65 6e 74 03 63 6b 65 79 50 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00" +
      " 67 72 65 73 75 6d 65 64 f4 66 73 65 72 76 65 72 61 73 64 72 61 74 65 f6",
  );
  const welcome = decodeWelcome(body);
  assert.equal(welcome.client, 3);
  assert.equal(toHex(welcome.session), "0001020304050607");
  assert.equal(welcome.rate, null);
  body[3] = 2;
  assert.throws(() => decodeWelcome(body), { name: "FlatsyncError" });
});
