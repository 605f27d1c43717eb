// A key store with real cryptographic versions (shares that verify against their public
// polynomials), for the backup, restore and stale-store tests.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { keccak256 } from 'viem';
import { bls } from '../../src/crypto/bls12381/index.ts';
import { operatorX } from '../../src/crypto/operator-x.ts';
import { systemRng } from '../../src/crypto/rng.ts';
import { deal } from '../../src/crypto/vss.ts';
import type { StoredVersion } from '../../src/node/key-store.ts';
import { openSqliteKeyStore } from '../../src/node/sqlite-key-store.ts';
import { generateStorageKeyHex, parseStorageKey } from '../../src/node/store-crypto.ts';
import type { Address, Hex } from '../../src/protocol/ledger.ts';
import { sessionKey, tmpDir } from './key-store-fixtures.ts';

export const ME: Address = '0x00000000000000000000000000000000000000a1';
export const PEERS: Address[] = [ME, '0x00000000000000000000000000000000000000a2', '0x00000000000000000000000000000000000000a3'];
export const SCOPE = { chainId: 31337n, registry: '0x5fbdb2315678afecb367f032d93f642f64180aa3' as Address, operator: ME };
const MASTER = BigInt(`0x${randomBytes(31).toString('hex')}`);

/** Version `id` of one sharing of the fixed master secret: this operator's share and the real polynomial. */
export function realVersion(id: number, status: StoredVersion['status'] = 'active'): StoredVersion {
  const d = deal(systemRng, 2, PEERS.map((p) => operatorX(p)), MASTER);
  const publicPoly = `0x${d.commitments.map((c) => Buffer.from(bls.g2.encode(c)).toString('hex')).join('')}` as Hex;
  return {
    id, status, share: d.shares[0] as bigint, publicPoly, publicPolyHash: keccak256(publicPoly), threshold: 2, holders: PEERS,
    confirmedAt: 1000 + id, activatedAt: status === 'pending' ? null : 1001 + id,
  };
}

export interface RealStore {
  readonly dataDir: string;
  readonly path: string;
  readonly storeKeyHex: string;
  readonly storageKey: Uint8Array;
  readonly mpk: Hex;
  readonly versions: readonly StoredVersion[];
}

/** A closed store in a fresh data directory: versions 1 retired, 2 active, 3 pending; two session keys; the MPK bound. */
export function realStore(): RealStore {
  const dataDir = join(tmpDir(), 'data');
  const path = join(dataDir, 'keystore.sqlite');
  const storeKeyHex = generateStorageKeyHex();
  const storageKey = parseStorageKey(storeKeyHex);
  const versions = [realVersion(1, 'retired'), realVersion(2), realVersion(3, 'pending')];
  const mpk = versions[0]!.publicPoly.slice(0, 2 + 192) as Hex;
  const s = openSqliteKeyStore({ path, storageKey, scope: SCOPE });
  s.transaction(() => {
    s.bindMpk(mpk);
    for (const v of versions) s.putVersion(v);
    s.putSessionKey(sessionKey(100));
    s.putSessionKey(sessionKey(200));
  });
  s.close();
  return { dataDir, path, storeKeyHex, storageKey, mpk, versions };
}
