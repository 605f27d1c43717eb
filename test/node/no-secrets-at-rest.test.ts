/**
 * Security review, finding 1 (issue 12): old shares and session secrets lived forever in the
 * stored round state, so whoever later got one node's disk and storage key got every share it
 * ever held and every session secret (which opens every share ever sealed to it on-chain).
 *
 * The attack, run here: three nodes go through a DKG and five reshares over the in-memory
 * ledger (one node on a SQLite store, one on a memory store); every share and session secret
 * any of them ever held is recorded as it appears. Then the attacker takes each store with its
 * storage key and searches **every value it holds, decrypted** for every share and session
 * secret that retention has retired. None may be found. For the SQLite store the raw file (and
 * its WAL) is searched too, for the plaintext and for the ciphertexts the deleted rows had.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDomain } from '../../src/crypto/domain.ts';
import * as fr from '../../src/crypto/fr.ts';
import { createOperatorSigner, generateOperatorSecretKey } from '../../src/crypto/operator-sig.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import { generateSealKeyPair } from '../../src/crypto/seal.ts';
import type { KeyStore } from '../../src/node/key-store.ts';
import { MemoryKeyStore } from '../../src/node/memory-key-store.ts';
import { ensureSessionKey, OperatorLoop } from '../../src/node/operator-loop.ts';
import { openSqliteKeyStore } from '../../src/node/sqlite-key-store.ts';
import { bytesToHex } from '../../src/protocol/hex.ts';
import type { Address, Hex } from '../../src/protocol/ledger.ts';
import { MemoryLedger } from '../../src/protocol/memory-ledger.ts';
import { dumpMemoryStore, dumpSqliteStore, findSecrets } from './store-forensics.ts';

interface Needle {
  readonly label: string;
  readonly bytes: Uint8Array;
}

const REGISTRY: Address = '0x00000000000000000000000000000000000000aa';
const OWNER: Address = '0x00000000000000000000000000000000000000ff';
const OPS: readonly Address[] = [1, 2, 3].map((i) => `0x${String(i).padStart(40, '0')}` as Address);
const START = 1_000_000;
const INTERVAL = 60;
const STORAGE_KEY = new Uint8Array(32).fill(7);

const dir = mkdtempSync(join(tmpdir(), 'kms-no-secrets-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Node {
  readonly address: Address;
  readonly loop: OperatorLoop;
  readonly store: KeyStore;
  readonly path: string | null;
}

/** Everything secret a node has ever held, by where it came from. */
interface Seen {
  readonly shares: Map<string, bigint>;
  readonly sessionSecrets: Map<Hex, Uint8Array>;
}

async function world(): Promise<{ ledger: MemoryLedger; nodes: Node[] }> {
  const ledger = new MemoryLedger({ chainId: 31337, registry: REGISTRY, owner: OWNER, interval: INTERVAL, dealWindow: 10, ackWindow: 10, confirmWindow: 10, inclusionMargin: 0, startTime: START });
  const domain = makeDomain({ chainId: 31337n, registry: REGISTRY });
  const gov = ledger.writer(OWNER);
  const nodes: Node[] = [];
  const silent = { debug() {}, info() {}, warn() {}, error() {} };
  for (const [i, address] of OPS.entries()) {
    await gov.allowOperator(address, true);
    const signer = createOperatorSigner('ecdsa', generateOperatorSecretKey('ecdsa', seededRng(`sig ${i}`)), domain);
    const writer = ledger.writer(address);
    await writer.register({
      socket: `http://op${i}`, sigKeyType: 'ecdsa', sigPublicKey: bytesToHex(signer.publicKey),
      proofOfPossession: bytesToHex(signer.proofOfPossession(address)), sessionKey: bytesToHex(generateSealKeyPair(seededRng(`reg ${i}`)).publicKey),
    });
    const scope = { chainId: 31337n, registry: REGISTRY, operator: address };
    const path = i === 0 ? join(dir, 'op0.sqlite') : null;
    const store: KeyStore = path ? openSqliteKeyStore({ path, storageKey: STORAGE_KEY, scope }) : new MemoryKeyStore(scope);
    await ensureSessionKey(ledger, writer, store, address, START, seededRng(`key ${i}`));
    const loop = new OperatorLoop({ ledger, writer, store, me: address, domain, consentThreshold: null, rngFor: (s, p) => seededRng(`${i} ${s} ${p}`), log: silent });
    nodes.push({ address, loop, store, path });
  }
  await gov.armGenesis(3);
  return { ledger, nodes };
}

/** Records every share and session secret the node holds now. */
function record(node: Node, seen: Seen): void {
  for (const v of node.store.listVersions()) seen.shares.set(`${v.id}`, v.share);
  for (const k of node.store.listSessionKeys()) seen.sessionSecrets.set(k.publicKey, k.secretKey);
}

describe('secrets at rest after the rounds that used them', () => {
  it('a finished round keeps no secret in the store: after a DKG and five reshares no retired share or session secret is anywhere in it', async () => {
    const { ledger, nodes } = await world();
    const seen = new Map<Address, Seen>(nodes.map((n) => [n.address, { shares: new Map(), sessionSecrets: new Map() }]));
    const end = Math.ceil(START / INTERVAL) * INTERVAL + 5 * INTERVAL + 40;
    for (let t = START + 1; t <= end; t++) {
      ledger.setTime(t);
      for (let k = 0; k < 3; k++) {
        for (const n of nodes) {
          await n.loop.tick();
          record(n, seen.get(n.address) as Seen);
        }
      }
    }
    assert.ok(((await ledger.activeVersion())?.id ?? 0) >= 6, 'a DKG and at least five reshares completed');
    // Idle ticks after the last round: retention runs between rounds.
    for (let k = 0; k < 10; k++) for (const n of nodes) await n.loop.tick();

    for (const n of nodes) {
      const s = seen.get(n.address) as Seen;
      const keptVersions = new Set(n.store.listVersions().map((v) => `${v.id}`));
      const keptKeys = new Set(n.store.listSessionKeys().map((k) => k.publicKey));
      const retired: Needle[] = [
        ...[...s.shares].filter(([id]) => !keptVersions.has(id)).map(([id, share]) => ({ label: `share of version ${id}`, bytes: fr.toBytes(share) })),
        ...[...s.sessionSecrets].filter(([pub]) => !keptKeys.has(pub)).map(([pub, secret]) => ({ label: `session secret of ${pub.slice(0, 12)}…`, bytes: secret })),
      ];
      // Retention keeps the active version and its predecessor, and the published session key.
      assert.ok(retired.filter((x) => x.label.startsWith('share')).length >= 3, `${n.address}: at least versions 1–3 retired (${retired.length} needles)`);
      assert.ok(retired.some((x) => x.label.startsWith('session secret')), `${n.address}: old session secrets retired`);
      // No round state holds a share or a session secret at all, retired or not.
      for (const id of n.store.listRoundStates()) {
        const text = JSON.stringify(n.store.getRoundState(id));
        assert.ok(!/"share"|"secret"/.test(text), `${n.address}: round state ${id} names a secret field: ${text.slice(0, 200)}`);
      }
      // The attacker: every value decrypted, the files' bytes, and plaintext carved from stale ciphertext.
      const kept = n.store.activeVersion();
      assert.ok(kept, 'the node holds the active version');
      const control = fr.toBytes(kept.share);
      let dump;
      if (n.path !== null) {
        n.store.close();
        dump = dumpSqliteStore(n.path, STORAGE_KEY);
      } else {
        dump = dumpMemoryStore(n.store as MemoryKeyStore);
      }
      const found = findSecrets(dump, retired.map((r) => r.bytes));
      assert.deepEqual(found.map((f) => `${retired[f.needle]?.label} (${f.form}) in ${f.where}`), [], `${n.address} (${n.path ? 'SQLite' : 'memory'} store) still holds retired secrets`);
      // Control: the search does find the share the store legitimately keeps.
      assert.ok(findSecrets(dump, [control]).length > 0, 'the search finds the active version\'s share');
    }
    for (const n of nodes) if (n.path === null) n.store.close();
  });
});
