// Shared set-up for the fork-chain tests: a chain with n registered ECDSA operators (genesis
// armed or not), filler submissions of the right sizes, and a full dump of what a reader
// shows (to compare states read in different ways).
import { makeDomain } from '../../src/crypto/domain.ts';
import { createOperatorSigner, generateOperatorSecretKey } from '../../src/crypto/operator-sig.ts';
import { seededRng, type Rng } from '../../src/crypto/rng.ts';
import { generateSealKeyPair } from '../../src/crypto/seal.ts';
import { bytesToHex } from '../../src/protocol/hex.ts';
import type { Address, DealSubmission, Hex, LedgerReader, SessionSnapshot } from '../../src/protocol/ledger.ts';
import { SIZES } from '../../src/protocol/session-rules.ts';
import { ForkChain, type ForkChainOptions, type MiningMode } from '../../src/sim/fork-chain.ts';

export const REGISTRY: Address = '0x00000000000000000000000000000000000000aa';
export const OWNER: Address = '0x00000000000000000000000000000000000000ff';
export const CHAIN_ID = 31337n;
export const START = 1_000_000;
export const INTERVAL = 60;
export const DOMAIN = makeDomain({ chainId: CHAIN_ID, registry: REGISTRY });

export function operatorAddresses(n: number): Address[] {
  return Array.from({ length: n }, (_, i) => `0x${String(i + 1).padStart(40, '0')}` as Address);
}

export interface WorldOptions {
  readonly n?: number;
  readonly finalityDepth?: number;
  readonly windows?: number;
  readonly arm?: boolean;
  /** The mode after set-up (set-up itself is automined). */
  readonly mode?: MiningMode;
  readonly seed?: string;
  readonly chain?: Partial<ForkChainOptions>;
}

/** A chain with `n` operators registered (ECDSA keys, one session key each) at START. */
export async function world(o: WorldOptions = {}): Promise<{ chain: ForkChain; ops: Address[]; sessionKeys: Map<Address, ReturnType<typeof generateSealKeyPair>> }> {
  const n = o.n ?? 3;
  const w = o.windows ?? 10;
  const seed = o.seed ?? 'fork-chain';
  const chain = new ForkChain({
    ledger: { chainId: CHAIN_ID, registry: REGISTRY, owner: OWNER, interval: INTERVAL, dealWindow: w, ackWindow: w, confirmWindow: w, inclusionMargin: 5, startTime: START },
    finalityDepth: o.finalityDepth ?? 3,
    mode: 'automine',
    rng: seededRng(`${seed}/chain`),
    ...o.chain,
  });
  const ops = operatorAddresses(n);
  const gov = chain.writer(OWNER);
  const sessionKeys = new Map<Address, ReturnType<typeof generateSealKeyPair>>();
  for (const [i, address] of ops.entries()) {
    await gov.allowOperator(address, true);
    const signer = createOperatorSigner('ecdsa', generateOperatorSecretKey('ecdsa', seededRng(`${seed}/sig ${i}`)), DOMAIN);
    const kp = generateSealKeyPair(seededRng(`${seed}/session key ${i}`));
    sessionKeys.set(address, kp);
    await chain.writer(address).register({
      socket: `http://op${i}`, sigKeyType: 'ecdsa', sigPublicKey: bytesToHex(signer.publicKey),
      proofOfPossession: bytesToHex(signer.proofOfPossession(address)), sessionKey: bytesToHex(kp.publicKey),
    });
  }
  if (o.arm ?? true) await gov.armGenesis(n);
  if (o.mode === 'blocks') chain.setMode('blocks');
  return { chain, ops, sessionKeys };
}

function bytes(rng: Rng, n: number): Hex {
  return bytesToHex(rng(n));
}

/** A deal of the right sizes (the ledger checks sizes and membership, never the maths). */
export function fillerDeal(snap: SessionSnapshot, rng: Rng): Omit<DealSubmission, 'type' | 'from'> {
  return {
    session: snap.id,
    commitments: bytes(rng, snap.tNew * SIZES.g2),
    ephemeralKey: `0x02${bytes(rng, 32).slice(2)}` as Hex,
    sealedShares: snap.recipients.map(() => bytes(rng, SIZES.sealedShare)),
  };
}

/** Everything a reader shows about the registry (for the accounts given), as one JSON string. */
export async function dump(r: LedgerReader, accounts: readonly Address[]): Promise<string> {
  const latest = await r.latestSessionId();
  const sessions = [];
  for (let id = 1; id <= latest; id++) sessions.push({ session: await r.getSession(id), submissions: await r.getSubmissions(id), version: await r.getVersion(id) });
  return JSON.stringify({
    now: await r.now(),
    governance: await r.getGovernance(),
    allowed: await Promise.all(accounts.map((a) => r.isAllowed(a))),
    operators: await r.getOperators(),
    latest,
    sessions,
    mpk: await r.getMpk(),
    active: await r.activeVersion(),
  });
}
