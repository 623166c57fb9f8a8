import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeCbor, decodeJson, encodeCbor, encodeJson, fromHex, toHex, type Limits, type Tree } from "../src/index.js";
import { loadVectors, registerVectorTypes, tagged } from "./helpers.js";

interface CodecVector {
  name: string;
  hex: string;
  tree?: unknown;
  canonical?: boolean;
  error?: string;
  limits?: { max_depth?: number; max_container_items?: number };
}

registerVectorTypes();

type Codec = { decode: (data: Uint8Array, limits?: Partial<Limits>) => Tree; encode: (tree: Tree) => Uint8Array };

export function checkVectors(file: string, codec: Codec): void {
  const vectors = loadVectors<CodecVector>(file);
  test(`${file}: every vector decodes as in Python, and re-encodes to the same bytes`, () => {
    let checked = 0;
    for (const vector of vectors) {
      const limits: Partial<Limits> = {};
      if (vector.limits?.max_depth) limits.maxDepth = vector.limits.max_depth;
      if (vector.limits?.max_container_items) limits.maxContainerItems = vector.limits.max_container_items;
      const data = fromHex(vector.hex);
      let tree: Tree;
      try {
        tree = codec.decode(data, limits);
      } catch (exc) {
        assert.equal((exc as Error).name, vector.error ?? "(accepted)", `${vector.name}: ${(exc as Error).message}`);
        checked++;
        continue;
      }
      assert.equal(vector.error, undefined, `${vector.name}: accepted, Python says ${vector.error}`);
      assert.deepEqual(tagged(tree), vector.tree, vector.name);
      if (vector.canonical) assert.equal(toHex(codec.encode(tree)), vector.hex, `${vector.name}: re-encoded`);
      checked++;
    }
    assert.equal(checked, vectors.length);
  });
}

checkVectors("codec-cbor.json", { decode: decodeCbor, encode: (t) => encodeCbor(t) });
checkVectors("codec-json.json", { decode: decodeJson, encode: (t) => encodeJson(t) });
