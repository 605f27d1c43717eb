// The in-memory ledger: the shared conformance suite, then what only the memory ledger has
// (its block clock, several writes in one block, reads that are copies).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getAddress, keccak256, stringToHex } from 'viem';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { makeDomain, toHex } from '../../src/crypto/domain.ts';
import { createOperatorSigner, generateOperatorSecretKey } from '../../src/crypto/operator-sig.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import { LedgerError, type Address, type Hex, type LedgerErrorCode } from '../../src/protocol/ledger.ts';
import { MemoryLedger, type MemoryLedgerOptions } from '../../src/protocol/memory-ledger.ts';
import { MAX_OPERATORS, SIZES } from '../../src/protocol/session-rules.ts';
import { ledgerConformance, type LedgerHarness, type LedgerHarnessConfig, type LedgerHarnessOverrides } from './conformance.ts';

/** Deterministic account addresses, checksummed so the suite also exercises case normalisation. */
const account = (label: string): Address => getAddress(`0x${keccak256(stringToHex(label)).slice(-40)}`) as Address;

const CONFIG: LedgerHarnessConfig = { interval: 60, dealWindow: 15, ackWindow: 15, confirmWindow: 15, inclusionMargin: 5, governanceDelay: 0 };
const START = 1_764_000_000;

function options(): MemoryLedgerOptions {
  return { chainId: 31337n, registry: account('registry'), owner: account('owner'), ...CONFIG, startTime: START };
}

async function memoryHarness(overrides: LedgerHarnessOverrides = {}): Promise<LedgerHarness> {
  const config = { ...CONFIG, ...overrides };
  const ledger = new MemoryLedger({ ...options(), governanceDelay: config.governanceDelay });
  // Held to anvil's rule (a new block is strictly later than the latest one) so that the
  // suite's schedule is checked here before it runs on a real chain.
  const advance = (t: number) => {
    if (t <= ledger.time) throw new Error(`harness: time ${t} is not after the latest block time ${ledger.time}`);
    ledger.setTime(t);
  };
  return {
    ledger,
    owner: account('owner'),
    accounts: Array.from({ length: 14 }, (_, i) => account(`account ${i}`)),
    txAt: async (t) => advance(t),
    mineAt: async (t) => advance(t),
    now: async () => ledger.time,
    config,
    close: async () => {},
  };
}

ledgerConformance('memory', memoryHarness);

async function refuses(p: Promise<unknown>, code: LedgerErrorCode): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof LedgerError && e.code === code);
}

/** A ledger with n registered ECDSA operators and genesis armed. */
async function withOperators(n: number): Promise<{ ledger: MemoryLedger; ops: Address[] }> {
  const o = options();
  const ledger = new MemoryLedger({ ...o, interval: 1000, dealWindow: 100, ackWindow: 100, confirmWindow: 100 });
  const gov = ledger.writer(o.owner);
  const rng = seededRng('memory-ledger');
  const domain = makeDomain({ chainId: ledger.chainId, registry: ledger.registry });
  const ops: Address[] = [];
  for (let i = 0; i < n; i++) {
    const a = account(`op ${i}`).toLowerCase() as Address;
    const signer = createOperatorSigner('ecdsa', generateOperatorSecretKey('ecdsa', rng), domain);
    await gov.allowOperator(a, true);
    await ledger.writer(a).register({
      socket: `https://op${i}.example`,
      sigKeyType: 'ecdsa',
      sigPublicKey: toHex(signer.publicKey),
      proofOfPossession: toHex(signer.proofOfPossession(a)),
      sessionKey: toHex(secp256k1.getPublicKey(generateOperatorSecretKey('ecdsa', rng), true)),
    });
    ops.push(a);
  }
  await gov.armGenesis(2);
  return { ledger, ops };
}

const filler = (n: number, byte = 0xab): Hex => toHex(new Uint8Array(n).fill(byte));
const POINT = toHex(secp256k1.getPublicKey(generateOperatorSecretKey('ecdsa', seededRng('point')), true));

describe('memory ledger: block clock', () => {
  it('moves forward or stays, never back', () => {
    const ledger = new MemoryLedger(options());
    assert.equal(ledger.time, START);
    ledger.setTime(START);
    ledger.setTime(START + 10);
    assert.equal(ledger.time, START + 10);
    assert.throws(() => ledger.setTime(START + 9), RangeError);
    assert.throws(() => ledger.setTime(START + 10.5), RangeError);
    assert.equal(ledger.time, START + 10);
  });

  it('refuses a configuration whose windows do not fit in the interval', () => {
    assert.throws(
      () => new MemoryLedger({ ...options(), interval: 49 }), // 15 + 15 + 15 + 5 = 50
      (e: unknown) => e instanceof LedgerError && e.code === 'WindowsDoNotFit',
    );
  });

  it('records writes at the current time, several in one block; an early close opens the next window in the same block', async () => {
    const { ledger, ops } = await withOperators(2);
    const t = START + 5000;
    ledger.setTime(t);
    const id = await ledger.writer(ops[0] as Address).openSession();
    const snap = (await ledger.getSession(id))?.snapshot;
    assert.ok(snap);
    for (const a of ops) {
      await ledger.writer(a).submitDeal({
        session: id,
        commitments: filler(snap.tNew * SIZES.g2),
        ephemeralKey: POINT,
        sealedShares: snap.recipients.map(() => filler(SIZES.sealedShare)),
      });
    }
    // The last deal closed the deal window at t, so an ack at the same time is in the ack window.
    await ledger.writer(ops[0] as Address).submitAck({ session: id, complaints: [] });
    const s = await ledger.getSession(id);
    assert.deepEqual([s?.snapshot.openedAt, s?.progress.dealClosedAt], [t, t]);
    assert.deepEqual((await ledger.getSubmissions(id)).map((x) => x.at), [t, t, t]);
  });
});

describe('memory ledger: isolation', () => {
  it('reads are copies: mutating a result changes nothing in the ledger', async () => {
    const { ledger, ops } = await withOperators(3);
    const [a0, a1, a2] = ops as [Address, Address, Address];
    ledger.setTime(START + 5000);
    const id = await ledger.writer(a0).openSession();
    const snap = (await ledger.getSession(id))?.snapshot;
    assert.ok(snap);
    for (const a of ops) {
      await ledger.writer(a).submitDeal({
        session: id, commitments: filler(snap.tNew * SIZES.g2), ephemeralKey: POINT, sealedShares: snap.recipients.map(() => filler(SIZES.sealedShare)),
      });
    }
    await ledger.writer(a0).submitAck({ session: id, complaints: [{ dealer: a1, sharedKey: POINT, proof: filler(SIZES.dleqProof) }] });
    const poly = filler(snap.tNew * SIZES.g2, 0x11);
    for (const [i, a] of [a0, a1].entries()) {
      // The deal window closed early at START + 5000; the confirm window is [+100, +200).
      if (i === 0) ledger.setTime(START + 5000 + 150);
      await ledger.writer(a).submitConfirmation({ session: id, publicPolyHash: keccak256(poly), publicPoly: i === 0 ? poly : '0x', nextSessionKey: POINT });
    }
    const appId = await ledger.writer(a2).createApp(filler(32, 1), ['ecdsa']);
    await ledger.writer(a2).publishRelease(appId, { imageDigest: filler(32, 2), launchPolicy: '0x', encryptedEnv: '0x', publicEnv: 'A=1' });

    const before = JSON.stringify(await snapshotAll(ledger, id, appId, a0));
    // Type-level readonly does not stop a caller at run time; this simulates one that ignores it.
    const mutate = (o: unknown) => {
      const walk = (v: unknown): void => {
        if (Array.isArray(v)) {
          v.push('x');
          v.forEach(walk);
        } else if (v && typeof v === 'object') {
          for (const k of Object.keys(v)) {
            const rec = v as Record<string, unknown>;
            if (typeof rec[k] === 'object') walk(rec[k]);
            else rec[k] = 'mutated';
          }
        }
      };
      walk(o);
    };
    mutate(await snapshotAll(ledger, id, appId, a0));
    assert.equal(JSON.stringify(await snapshotAll(ledger, id, appId, a0)), before);
  });

  it('a refused write changes nothing', async () => {
    const { ledger, ops } = await withOperators(2);
    ledger.setTime(START + 5000);
    const id = await ledger.writer(ops[0] as Address).openSession();
    const before = JSON.stringify([await ledger.getSession(id), await ledger.getSubmissions(id)]);
    await refuses(
      ledger.writer(ops[0] as Address).submitDeal({ session: id, commitments: filler(1), ephemeralKey: POINT, sealedShares: [] }),
      'BadLength',
    );
    await refuses(ledger.writer(ops[0] as Address).submitAck({ session: id, complaints: [] }), 'WrongPhase');
    assert.equal(JSON.stringify([await ledger.getSession(id), await ledger.getSubmissions(id)]), before);
  });

  it('refuses malformed addresses as bad parameters', async () => {
    const ledger = new MemoryLedger(options());
    assert.throws(() => ledger.writer('0x1234' as Address), (e: unknown) => e instanceof LedgerError && e.code === 'BadParameter');
    await refuses(ledger.writer(account('owner')).allowOperator('0xnot-an-address' as Address, true), 'BadParameter');
  });
});

async function snapshotAll(ledger: MemoryLedger, id: number, appId: Hex, op: Address): Promise<unknown[]> {
  return [
    await ledger.getGovernance(),
    await ledger.getOperators(),
    await ledger.getOperator(op),
    await ledger.getSession(id),
    await ledger.getSubmissions(id),
    await ledger.getVersion(id),
    await ledger.activeVersion(),
    await ledger.getApp(appId),
    await ledger.getRelease(appId, 0),
  ];
}

describe('memory ledger: limits', () => {
  it('the registry refuses the 257th operator (TooManyOperators)', async () => {
    const o = options();
    const ledger = new MemoryLedger(o);
    const gov = ledger.writer(o.owner);
    const rng = seededRng('memory-ledger/limits');
    const domain = makeDomain({ chainId: ledger.chainId, registry: ledger.registry });
    const register = async (i: number) => {
      const a = account(`limit ${i}`).toLowerCase() as Address;
      const signer = createOperatorSigner('ecdsa', generateOperatorSecretKey('ecdsa', rng), domain);
      await gov.allowOperator(a, true);
      await ledger.writer(a).register({
        socket: 'https://op.example', sigKeyType: 'ecdsa', sigPublicKey: toHex(signer.publicKey), proofOfPossession: toHex(signer.proofOfPossession(a)), sessionKey: POINT,
      });
    };
    for (let i = 0; i < MAX_OPERATORS; i++) await register(i);
    assert.equal((await ledger.getOperators()).length, 256);
    await refuses(register(MAX_OPERATORS), 'TooManyOperators');
    assert.equal((await ledger.getOperators()).length, 256);
  });

  it('at most MAX_OPERATORS allow-list entries wait for the governance delay; entries in effect or revoked make room', async () => {
    const o = options();
    const ledger = new MemoryLedger({ ...o, governanceDelay: 100 });
    const gov = ledger.writer(o.owner);
    const a = (i: number) => account(`queued ${i}`);
    for (let i = 0; i < MAX_OPERATORS; i++) await gov.allowOperator(a(i), true);
    await refuses(gov.allowOperator(a(MAX_OPERATORS), true), 'BadParameter');
    await gov.allowOperator(a(0), false); // revoked: room for one
    await gov.allowOperator(a(MAX_OPERATORS), true);
    await refuses(gov.allowOperator(a(MAX_OPERATORS + 1), true), 'BadParameter');
    ledger.setTime(START + 100); // every entry in effect
    await gov.allowOperator(a(MAX_OPERATORS + 1), true);
    assert.deepEqual((await ledger.getGovernance()).queued, [{ kind: 'allowOperator', operator: a(MAX_OPERATORS + 1).toLowerCase(), effectiveAt: START + 200 }]);
  });
});
