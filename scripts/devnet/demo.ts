/**
 * @module
 * The devnet's demo app and demo run.
 *
 * The app is created by a fresh owner key with the `ecdsa` attestation method (the owner's
 * EIP-712 signature releases the app key), and gets release 0 whose env is IBE-encrypted to
 * the app id (its lowercase 0x-hex string) under the pinned MPK, as `kms-admin
 * publish-release --env-file` does.
 *
 * The demo prints no secret: not the env values, the app key or the mnemonic; only that
 * they came back right, and fingerprints.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { ChainLedger } from '../../src/chain/chain-ledger.ts';
import { createKmsClient, describeFault, type KmsClient, type OperatorFault } from '../../src/client/index.ts';
import { encryptToApp } from '../../src/crypto/ibe.ts';
import { bytesToHex, mustHex } from '../../src/protocol/hex.ts';
import type { Address, Hex } from '../../src/protocol/ledger.ts';
import { shortHex } from './output.ts';

export interface DemoApp {
  readonly appId: Hex;
  readonly owner: Address;
  /** Names of the variables in the encrypted env (values are secret). */
  readonly envNames: readonly string[];
  /** The env as encrypted (kept to check the demo's decryption; never printed). */
  readonly env: string;
  readonly publicEnv: string;
}

const utf8 = new TextEncoder();

/** Creates the demo app and publishes release 0. `owner` must be funded and known to the ledger. */
export async function createDemoApp(ledger: ChainLedger, owner: Address, mpk: Hex): Promise<DemoApp> {
  const w = ledger.writer(owner);
  const appId = (await w.createApp(bytesToHex(randomBytes(32)), ['ecdsa'])).toLowerCase() as Hex;
  const vars: Array<[string, string]> = [
    ['DEMO_SECRET', randomBytes(16).toString('hex')],
    ['DEMO_API_TOKEN', `tok_${randomBytes(12).toString('base64url')}`],
  ];
  const env = vars.map(([k, v]) => `${k}=${v}\n`).join('');
  const publicEnv = 'DEMO_GREETING=hello from the eigenx-kms devnet\n';
  const encryptedEnv = bytesToHex(encryptToApp(mustHex(mpk, 'MPK'), appId, utf8.encode(env)));
  await w.publishRelease(appId, {
    imageDigest: `0x${createHash('sha256').update('eigenx-kms devnet demo image').digest('hex')}`,
    launchPolicy: '0x01',
    encryptedEnv,
    publicEnv,
  });
  return { appId, owner, envNames: vars.map(([k]) => k), env, publicEnv };
}

export interface RunDemoParameters {
  readonly rpcUrl: string;
  readonly registry: Address;
  readonly chainId: number;
  readonly app: DemoApp;
  /** The app owner's key (signs the EIP-712 key-release requests). */
  readonly ownerKey: Hex;
  /** The pinned MPK read from the chain at genesis. */
  readonly mpk: Hex;
}

export interface DemoResult {
  /** Lines to print (no secret in them). */
  readonly lines: string[];
  /** Every step checked out. */
  readonly ok: boolean;
  /** Fingerprint of the app key, to show it survives reshares; null when the release failed. */
  readonly appKeyFingerprint: string | null;
}

/** sha256 fingerprint (first 8 bytes, hex) of a secret, for "it is the same" checks without showing it. */
export function fingerprint(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex').slice(0, 16);
}

/** The first line of an error's message (SDK and chain errors put details on later lines). */
export function errorLine(e: unknown): string {
  const short = (e as { shortMessage?: unknown }).shortMessage;
  const text = typeof short === 'string' ? short : e instanceof Error ? e.message : String(e);
  return text.split('\n', 1)[0] ?? '';
}

function faultsText(faults: readonly OperatorFault[]): string {
  return faults.length === 0 ? '' : `; left out: ${faults.map(describeFault).join('; ')}`;
}

/** A client SDK instance for the devnet. */
export function devnetClient(p: Pick<RunDemoParameters, 'rpcUrl' | 'registry' | 'chainId'>): KmsClient {
  return createKmsClient({ rpcUrl: p.rpcUrl, registry: p.registry, chainId: p.chainId, blockTag: 'latest' });
}

/**
 * The demo, through the client SDK as an app would use it: public key → encrypt → attested
 * key release (the owner's EIP-712 signature; t partials combined and verified) → decrypt →
 * secrets (the release env) → mnemonic. Each step is one line; a failed step is marked ✗
 * with the SDK's one-line reason, and the next steps that need it are skipped.
 */
export async function runDemo(p: RunDemoParameters): Promise<DemoResult> {
  const kms = devnetClient(p);
  const appId = p.app.appId;
  const lines: string[] = [];
  let ok = true;
  const fail = (step: string, e: unknown): void => {
    ok = false;
    lines.push(`✗ ${step}: ${errorLine(e)}`);
  };

  // 1. the public key, as the chain pins it and an operator serves it
  try {
    const pk = await kms.getPublicKey();
    const same = pk.mpk.toLowerCase() === p.mpk.toLowerCase();
    if (!same) ok = false;
    lines.push(`${same ? '✓' : '✗'} public key   MPK as pinned on-chain${same ? '' : ' (MISMATCH)'}; version ${pk.version}, threshold ${pk.threshold} of ${pk.operators.length}; public polynomial from ${pk.source === 'chain' ? 'the chain' : shortHex(pk.source)} matches its on-chain hash${faultsText(pk.faults)}`);
  } catch (e) {
    fail('public key', e);
  }

  // 2. encrypt to the app id (anyone can: only the MPK and the id are needed)
  const message = 'hello from the eigenx-kms devnet';
  let envelope: Uint8Array | null = null;
  try {
    envelope = await kms.encrypt({ appId, plaintext: message });
    lines.push(`✓ encrypt      ${JSON.stringify(message)} to app ${shortHex(appId)} under the MPK → ${envelope.length}-byte IBE envelope`);
  } catch (e) {
    fail('encrypt', e);
  }

  // 3. attested key release: the owner signs; every operator answers; t partials make the key
  let appKey: Hex | null = null;
  try {
    const r = await kms.requestAppKey({ appId, ownerKey: p.ownerKey });
    appKey = r.appKey;
    const valid = r.partials.filter((x) => x.valid).length;
    lines.push(`✓ key release  owner-signed (EIP-712, ecdsa method) request to every operator → ${valid}/${r.partials.length} valid partials of version ${r.version}; ${r.threshold} combined into the app key, verified against the MPK${faultsText(r.faults)}`);
  } catch (e) {
    fail('key release', e);
  }

  // 4. decrypt with the app key
  if (envelope !== null && appKey !== null) {
    try {
      const pt = await kms.decrypt({ appId, envelope, appKey });
      const same = new TextDecoder().decode(pt) === message;
      if (!same) ok = false;
      lines.push(`${same ? '✓' : '✗'} decrypt      with the app key → ${same ? `${JSON.stringify(message)} (the original)` : 'a different plaintext'}`);
    } catch (e) {
      fail('decrypt', e);
    }
  }

  // 5. secrets: the latest release's env, decrypted with the released key
  try {
    const s = await kms.getSecrets({ appId, ownerKey: p.ownerKey });
    const env = new TextDecoder().decode(s.env);
    const same = env === p.app.env;
    if (!same) ok = false;
    lines.push(`${same ? '✓' : '✗'} secrets      release ${s.release.index} env decrypted: ${p.app.envNames.join(', ')} ${same ? '(values as published; not shown)' : 'DIFFER from what was published'}; public env ${s.release.publicEnv.trim()}${faultsText(s.faults)}`);
    s.env.fill(0);
  } catch (e) {
    fail('secrets', e);
  }

  // 6. the app's wallet mnemonic, derived from the app key
  if (appKey !== null) {
    try {
      const m = await kms.appMnemonic({ appId, appKey });
      const words = m.mnemonic.split(' ').length;
      lines.push(`✓ mnemonic     ${words} words derived from the app key (not shown; \`kms-client mnemonic\` prints them), fingerprint ${fingerprint(m.mnemonic)}`);
    } catch (e) {
      fail('mnemonic', e);
    }
  }
  return { lines, ok, appKeyFingerprint: appKey === null ? null : fingerprint(appKey) };
}

/**
 * Requests the demo app key again, from the shares of `version` (after a reshare: the new
 * version, so the check shows that new shares give the same key), and returns its fingerprint.
 */
export async function appKeyFingerprint(p: RunDemoParameters, version?: number): Promise<{ fingerprint: string; version: number }> {
  const r = await devnetClient(p).requestAppKey({ appId: p.app.appId, ownerKey: p.ownerKey, ...(version !== undefined ? { version } : {}) });
  return { fingerprint: fingerprint(r.appKey), version: r.version };
}
