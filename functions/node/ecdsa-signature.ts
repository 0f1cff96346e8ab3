/**
 * ECDSA signatures between the two encodings: JWS's IEEE P1363 form r ‖ s (RFC 7518 §3.4) and
 * the DER `SEQUENCE { INTEGER r, INTEGER s }` that node:crypto speaks when handed a bare KeyObject.
 *
 * Why convert in JavaScript at all: on Node 24.21 a key passed as an options object
 * (`{ key, dsaEncoding: 'ieee-p1363' }`) costs more than the P-256 signature itself — Node's key
 * preparation throws and catches inside its brand checks for every call — while a bare KeyObject
 * does not (docs/performance.md, "The runtime under it").
 */

/** Bytes of r and of s for each JWS ECDSA algorithm's curve. */
export const ECDSA_PART_BYTES: Readonly<Record<string, number>> = { ES256: 32, ES384: 48, ES512: 66 };

function readLength(der: Uint8Array, at: number): { length: number; next: number } | undefined {
  const first = der[at];
  if (first === undefined) return undefined;
  if (first < 0x80) return { length: first, next: at + 1 };
  if (first !== 0x81) return undefined; // no ECDSA signature of these curves needs more than one length byte
  const length = der[at + 1];
  return length === undefined ? undefined : { length, next: at + 2 };
}

/** r ‖ s from a DER ECDSA signature, each part left-padded to `partBytes`; undefined if it is not one. */
export function derToP1363(der: Uint8Array, partBytes: number): Uint8Array | undefined {
  if (der[0] !== 0x30) return undefined;
  const sequence = readLength(der, 1);
  if (!sequence || sequence.next + sequence.length !== der.length) return undefined;
  const out = new Uint8Array(2 * partBytes);
  let at = sequence.next;
  for (let part = 0; part < 2; part++) {
    if (der[at] !== 0x02) return undefined;
    const integer = readLength(der, at + 1);
    if (!integer) return undefined;
    let start = integer.next;
    let length = integer.length;
    while (length > partBytes && der[start] === 0) {
      start++;
      length--;
    }
    if (length > partBytes || start + length > der.length) return undefined;
    out.set(der.subarray(start, start + length), part * partBytes + (partBytes - length));
    at = integer.next + integer.length;
  }
  return at === der.length ? out : undefined;
}

function derInteger(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const pad = (bytes[start]! & 0x80) !== 0 ? 1 : 0;
  const value = bytes.subarray(start);
  const out = new Uint8Array(2 + pad + value.length);
  out[0] = 0x02;
  out[1] = pad + value.length;
  out.set(value, 2 + pad);
  return out;
}

/** The DER form of an r ‖ s signature; undefined when its length is not that of the curve's. */
export function p1363ToDer(signature: Uint8Array, partBytes: number): Uint8Array | undefined {
  if (signature.length !== 2 * partBytes) return undefined;
  const r = derInteger(signature.subarray(0, partBytes));
  const s = derInteger(signature.subarray(partBytes));
  const body = r.length + s.length;
  const header = body < 0x80 ? [0x30, body] : [0x30, 0x81, body];
  const out = new Uint8Array(header.length + body);
  out.set(header, 0);
  out.set(r, header.length);
  out.set(s, header.length + r.length);
  return out;
}
