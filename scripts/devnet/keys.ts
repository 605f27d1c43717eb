/**
 * @module
 * Key material of the devnet's operators, one set per operator, in `<dir>/keys/` (0700),
 * each key in its own 0600 file as `kms-server --*-key-file` reads it:
 *
 *   opN.operator.key  transaction key: one of anvil's funded dev accounts (public knowledge)
 *   opN.sig.key       BN254 signing key (fresh), registered with a proof of possession
 *   opN.store.key     key-store encryption key (fresh, 32 random bytes)
 *
 * and the governance key (anvil account 0) and the demo app owner's key (fresh), so that
 * `kms-admin --key-file` works with them too. Nothing here is ever printed, except the demo
 * owner's key (a devnet key that controls only the demo app on this local chain).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { privateKeyToAccount } from 'viem/accounts';
import { generateOperatorSecretKey, operatorPublicKey } from '../../src/crypto/operator-sig.ts';
import { bytesToHex } from '../../src/protocol/hex.ts';
import type { Address, Hex } from '../../src/protocol/ledger.ts';

export interface OperatorKeys {
  /** `op1`, `op2`, … */
  readonly name: string;
  readonly address: Address;
  readonly txKey: Hex;
  readonly sigKey: Hex;
  /** The registered BN254 public key (G2, 128 bytes). */
  readonly sigPublicKey: Hex;
  readonly storeKey: Hex;
  readonly files: { readonly txKey: string; readonly sigKey: string; readonly storeKey: string };
}

/** Writes a key file readable by its owner only (0600, also when it existed). */
export function writeKeyFile(path: string, key: Hex): void {
  writeFileSync(path, `${key}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
}

export function keysDir(dir: string): string {
  const k = join(dir, 'keys');
  mkdirSync(k, { recursive: true, mode: 0o700 });
  chmodSync(k, 0o700);
  return k;
}

/** Creates and stores the keys of operator `index` (1-based) with anvil account `txKey`. */
export function createOperatorKeys(dir: string, index: number, txKey: Hex): OperatorKeys {
  const name = `op${index}`;
  const k = keysDir(dir);
  const sk = generateOperatorSecretKey('bn254');
  const sigKey = bytesToHex(sk);
  const sigPublicKey = bytesToHex(operatorPublicKey('bn254', sk));
  sk.fill(0);
  const storeKey = bytesToHex(randomBytes(32));
  const files = { txKey: join(k, `${name}.operator.key`), sigKey: join(k, `${name}.sig.key`), storeKey: join(k, `${name}.store.key`) };
  writeKeyFile(files.txKey, txKey);
  writeKeyFile(files.sigKey, sigKey);
  writeKeyFile(files.storeKey, storeKey);
  return { name, address: privateKeyToAccount(txKey).address.toLowerCase() as Address, txKey, sigKey, sigPublicKey, storeKey, files };
}
