/**
 * Record ids as the Python library computes them (`_tree/_records.py`), so
 * that a {@link TrackedRecord} needs only its name and fields: the default id
 * is the first four bytes (big-endian) of the SHA-256 of the record's wire
 * name in UTF-8, modulo the id space its fields allow; an explicit id passes
 * Python's checks (0 to 65,535, and no larger on the wire than the fields'
 * budget). The small SHA-256 here keeps the package free of dependencies (and
 * out of the replica's bundle: only the writing side imports this module).
 */

/** The number of record ids (they fit in two bytes). */
export const ID_LIMIT = 65536;

const K = Uint32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
  0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** The SHA-256 digest of `data` (FIPS 180-4). */
export function sha256(data: Uint8Array): Uint8Array {
  const blocks = Math.ceil((data.length + 9) / 64);
  const padded = new Uint8Array(blocks * 64);
  padded.set(data);
  padded[data.length] = 0x80;
  const view = new DataView(padded.buffer);
  const bits = data.length * 8;
  view.setUint32(padded.length - 8, Math.floor(bits / 2 ** 32));
  view.setUint32(padded.length - 4, bits >>> 0);
  const h = Uint32Array.from([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const w = new Uint32Array(64);
  const rotr = (x: number, n: number) => (x >>> n) | (x << (32 - n));
  for (let block = 0; block < blocks; block++) {
    for (let t = 0; t < 16; t++) w[t] = view.getUint32(block * 64 + t * 4);
    for (let t = 16; t < 64; t++) {
      const a = w[t - 15]!;
      const b = w[t - 2]!;
      const s0 = rotr(a, 7) ^ rotr(a, 18) ^ (a >>> 3);
      const s1 = rotr(b, 17) ^ rotr(b, 19) ^ (b >>> 10);
      w[t] = (w[t - 16]! + s0 + w[t - 7]! + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, hh] = h as unknown as number[];
    for (let t = 0; t < 64; t++) {
      const s1 = rotr(e!, 6) ^ rotr(e!, 11) ^ rotr(e!, 25);
      const ch = (e! & f!) ^ (~e! & g!);
      const t1 = (hh! + s1 + ch + K[t]! + w[t]!) >>> 0;
      const s0 = rotr(a!, 2) ^ rotr(a!, 13) ^ rotr(a!, 22);
      const maj = (a! & b!) ^ (a! & c!) ^ (b! & c!);
      const t2 = (s0 + maj) >>> 0;
      hh = g;
      g = f;
      f = e;
      e = (d! + t1) >>> 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) >>> 0;
    }
    const out = [a, b, c, d, e, f, g, hh];
    for (let i = 0; i < 8; i++) h[i] = (h[i]! + out[i]!) >>> 0;
  }
  const digest = new Uint8Array(32);
  const dv = new DataView(digest.buffer);
  for (let i = 0; i < 8; i++) dv.setUint32(i * 4, h[i]!);
  return digest;
}

const encoder = new TextEncoder();

/** Bytes of a CBOR head whose argument is `argument` (Python's `cbor_head_size`). */
function headSize(argument: number): number {
  return argument < 24 ? 1 : argument < 0x100 ? 2 : argument < 0x10000 ? 3 : argument < 2 ** 32 ? 5 : 9;
}

/** How many bytes a record's id may take so that its snapshot is no larger than the mapping's. */
export function idBudget(fields: readonly string[]): number {
  let keys = 0;
  for (const field of fields) {
    const size = encoder.encode(field).length;
    keys += headSize(size) + size;
  }
  return headSize(fields.length) + keys - 1 - headSize(fields.length + 1);
}

/** The ids a record with these fields may take by default: 65,536, or 256 or 24. */
export function idSpace(fields: readonly string[]): number {
  const budget = idBudget(fields);
  return budget >= 3 ? ID_LIMIT : budget === 2 ? 0x100 : 24;
}

/**
 * The id of record `name` with `fields`: `given`, checked as Python checks it,
 * or (`given` absent) the id Python computes from the name.
 *
 * @throws TypeError `given` is not an integer. RangeError: `given` is not from
 *   0 to 65,535, or would make the record's snapshot larger than the mapping's.
 */
export function recordId(name: string, fields: readonly string[], given?: number | null): number {
  if (given === undefined || given === null) {
    const digest = sha256(encoder.encode(name));
    const hash = ((digest[0]! << 24) >>> 0) + (digest[1]! << 16) + (digest[2]! << 8) + digest[3]!;
    return hash % idSpace(fields);
  }
  if (typeof given !== "number" || !Number.isInteger(given)) throw new TypeError(`record ${name}: an id is an integer, not ${String(given)}`);
  if (!(given >= 0 && given < ID_LIMIT)) throw new RangeError(`record ${name}: an id is from 0 to ${ID_LIMIT - 1}, not ${given}`);
  if (headSize(given) > idBudget(fields)) {
    throw new RangeError(`record ${name}: the id ${given} would make its snapshot larger than the equivalent mapping's; give an id below ${idSpace(fields)}`);
  }
  return given;
}
