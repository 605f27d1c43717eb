// Operator x-coordinates: x(a) = keccak256(20 address bytes) mod r (SPEC 2).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fr from '../../src/crypto/fr.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import { aXs } from '../../src/crypto/polynomial.ts';
import {
  OperatorXError,
  assertOperatorXs,
  isAddress,
  normalizeAddress,
  operatorX,
  operatorXs,
  parseAddress,
} from '../../src/crypto/operator-x.ts';

const ZERO = '0x0000000000000000000000000000000000000000';
const ONE = '0x0000000000000000000000000000000000000001';
const TWO = '0x0000000000000000000000000000000000000002';

describe('operator-x: vectors', () => {
  it('x(0x00…00) = keccak256(20 zero bytes), which is below r', () => {
    // keccak256(abi.encodePacked(address(0))), as Solidity computes it.
    const h = 0x5380c7b7ae81a58eb98d9c78de4a1fd7fd9535fc953ed2be602daaa41767312an;
    assert.ok(h < fr.R);
    assert.equal(operatorX(ZERO), h);
  });

  it('x(0x00…01) = keccak256(abi.encodePacked(address(1)))', () => {
    assert.equal(operatorX(ONE), 0x1468288056310c82aa4c01a7e12a10f8111a0560e72b700555479031b86c357dn);
  });

  it('x(0x00…02) is reduced once mod r (its digest is ≥ r)', () => {
    const h = 0xd52688a8f926c816ca1e079067caba944f158e764817b83fc43594370ca9cf62n;
    assert.ok(h >= fr.R);
    assert.equal(operatorX(TWO), h - fr.R);
    assert.equal(operatorX(TWO), 0x6138e155cf894ace96e42f885e28e28efb57ea7348195c40c43594380ca9cf61n);
  });

  it('hashes the 20 raw bytes, not the hex text: bytes and string give the same x', () => {
    const bytes = parseAddress('0x00112233445566778899aabbccddeeff00112233');
    assert.equal(bytes.length, 20);
    assert.equal(bytes[1], 0x11);
    assert.equal(operatorX(bytes), operatorX('0x00112233445566778899aabbccddeeff00112233'));
  });
});

describe('operator-x: address parsing', () => {
  it('is case-insensitive in the hex digits', () => {
    const lower = '0xabcdefabcdefabcdefabcdefabcdefabcdefabcd';
    const upper = '0xABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCD';
    const mixed = '0xAbCdEfabcdefABCDEFabcdefabcdefABCDEFabcd';
    assert.equal(operatorX(lower), operatorX(upper));
    assert.equal(operatorX(lower), operatorX(mixed));
    assert.equal(normalizeAddress(mixed), lower);
  });

  it('refuses anything but 0x + 40 hex digits, naming the parameter', () => {
    const bad = [
      '',
      '0x',
      '0000000000000000000000000000000000000000',
      '0X0000000000000000000000000000000000000000',
      '0x000000000000000000000000000000000000000', // 39
      '0x00000000000000000000000000000000000000000', // 41
      '0x000000000000000000000000000000000000000g',
      ' 0x0000000000000000000000000000000000000000',
      '0x0000000000000000000000000000000000000000\n',
      '0x' + 'ab'.repeat(1000),
    ];
    for (const s of bad) {
      assert.equal(isAddress(s), false, JSON.stringify(s));
      assert.throws(() => parseAddress(s), (e: Error) => e instanceof RangeError && e.message.startsWith('address: expected 0x'));
      assert.throws(() => operatorX(s), RangeError);
    }
    // Long input is echoed only as a bounded prefix.
    assert.throws(() => parseAddress('0x' + 'ab'.repeat(1000)), (e: Error) => e.message.length < 200);
    // @ts-expect-error: wrong type on purpose
    assert.throws(() => parseAddress(42), TypeError);
    assert.throws(() => operatorX(new Uint8Array(19)), /address: expected 20 bytes, got 19/);
    assert.throws(() => operatorXs([ONE, 'nope']), /addresses\[1\]: expected 0x/);
    assert.ok(isAddress(ONE));
  });
});

describe('operator-x: sets', () => {
  it('maps 200 random addresses to distinct, canonical, non-zero xs', () => {
    const rng = seededRng('operator-x/random');
    const addrs = Array.from({ length: 200 }, () => normalizeAddress(rng(20)));
    const xs = operatorXs(addrs);
    assert.equal(xs.length, 200);
    aXs(xs); // distinct, non-zero, < r
    xs.forEach((x, i) => assert.equal(x, operatorX(addrs[i] as string)));
  });

  it('refuses the same address twice, even in a different case, naming both indices', () => {
    const a = '0xabcdefabcdefabcdefabcdefabcdefabcdefabcd';
    assert.throws(
      () => operatorXs([a, ONE, a.toUpperCase().replace('0X', '0x')]),
      (e: unknown) =>
        e instanceof OperatorXError &&
        e.reason === 'duplicate' &&
        e.indices.join() === '0,2' &&
        e.addresses.every((x) => x === a) &&
        /indices 0 and 2/.test(e.message) &&
        /listed twice/.test(e.message),
    );
  });

  it('refuses x = 0 and two different addresses colliding mod r (crafted xs)', () => {
    // No address is known to hash to 0 or to collide mod r, so the rule is tested on crafted xs.
    assert.throws(
      () => assertOperatorXs([
        { address: ONE, x: 5n },
        { address: TWO, x: 0n },
      ]),
      (e: unknown) => e instanceof OperatorXError && e.reason === 'zero' && e.indices.join() === '1' && e.addresses[0] === TWO,
    );
    assert.throws(
      () => assertOperatorXs([
        { address: ZERO, x: 9n },
        { address: ONE, x: 7n },
        { address: TWO, x: 9n },
      ]),
      (e: unknown) =>
        e instanceof OperatorXError && e.reason === 'duplicate' && e.indices.join() === '0,2' && /collide mod r/.test(e.message),
    );
    assert.doesNotThrow(() => assertOperatorXs([{ address: ONE, x: 1n }]));
  });

  it('an empty list gives no xs', () => {
    assert.deepEqual(operatorXs([]), []);
  });
});
