// The frozen operator-format vectors (`test/vectors/operator-formats.json`, see its
// `provenance`), loaded once for the BN254, ECDSA, seal and DLEQ tests.
import { readFileSync } from 'node:fs';
import { makeDomain, parseHex, type Hex } from '../../src/crypto/domain.ts';

export interface OperatorFormatVectors {
  domain: { chainId: string; registry: Hex };
  bn254: { secretKey: Hex; payloadUtf8: string; signature: Hex };
  ecdsa: { secretKey: Hex; payloadUtf8: string; signature: Hex };
  seal: {
    ephemeralSecretKey: Hex; recipientSecretKey: Hex; ephemeralPublicKey: Hex; recipientPublicKey: Hex;
    session: string; dealer: Hex; recipient: Hex; share: Hex; sealed: Hex;
  };
  dleq: { X: Hex; E: Hex; K: Hex; ctx: Hex; proof: Hex };
}

export const OPERATOR_VECTORS = JSON.parse(
  readFileSync(new URL('../vectors/operator-formats.json', import.meta.url), 'utf8'),
) as OperatorFormatVectors;

/** The 65-byte domain the vectors were made under. */
export const vectorDomain = makeDomain({
  chainId: BigInt(OPERATOR_VECTORS.domain.chainId),
  registry: OPERATOR_VECTORS.domain.registry,
});

/** Bytes of a vector's hex field. */
export const vectorBytes = (s: Hex): Uint8Array => parseHex(s, undefined, 'vector');
