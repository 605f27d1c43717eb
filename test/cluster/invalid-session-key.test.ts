// Security review, issue 12 finding 2, on real processes (test/cluster/harness.ts): "One
// operator's invalid session key stops genesis and every reshare." anvil, the registry, 4
// kms-server processes with SQLite stores, t = 3 of n = 4 (the default ceil(2n/3), so the 3
// others can complete every round alone: 3 dealers ≥ t_old, 3 confirmations = the quorum).
//
//   1. genesis; an app's key is obtained through the client SDK (attested key release, every
//      partial checked against the on-chain polynomial) and verifies against the MPK;
//   2. operator 3 stops (SIGKILL) and its on-chain session key becomes 0x02 ‖ x with no point
//      on secp256k1. The registry being fixed at the same time refuses such a key at
//      `rotateSessionKey`, so the key is written into the contract's storage directly
//      (`anvil_setStorageAt`), as an older deployment would have it. The slot is computed from
//      the contract's real storage layout, compiled at test time by solc-js with the same
//      input as scripts/build-contracts.mjs, so this stays right when the layout changes;
//   3. the next two reshares list that key in their snapshots, and complete with the other 3:
//      every one of them deals, says in a warning which recipient it sealed around, and
//      confirms; MPK unchanged; the same app key from each new version's partials;
//   4. operator 3 restarts: it finds its registered key unusable, publishes a fresh one, and
//      takes part in the next reshare (4 confirmations, 4 valid partials, the same app key).
//
// Before the node-side fix, step 3 failed: every honest dealer's sealing threw ("tick failed:
// recipientPublicKey: not a valid secp256k1 point"), nobody dealt, and the session failed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { concat, createTestClient, encodeAbiParameters, hexToBigInt, http, keccak256, numberToHex, pad, slice, type Hex as ViemHex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { createKmsClient, requestAppKey, type KmsClient } from '../../src/client/index.ts';
import { bls } from '../../src/crypto/bls12381/index.ts';
import { parseHex, toHex } from '../../src/crypto/domain.ts';
import { appIdentity } from '../../src/crypto/key-release.ts';
import { operatorX } from '../../src/crypto/operator-x.ts';
import { isValidSealPublicKey } from '../../src/crypto/seal.ts';
import { combinePartials, verifyAppKey, verifyPartial } from '../../src/crypto/threshold.ts';
import { publicShare } from '../../src/crypto/vss.ts';
import { hexToBytes } from '../../src/protocol/hex.ts';
import type { Address, Hex, VersionRecord } from '../../src/protocol/ledger.ts';
import { startCluster, type Cluster } from './harness.ts';
import { publicPolyOf } from './keys.ts';

const INTERVAL = 20;
const WINDOWS = { deal: 5, ack: 5, confirm: 5 } as const;
const T = 3;
const BAD = 3;
const OTHERS = [0, 1, 2] as const;
const ALL = [0, 1, 2, 3] as const;
const OWNER_ACCOUNT = 10;

/** 0x02 ‖ x for the smallest x with no point on secp256k1 (x³ + 7 not a square mod p). */
const INVALID_KEY: Hex = (() => {
  const Fp = secp256k1.Point.Fp;
  for (let x = 1n; ; x++) {
    try {
      Fp.sqrt(Fp.add(Fp.pow(x, 3n), 7n));
    } catch {
      return `0x02${x.toString(16).padStart(64, '0')}`;
    }
  }
})();

// ---------------------------------------------------------------------------------------------
// The operator's session key in the contract's storage

interface LayoutEntry { readonly label: string; readonly slot: string; readonly offset: number; readonly type: string }
interface LayoutType { readonly encoding: string; readonly label: string; readonly key?: string; readonly value?: string; readonly members?: readonly LayoutEntry[] }
interface StorageLayout { readonly storage: readonly LayoutEntry[]; readonly types: Readonly<Record<string, LayoutType>> }

/** KmsRegistry's storage layout from solc-js, compiled with scripts/build-contracts.mjs's sources and settings. */
async function registryStorageLayout(): Promise<StorageLayout> {
  const script = new URL('../../scripts/build-contracts.mjs', import.meta.url).href;
  const build = (await import(script)) as { readSources(): Record<string, { content: string }>; SETTINGS: object; CONTRACTS: readonly { name: string; file: string }[] };
  const solc = createRequire(import.meta.url)('solc') as { compile(input: string): string };
  const registry = build.CONTRACTS[0];
  assert.ok(registry, 'build-contracts lists the registry');
  const input = { language: 'Solidity', sources: build.readSources(), settings: { ...build.SETTINGS, outputSelection: { '*': { '*': ['storageLayout'] } } } };
  const out = JSON.parse(solc.compile(JSON.stringify(input))) as {
    errors?: { severity: string; formattedMessage: string }[];
    contracts?: Record<string, Record<string, { storageLayout?: StorageLayout }>>;
  };
  const errors = (out.errors ?? []).filter((e) => e.severity === 'error');
  assert.equal(errors.length, 0, errors.map((e) => e.formattedMessage).join('\n'));
  const layout = out.contracts?.[registry.file]?.[registry.name]?.storageLayout;
  assert.ok(layout, `solc gave no storage layout for ${registry.name}`);
  return layout;
}

/** A 32-byte storage word as hex. */
const word = (v: bigint | ViemHex): ViemHex => (typeof v === 'bigint' ? numberToHex(v, { size: 32 }) : pad(v, { size: 32, dir: 'right' }));

/**
 * The storage writes that make `getOperator(operator).sessionKey` read `key` (33 bytes): found
 * through the mapping from an address to the `Operator` struct, and that struct's members.
 * Two layouts are understood: a `bytes sessionKey` member (33 bytes: long form, the slot holds
 * length·2 + 1 and the data starts at keccak256(slot)), or a `bytes1 sessionKeyPrefix` plus a
 * `bytes32 sessionKeyX` (packed members are read, modified and written back).
 */
async function sessionKeyWrites(c: Cluster, layout: StorageLayout, operator: Address, key: Hex): Promise<{ slot: ViemHex; value: ViemHex }[]> {
  const operators = layout.storage.find((v) => {
    const t = layout.types[v.type];
    return t?.encoding === 'mapping' && t.key === 't_address' && /^struct \w+\.Operator$/.test(layout.types[t.value ?? '']?.label ?? '');
  });
  assert.ok(operators, 'the registry has a mapping from addresses to Operator structs');
  const struct = layout.types[layout.types[operators.type]?.value ?? ''];
  const members = struct?.members ?? [];
  const base = hexToBigInt(keccak256(encodeAbiParameters([{ type: 'address' }, { type: 'uint256' }], [operator, BigInt(operators.slot)])));
  const member = (label: string) => members.find((m) => m.label === label);
  const bytes = hexToBytes(key) as Uint8Array;
  assert.equal(bytes.length, 33);

  const asBytes = member('sessionKey');
  if (asBytes?.type === 't_bytes_storage') {
    const slot = base + BigInt(asBytes.slot);
    const data = hexToBigInt(keccak256(word(slot)));
    return [
      { slot: word(slot), value: word(BigInt(bytes.length * 2 + 1)) },
      { slot: word(data), value: slice(key, 0, 32) },
      { slot: word(data + 1n), value: word(slice(key, 32, 33)) },
    ];
  }
  const prefix = member('sessionKeyPrefix');
  const x = member('sessionKeyX');
  if (prefix?.type === 't_bytes1' && x?.type === 't_bytes32') {
    const prefixSlot = word(base + BigInt(prefix.slot));
    const current = (await c.ledger.client.getStorageAt({ address: c.registry, slot: prefixSlot })) ?? word(0n);
    // Packed members are right-aligned: offset 0 is the word's last byte.
    const at = 31 - prefix.offset;
    const updated = concat([slice(current, 0, at), slice(key, 0, 1), ...(at < 31 ? [slice(current, at + 1, 32)] : [])]);
    return [
      { slot: prefixSlot, value: updated },
      { slot: word(base + BigInt(x.slot)), value: slice(key, 1, 33) },
    ];
  }
  throw new Error(`the Operator struct keeps its session key in an unknown form (members: ${members.map((m) => `${m.label}: ${m.type}`).join(', ')}); teach this test the new layout`);
}

// ---------------------------------------------------------------------------------------------

describe('cluster: an operator with an invalid session key in the snapshot is its own fault; the reshares go on without it', { timeout: 420_000 }, () => {
  let c: Cluster;
  let kms: KmsClient;
  let layout: StorageLayout;
  let mpk: Hex;
  let appId: Hex;
  let ownerKey: Hex;
  /** The app key obtained after genesis. */
  let appKey: Hex;

  const addr = (i: number): Address => c.nodes[i]!.address;
  const submitted = async (session: number, type: 'deal' | 'ack' | 'confirm'): Promise<Address[]> =>
    (await c.ledger.getSubmissions(session)).filter((s) => s.type === type).map((s) => s.from);

  /**
   * The app key from version `v`'s partials, through the SDK; then checked here too: every
   * partial against PK_j from the on-chain polynomial, t of them combined, the result against
   * the MPK. Returns the key and who contributed a valid partial.
   */
  const keyFromVersion = async (v: VersionRecord): Promise<{ key: Hex; from: Address[] }> => {
    const r = await requestAppKey(kms, { appId, ownerKey, version: v.id, timeoutMs: 30_000 });
    assert.equal(r.version, v.id);
    const poly = publicPolyOf(v);
    const valid = r.partials.filter((p) => verifyPartial(publicShare(poly, operatorX(p.operator)), appIdentity(appId), parseHex(p.partial, 48, 'partial')));
    assert.deepEqual(valid.map((p) => p.operator), r.partials.filter((p) => p.valid).map((p) => p.operator), 'the SDK and this test agree on the valid partials');
    assert.ok(valid.length >= T, `at least t = ${T} valid partials of version ${v.id} (${valid.length})`);
    const d = combinePartials(valid.slice(0, T).map((p) => ({ x: operatorX(p.operator), partial: parseHex(p.partial, 48, 'partial') })));
    assert.equal(toHex(d), r.appKey, 'the partials combine to the key the SDK returned');
    assert.ok(verifyAppKey(bls.g2.decode(parseHex(mpk, 96, 'mpk')), appIdentity(appId), d), 'e(d, G2) == e(Q(id), MPK)');
    return { key: r.appKey, from: valid.map((p) => p.operator) };
  };

  /** Warning lines of node i that name `recipient` in `session`. */
  const sealedAroundWarnings = (i: number, session: number, recipient: Address) =>
    readFileSync(c.nodes[i]!.logPath, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l['level'] === 40 && l['session'] === session && l['recipient'] === recipient && /not a valid secp256k1 point/.test(String(l['msg'])));

  before(async () => {
    // solc first (≈ 0.5 s of CPU), so that nothing competes with the cluster's rounds later.
    layout = await registryStorageLayout();
    c = await startCluster({ n: 4, interval: INTERVAL, windows: WINDOWS, tickMs: 500, name: 'bad-session-key' });
    await c.waitForRoom(12);
    await c.armGenesis();
    const v1 = await c.waitForVersion(1);
    assert.equal(v1.threshold, T, 'n = 4: t = ceil(2n/3) = 3, so the 3 others can complete a round alone');
    const pinned = await c.ledger.getMpk();
    assert.ok(pinned);
    mpk = pinned;
    ownerKey = c.anvil.accounts[OWNER_ACCOUNT] as Hex;
    const owner = privateKeyToAccount(ownerKey).address.toLowerCase() as Address;
    appId = (await c.ledger.writer(owner).createApp(toHex(randomBytes(32)), ['ecdsa'])).toLowerCase() as Hex;
    kms = createKmsClient({ rpcUrl: c.rpcUrl, registry: c.registry });
  });
  after(async () => {
    await c?.stop();
  });

  it('after genesis, the app key from version 1\'s partials verifies against the MPK', async () => {
    const v1 = await c.ledger.getVersion(1);
    assert.ok(v1);
    const r = await keyFromVersion(v1);
    assert.deepEqual([...r.from].sort(), ALL.map(addr).sort(), 'all four operators sent a valid partial');
    appKey = r.key;
  });

  it('an operator stops and its on-chain session key becomes one with no point on the curve (an older registry\'s storage)', async () => {
    assert.equal(isValidSealPublicKey(hexToBytes(INVALID_KEY)), false);
    // Between two sessions, so that the next snapshot already lists the invalid key.
    await c.waitForQuiet(8);
    await c.kill(BAD, 'SIGKILL');
    const writes = await sessionKeyWrites(c, layout, addr(BAD), INVALID_KEY);
    const test = createTestClient({ mode: 'anvil', transport: http(c.rpcUrl) });
    for (const w of writes) await test.setStorageAt({ address: c.registry, index: w.slot, value: w.value });
    await c.waitFor('getOperator to return the invalid key', async () => ((await c.ledger.getOperator(addr(BAD)))?.sessionKey === INVALID_KEY ? true : undefined), { nodes: [] });
    const rec = await c.ledger.getOperator(addr(BAD));
    assert.equal(rec?.status, 'active', 'still a member: every snapshot lists it as a recipient');
  });

  it('the next two reshares list the invalid key and complete with the other three: MPK unchanged, the same app key', async () => {
    const latest = await c.ledger.latestSessionId();
    let first = latest + 1;
    // A session that opened in the instant between the quiet check and the write lists the old
    // key (of a stopped node, which changes nothing): the two after it are the ones to check.
    const s0 = await c.waitForSession(first);
    if (s0.snapshot.recipientKeys[s0.snapshot.recipients.indexOf(addr(BAD))] !== INVALID_KEY) first++;
    for (const id of [first, first + 1]) {
      const s = await c.waitForSession(id, { timeoutMs: 90_000 });
      assert.equal(s.snapshot.kind, 'reshare');
      const j = s.snapshot.recipients.indexOf(addr(BAD));
      assert.ok(j >= 0 && s.snapshot.dealers.includes(addr(BAD)), `session ${id}: the stopped operator is a dealer and a recipient`);
      assert.equal(s.snapshot.recipientKeys[j], INVALID_KEY, `session ${id}: its snapshot lists the invalid key`);
      assert.equal(s.snapshot.tOld, T);

      const v = await c.waitForVersion(id, { nodes: [...OTHERS] });
      assert.equal(v.id, id, `session ${id} completed (its own version, not a later one)`);
      assert.equal((await c.ledger.getSession(id))?.progress.outcome, 'completed');
      assert.deepEqual((await submitted(id, 'deal')).sort(), OTHERS.map(addr).sort(), 'the three others dealt');
      assert.deepEqual((await submitted(id, 'confirm')).sort(), OTHERS.map(addr).sort(), 'and confirmed');
      assert.equal(await c.ledger.getMpk(), mpk, 'the pinned MPK');
      assert.equal(v.publicPoly.slice(0, 2 + 192), mpk, 'A_0 of the new version is the MPK');
      for (const i of OTHERS) {
        assert.equal(sealedAroundWarnings(i, id, addr(BAD)).length, 1, `node ${i} warned once that it sealed around operator ${BAD} in session ${id}`);
        assert.equal((await c.status(i)).activeVersion, id);
      }
      const r = await keyFromVersion(v);
      assert.equal(r.key, appKey, `the same app key from version ${id}'s partials`);
      assert.deepEqual([...r.from].sort(), OTHERS.map(addr).sort());
    }
  });

  it('restarted, the operator publishes a valid key and takes part in the next reshare: four partials, the same app key', async () => {
    await c.startNodes([BAD]);
    const key = await c.waitFor('operator 3 to publish a fresh session key', async () => {
      const k = (await c.ledger.getOperator(addr(BAD)))?.sessionKey;
      return k && k !== INVALID_KEY ? k : undefined;
    }, { nodes: [BAD] });
    assert.ok(isValidSealPublicKey(hexToBytes(key)), 'a valid compressed point');
    // The first session opened after that lists it (a session already running lists the
    // invalid key: the node sits that one out). Later ones list whatever key the node
    // published in its confirmations.
    const id = await c.waitFor('a session that lists operator 3 with a valid key', async () => {
      const latest = await c.ledger.latestSessionId();
      const s = await c.ledger.getSession(latest);
      const k = s?.snapshot.recipientKeys[s.snapshot.recipients.indexOf(addr(BAD))];
      return k !== undefined && k !== INVALID_KEY ? latest : undefined;
    }, { timeoutMs: 90_000, nodes: [BAD] });
    const s = await c.ledger.getSession(id);
    assert.equal(s?.snapshot.recipientKeys[s.snapshot.recipients.indexOf(addr(BAD))], key, 'the key it published at its start');
    const v = await c.waitForVersion(id, { nodes: [...ALL] });
    assert.equal(v.id, id);
    assert.deepEqual((await submitted(id, 'confirm')).sort(), ALL.map(addr).sort(), 'all four confirmed');
    assert.equal(await c.ledger.getMpk(), mpk);
    const r = await keyFromVersion(v);
    assert.equal(r.key, appKey, 'the same app key');
    assert.deepEqual([...r.from].sort(), ALL.map(addr).sort(), 'all four operators sent a valid partial');
  });
});
