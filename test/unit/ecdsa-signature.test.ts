/**
 * ECDSA signatures between JWS's r ‖ s and DER (functions/node/ecdsa-signature.ts): every
 * conversion agrees with node:crypto's own `dsaEncoding`, for parts with a high bit (DER's
 * leading zero) and parts shorter than the curve (leading zero bytes), and anything that is not
 * a signature of the curve is refused rather than mangled.
 */
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { derToP1363, ECDSA_PART_BYTES, p1363ToDer } from '../../functions/node/ecdsa-signature.ts';

const CURVES = { ES256: ['P-256', 'sha256'], ES384: ['P-384', 'sha384'], ES512: ['P-521', 'sha512'] } as const;

describe.each(Object.entries(CURVES))('%s', (alg, [namedCurve, digest]) => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve });
  const part = ECDSA_PART_BYTES[alg]!;

  it('converts 200 signatures both ways: node:crypto verifies the r ‖ s form, and DER comes back byte for byte', () => {
    let highBit = false;
    for (let i = 0; i < 200; i++) {
      const data = Buffer.from(`message ${i}`);
      const der = sign(digest, data, privateKey);
      const p1363 = derToP1363(der, part)!;
      expect(p1363).toHaveLength(2 * part);
      expect(verify(digest, data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, p1363)).toBe(true);
      expect(Buffer.from(p1363ToDer(p1363, part)!).equals(der)).toBe(true);
      highBit ||= (p1363[0]! & 0x80) !== 0;
    }
    // P-521's r and s take 521 bits of 66 bytes: their first byte never has the high bit.
    expect(highBit).toBe(alg !== 'ES512');
  });

  it('keeps parts with leading zero bytes and parts with the high bit set', () => {
    const crafted = new Uint8Array(2 * part);
    crafted[part - 1] = 1; // r = 1: 31 leading zero bytes
    crafted.fill(0xff, part); // s with the high bit set: DER needs a leading 0x00
    const der = p1363ToDer(crafted, part)!;
    expect([...der.subarray(der[1] === 0x81 ? 3 : 2, (der[1] === 0x81 ? 3 : 2) + 3)]).toEqual([0x02, 0x01, 0x01]);
    expect(Buffer.from(derToP1363(der, part)!).equals(Buffer.from(crafted))).toBe(true);
  });

  it('refuses what is not a signature of this curve', () => {
    const der = sign(digest, Buffer.from('x'), privateKey);
    expect(p1363ToDer(new Uint8Array(2 * part - 1), part)).toBeUndefined();
    expect(p1363ToDer(new Uint8Array(2 * part + 2), part)).toBeUndefined();
    expect(derToP1363(der.subarray(0, der.length - 1), part)).toBeUndefined();
    expect(derToP1363(Buffer.concat([der, Buffer.from([0])]), part)).toBeUndefined();
    expect(derToP1363(Buffer.from([0x31, ...der.subarray(1)]), part)).toBeUndefined();
    expect(derToP1363(new Uint8Array(0), part)).toBeUndefined();
  });
});
