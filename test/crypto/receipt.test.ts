// Release receipts and the receipt log (src/crypto/receipt.ts; docs/formats.md "Release
// receipts"): the fixed layout, its strict parser, the operator signature, and a verifier
// that finds every way of tampering with a log whose head is committed on-chain.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { makeDomain, toHex, type Hex } from '../../src/crypto/domain.ts';
import { partialPayload } from '../../src/crypto/key-release.ts';
import { createOperatorSigner, type OperatorKeyType } from '../../src/crypto/operator-sig.ts';
import {
  decodeReceipt, encodeReceipt, entryHash, partialHash, RECEIPT_BYTES, RECEIPT_TAG, ReceiptFormatError, responseKeyHash,
  verifyLog, verifyReceiptSignature, ZERO_HEAD, type LogEntry, type Receipt,
} from '../../src/crypto/receipt.ts';
import { seededRng } from '../../src/crypto/rng.ts';

const REGISTRY = '0x5fbdb2315678afecb367f032d93f642f64180aa3';
const DOMAIN = makeDomain({ chainId: 31337, registry: REGISTRY });
const rng = seededRng('receipt-tests');
const hex = (n: number): Hex => toHex(rng(n));

function signerOf(type: OperatorKeyType) {
  const s = createOperatorSigner(type, type === 'bn254' ? Uint8Array.of(...new Uint8Array(31), 7) : new Uint8Array(32).fill(9), DOMAIN);
  return s;
}
const OPERATOR: Hex = '0x1111111111111111111111111111111111111111';

function receiptAt(position: number, prevHash: Hex, over: Partial<Receipt> = {}): Receipt {
  return {
    operator: OPERATOR, position, prevHash, appId: hex(32), epoch: 0, version: 3, route: '/app/sign', method: 'ecdsa',
    requestHash: hex(32), responseKeyHash: responseKeyHash(rng(32)), block: 100 + position, time: 1_800_000_000 + position,
    partialHash: partialHash(partialPayload({ appId: hex(32), version: 3, partial: rng(48), requestHash: rng(32) })), ...over,
  };
}

/** A valid log of n entries signed by `type`. */
function makeLog(type: OperatorKeyType, n: number): { entries: LogEntry[]; heads: Hex[] } {
  const signer = signerOf(type);
  const entries: LogEntry[] = [];
  const heads: Hex[] = [];
  let prev = ZERO_HEAD;
  for (let i = 0; i < n; i++) {
    const receipt = encodeReceipt(receiptAt(i, prev, i % 2 === 1 ? { route: '/secrets', method: 'jwt' } : {}));
    entries.push({ receipt, signature: signer.sign(receipt) });
    prev = entryHash(receipt);
    heads.push(prev);
  }
  return { entries, heads };
}

function verify(type: OperatorKeyType, entries: readonly LogEntry[], committedHead: Hex) {
  return verifyLog({ entries, operator: OPERATOR, domain: DOMAIN, sigKeyType: type, sigPublicKey: signerOf(type).publicKey, committedHead });
}

/** Re-signs entry i after changing its bytes (an operator rewriting its own history). */
function resign(type: OperatorKeyType, receipt: Uint8Array): LogEntry {
  return { receipt, signature: signerOf(type).sign(receipt) };
}

describe('receipt format', () => {
  it('is 243 fixed bytes starting with the tag; decode ∘ encode is the identity', () => {
    const r = receiptAt(5, hex(32), { epoch: 2, route: '/secrets', method: 'jwt', block: 0 });
    const bytes = encodeReceipt(r);
    assert.equal(bytes.length, RECEIPT_BYTES);
    assert.equal(Buffer.from(bytes.subarray(0, 21)).toString(), RECEIPT_TAG);
    assert.deepEqual(decodeReceipt(bytes), r);
    assert.equal(entryHash(bytes), toHex(keccak_256(bytes)));
  });

  it('puts each field at its documented offset (docs/formats.md)', () => {
    const r = receiptAt(0x0102, `0x${'ab'.repeat(32)}`, { appId: `0x${'cd'.repeat(32)}`, epoch: 7, version: 9, route: '/secrets', method: 'jwt', block: 0x0a0b, time: 0x0c0d });
    const b = encodeReceipt(r);
    const at = (o: number, n: number) => toHex(b.subarray(o, o + n));
    assert.equal(at(21, 20), OPERATOR);
    assert.equal(at(41, 8), '0x0000000000000102');
    assert.equal(at(49, 32), r.prevHash);
    assert.equal(at(81, 32), r.appId);
    assert.equal(at(113, 8), '0x0000000000000007');
    assert.equal(at(121, 8), '0x0000000000000009');
    assert.deepEqual([b[129], b[130]], [2, 2]);
    assert.equal(at(131, 32), r.requestHash);
    assert.equal(at(163, 32), r.responseKeyHash);
    assert.equal(at(195, 8), '0x0000000000000a0b');
    assert.equal(at(203, 8), '0x0000000000000c0d');
    assert.equal(at(211, 32), r.partialHash);
  });

  it('refuses every other byte string: wrong length, tag, route, method, version 0', () => {
    const good = encodeReceipt(receiptAt(0, ZERO_HEAD));
    const mutate = (i: number, v: number) => {
      const b = Uint8Array.from(good);
      b[i] = v;
      return b;
    };
    assert.throws(() => decodeReceipt(good.subarray(0, RECEIPT_BYTES - 1)), ReceiptFormatError);
    assert.throws(() => decodeReceipt(Uint8Array.of(...good, 0)), ReceiptFormatError);
    assert.throws(() => decodeReceipt(mutate(0, 0x45)), /does not start with/);
    assert.throws(() => decodeReceipt(mutate(129, 3)), /unknown route/);
    assert.throws(() => decodeReceipt(mutate(130, 0)), /unknown method/);
    const v0 = Uint8Array.from(good);
    v0.fill(0, 121, 129);
    assert.throws(() => decodeReceipt(v0), /version 0/);
    assert.throws(() => encodeReceipt({ ...receiptAt(0, ZERO_HEAD), version: 0 }), RangeError);
    assert.throws(() => encodeReceipt({ ...receiptAt(0, ZERO_HEAD), appId: '0x12' }), /receipt.appId/);
  });

  for (const type of ['ecdsa', 'bn254'] as const) {
    it(`${type}: the operator's signature verifies under its key and the domain only`, () => {
      const signer = signerOf(type);
      const receipt = encodeReceipt(receiptAt(0, ZERO_HEAD));
      const sig = signer.sign(receipt);
      assert.ok(verifyReceiptSignature(receipt, sig, DOMAIN, type, signer.publicKey), 'the genuine signature verifies');
      const flipped = Uint8Array.from(receipt);
      flipped[200] = (flipped[200] as number) ^ 1;
      assert.ok(!verifyReceiptSignature(flipped, sig, DOMAIN, type, signer.publicKey), 'not over a changed receipt');
      assert.ok(!verifyReceiptSignature(receipt, sig, makeDomain({ chainId: 1, registry: REGISTRY }), type, signer.publicKey), 'not under another domain');
      const other = createOperatorSigner(type, new Uint8Array(32).fill(3), DOMAIN);
      assert.ok(!verifyReceiptSignature(receipt, sig, DOMAIN, type, other.publicKey), 'not under another key');
      assert.ok(!verifyReceiptSignature(receipt, sig.subarray(1), DOMAIN, type, signer.publicKey), 'a short signature is false, not a throw');
    });
  }
});

describe('receipt log verification against the committed head', () => {
  const type: OperatorKeyType = 'ecdsa';

  it('a log that holds its committed head verifies; entries after it are not yet committed', () => {
    const { entries, heads } = makeLog(type, 5);
    const v = verify(type, entries, heads[2] as Hex);
    assert.ok(v.consistent, 'the log with its committed head verifies');
    assert.equal(v.committedCount, 3);
    assert.deepEqual(v.entries.map((e) => e.committed), [true, true, true, false, false]);
    assert.equal(v.head, heads[4]);
    const none = verify(type, entries, ZERO_HEAD);
    assert.ok(none.consistent && none.committedCount === 0, 'nothing committed yet: every entry listed as not committed');
    const empty = verify(type, [], ZERO_HEAD);
    assert.ok(empty.consistent && empty.entries.length === 0 && empty.head === ZERO_HEAD, 'an empty log with no head verifies, its head zero');
  });

  it('bn254: the same log rules under a BLS signing key', () => {
    const { entries, heads } = makeLog('bn254', 3);
    const v = verify('bn254', entries, heads[2] as Hex);
    assert.ok(v.consistent && v.committedCount === 3, 'the bn254 log verifies, 3 entries committed');
    assert.ok(!verify('ecdsa', entries, heads[2] as Hex).consistent, 'not under another key type');
  });

  it('detects a rewritten entry even when the operator re-signs it (the next entry no longer chains it)', () => {
    const { entries, heads } = makeLog(type, 5);
    const r = decodeReceipt(entries[1]?.receipt as Uint8Array);
    const rewritten = [...entries];
    rewritten[1] = resign(type, encodeReceipt({ ...r, appId: hex(32) })); // hide whose key it was
    const v = verify(type, rewritten, heads[4] as Hex);
    assert.ok(!v.consistent, 'the tampered log is inconsistent');
    assert.equal(v.position, 2);
    assert.match(v.reason, /does not chain entry 1/);
  });

  it('detects a rewritten history re-chained and re-signed to the end (the committed head is gone)', () => {
    const { entries, heads } = makeLog(type, 4);
    const out: LogEntry[] = [entries[0] as LogEntry];
    let prev = entryHash(entries[0]?.receipt as Uint8Array);
    for (let i = 1; i < 4; i++) {
      const r = decodeReceipt(entries[i]?.receipt as Uint8Array);
      const e = resign(type, encodeReceipt({ ...r, prevHash: prev, time: r.time + 1 }));
      out.push(e);
      prev = entryHash(e.receipt);
    }
    const v = verify(type, out, heads[3] as Hex);
    assert.ok(!v.consistent, 'the tampered log is inconsistent');
    assert.match(v.reason, /does not contain the head .* committed on-chain/);
    assert.ok(verify(type, out, ZERO_HEAD).consistent, 'control: the same log is self-consistent; only the on-chain head exposes it');
  });

  it('detects a history rewritten and then committed under a new head, by the heads committed before', () => {
    const { entries, heads } = makeLog(type, 4);
    // The operator committed heads[1] in session 5, then rewrote entry 1 (re-signed, re-chained)
    // and committed the new head in session 6.
    const out: LogEntry[] = [entries[0] as LogEntry];
    let prev = heads[0] as Hex;
    for (let i = 1; i < 4; i++) {
      const r = decodeReceipt(entries[i]?.receipt as Uint8Array);
      const e = resign(type, encodeReceipt({ ...r, prevHash: prev, ...(i === 1 ? { appId: hex(32) } : {}) }));
      out.push(e);
      prev = entryHash(e.receipt);
    }
    const latestOnly = verify(type, out, prev);
    assert.ok(latestOnly.consistent, 'control: against its latest head alone the rewritten log passes');
    const v = verifyLog({ entries: out, operator: OPERATOR, domain: DOMAIN, sigKeyType: type, sigPublicKey: signerOf(type).publicKey, committedHead: prev, earlierHeads: [{ head: heads[1] as Hex, session: 5 }] });
    assert.ok(!v.consistent, 'the earlier head exposes the rewrite');
    assert.match(v.reason, /does not contain the head .* it committed in session 5/);
    const honest = verifyLog({ entries, operator: OPERATOR, domain: DOMAIN, sigKeyType: type, sigPublicKey: signerOf(type).publicKey, committedHead: heads[3] as Hex, earlierHeads: [{ head: heads[0] as Hex, session: 4 }, { head: heads[1] as Hex, session: 5 }] });
    assert.ok(honest.consistent, 'an honest log contains every head it committed');
  });

  it('detects a truncated log (the committed head is missing)', () => {
    const { entries, heads } = makeLog(type, 4);
    const v = verify(type, entries.slice(0, 2), heads[3] as Hex);
    assert.ok(!v.consistent, 'the tampered log is inconsistent');
    assert.match(v.reason, /2 entries\) does not contain the head/);
  });

  it('detects reordered, removed and inserted entries (positions)', () => {
    const { entries, heads } = makeLog(type, 4);
    const swapped = [entries[0], entries[2], entries[1], entries[3]] as LogEntry[];
    const s = verify(type, swapped, heads[3] as Hex);
    assert.ok(!s.consistent && s.position === 1 && /says it is at position 2/.test(s.reason), 'swapped entries: position 1 says 2');
    const removed = [entries[0], entries[2], entries[3]] as LogEntry[];
    assert.ok(!verify(type, removed, heads[3] as Hex).consistent, 'a removed entry is detected');
    const extra = resign(type, encodeReceipt(receiptAt(1, heads[0] as Hex)));
    const inserted = [entries[0], extra, ...entries.slice(1)] as LogEntry[];
    const ins = verify(type, inserted, heads[3] as Hex);
    assert.ok(!ins.consistent && ins.position === 2, 'an inserted entry is detected at position 2');
  });

  it('detects a bad signature and an entry in another operator\'s name', () => {
    const { entries, heads } = makeLog(type, 3);
    const badSig = [...entries];
    const sig = Uint8Array.from(entries[1]?.signature as Uint8Array);
    sig[10] = (sig[10] as number) ^ 0xff;
    badSig[1] = { receipt: entries[1]?.receipt as Uint8Array, signature: sig };
    const b = verify(type, badSig, heads[2] as Hex);
    assert.ok(!b.consistent && b.position === 1 && /no valid signature/.test(b.reason), 'a bad signature at position 1');
    const foreign = verifyLog({ entries, operator: '0x2222222222222222222222222222222222222222', domain: DOMAIN, sigKeyType: type, sigPublicKey: signerOf(type).publicKey, committedHead: heads[2] as Hex });
    assert.ok(!foreign.consistent && /names operator/.test(foreign.reason), 'entries in another operator\'s name');
    const garbage = [{ receipt: new Uint8Array(10), signature: new Uint8Array(65) }];
    assert.ok(!verify(type, garbage, ZERO_HEAD).consistent, 'bytes that are not a receipt');
  });
});
