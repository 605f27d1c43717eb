/**
 * @module
 * Reading the registry, as plain functions over a viem public client, every one pinned to one
 * block by its **hash** (EIP-1898, `requireCanonical`): the caller resolves the head (or the
 * final block) once, and a reorg between two calls of one view can never mix two forks — a
 * call on a block that left the canonical chain fails instead of answering from the other
 * fork. Event logs are read by block-number range (no node serves ranges by hash); what they
 * return is proven against the counter and digest read at the pinned hash.
 *
 * The contract stores hashes and counters; the data lives in events:
 * - a session's snapshot is the `SessionOpened` event at `openedBlock`, checked against the
 *   stored `snapshotHash` (keccak256 of its ABI encoding);
 * - submissions are the `DealSubmitted` / `AckSubmitted` / `ConfirmationSubmitted` events in
 *   blocks `[openedBlock, openedBlock + lastSubmissionOffset]`, checked against the stored
 *   counter and rolling digest (`submission-digest.ts`);
 * - a version's polynomial is the `ConfirmationSubmitted` event that published it;
 * - a release is the `ReleasePublished` event at the stored block, checked against its hash.
 * A read that cannot be proven complete throws `ContractRefusalError('IncompleteView')`.
 */
import {
  encodeAbiParameters,
  getAbiItem,
  keccak256,
  type AbiParameter,
  type Address as ViemAddress,
  type GetLogsReturnType,
  type PublicClient,
} from 'viem';
import {
  ZERO_HASH,
  type AckSubmission,
  type Address,
  type AppRecord,
  type AttestationMethod,
  type ConfirmSubmission,
  type DealSubmission,
  type Governance,
  type Hex,
  type OperatorRecord,
  type QueuedGovernanceChange,
  type RecordedSubmission,
  type Release,
  type SessionKind,
  type SessionProgress,
  type SessionSnapshot,
  type VersionRecord,
} from '../protocol/ledger.ts';
import { unpackDeal } from '../protocol/deal-bytes.ts';
import { digestOf } from '../protocol/submission-digest.ts';
import { kmsRegistryAbi } from './kms-registry-artifact.ts';
import { ContractRefusalError } from './errors.ts';

/** Where and when to read. */
export interface ReadContext {
  readonly client: PublicClient;
  readonly registry: Address;
  /** The block every call of one ledger read is pinned to: its number (log ranges) … */
  readonly blockNumber: bigint;
  /** … and its hash (every `eth_call`, EIP-1898). */
  readonly blockHash: Hex;
  /** Timestamp of that block (chain time of the read). */
  readonly timestamp: number;
}

/** Max blocks per eth_getLogs request (public RPCs cap ranges). */
export const LOG_RANGE = 5_000n;

const lc = (a: string): Address => a.toLowerCase() as Address;
const num = (v: bigint | number): number => Number(v);

/** The block parameter of every call: the pinned hash, refused by the node if it left the canonical chain. */
function at(ctx: ReadContext): { blockHash: Hex; requireCanonical: true } {
  return { blockHash: ctx.blockHash, requireCanonical: true };
}

function meta(ctx: ReadContext, extra: string[] = []): string[] {
  return [`Contract: KmsRegistry at ${ctx.registry}`, ...extra, `Block: ${ctx.blockNumber}`];
}

function incomplete(ctx: ReadContext, message: string, extra: string[] = []): ContractRefusalError {
  return new ContractRefusalError('IncompleteView', message, { metaMessages: meta(ctx, extra) });
}

// ---------------------------------------------------------------------------------------
// Governance and operators

export type ReadGovernanceReturnType = Governance;

export async function readGovernance(ctx: ReadContext): Promise<Governance> {
  const g = await ctx.client.readContract({
    address: ctx.registry, abi: kmsRegistryAbi, functionName: 'getGovernance', ...at(ctx),
  });
  const q = g.queued;
  // The contract reports a slot with nothing waiting as effective time 0.
  const queued: QueuedGovernanceChange[] = [];
  if (q.thresholdOverrideAt > 0n) queued.push({ kind: 'thresholdOverride', value: num(q.thresholdOverride), effectiveAt: num(q.thresholdOverrideAt) });
  if (q.churnCapAt > 0n) queued.push({ kind: 'churnCap', value: num(q.churnCap), effectiveAt: num(q.churnCapAt) });
  if (q.scheduleAt > 0n) {
    queued.push({
      kind: 'schedule', interval: num(q.interval), dealWindow: num(q.dealWindow), ackWindow: num(q.ackWindow),
      confirmWindow: num(q.confirmWindow), protocolVersion: num(q.protocolVersion), effectiveAt: num(q.scheduleAt),
    });
  }
  for (const a of q.allows) queued.push({ kind: 'allowOperator', operator: lc(a.operator), effectiveAt: num(a.effectiveAt) });
  return {
    owner: lc(g.owner),
    pendingOwner: BigInt(g.pendingOwner) === 0n ? null : lc(g.pendingOwner),
    thresholdOverride: num(g.thresholdOverride),
    interval: num(g.interval),
    dealWindow: num(g.dealWindow),
    ackWindow: num(g.ackWindow),
    confirmWindow: num(g.confirmWindow),
    inclusionMargin: num(g.inclusionMargin),
    governanceDelay: num(g.governanceDelay),
    churnCap: num(g.churnCap),
    genesisMinOperators: num(g.genesisMinOperators),
    protocolVersion: num(g.protocolVersion),
    queued,
  };
}

export async function readIsAllowed(ctx: ReadContext, operator: Address): Promise<boolean> {
  return ctx.client.readContract({
    address: ctx.registry, abi: kmsRegistryAbi, functionName: 'isAllowed', args: [operator as ViemAddress], ...at(ctx),
  });
}

interface OperatorView {
  readonly operator: string;
  readonly socket: string;
  readonly sigKeyType: number;
  readonly sigPublicKey: Hex;
  readonly sessionKey: Hex;
  readonly status: number;
  readonly registeredSeq: bigint;
}

function toOperatorRecord(v: OperatorView): OperatorRecord {
  return {
    address: lc(v.operator),
    socket: v.socket,
    sigKeyType: v.sigKeyType === 0 ? 'bn254' : 'ecdsa',
    sigPublicKey: lc(v.sigPublicKey),
    sessionKey: lc(v.sessionKey),
    status: v.status === 1 ? 'active' : 'leaving',
    registeredSeq: num(v.registeredSeq),
  };
}

/** All registered operators (active and leaving) in registration order. */
export async function readOperators(ctx: ReadContext): Promise<OperatorRecord[]> {
  const list = await ctx.client.readContract({
    address: ctx.registry, abi: kmsRegistryAbi, functionName: 'getOperators', ...at(ctx),
  });
  return list.map(toOperatorRecord);
}

export async function readOperator(ctx: ReadContext, operator: Address): Promise<OperatorRecord | null> {
  const v = await ctx.client.readContract({
    address: ctx.registry, abi: kmsRegistryAbi, functionName: 'getOperator', args: [operator as ViemAddress], ...at(ctx),
  });
  return v.status === 0 ? null : toOperatorRecord(v);
}

// ---------------------------------------------------------------------------------------
// Sessions

/** The stored part of a session (`KmsRegistry.SessionState`). */
export interface SessionState {
  readonly boundary: bigint;
  readonly openedAt: bigint;
  readonly openedBlock: bigint;
  readonly kind: number;
  readonly completed: boolean;
  readonly tNew: number;
  readonly tOld: number;
  readonly dealWindow: number;
  readonly ackWindow: number;
  readonly confirmWindow: number;
  readonly dealerCount: number;
  readonly recipientCount: number;
  readonly quorum: number;
  readonly dealCount: number;
  readonly ackCount: number;
  readonly confirmCount: number;
  readonly counter: number;
  readonly lastSubmissionOffset: number;
  readonly dealClosedAt: bigint;
  readonly ackClosedAt: bigint;
  readonly confirmClosedAt: bigint;
  readonly completedAt: bigint;
  readonly sourceVersion: bigint;
  readonly digest: Hex;
  readonly snapshotHash: Hex;
  readonly sourcePolyHash: Hex;
  readonly completedPolyHash: Hex;
}

export async function readLatestSessionId(ctx: ReadContext): Promise<number> {
  return num(await ctx.client.readContract({
    address: ctx.registry, abi: kmsRegistryAbi, functionName: 'latestSessionId', ...at(ctx),
  }));
}

/** The stored state of session `id`, or null if it does not exist at this block. */
export async function readSessionState(ctx: ReadContext, id: number): Promise<SessionState | null> {
  if (!Number.isSafeInteger(id) || id < 1) return null;
  const s = await ctx.client.readContract({
    address: ctx.registry, abi: kmsRegistryAbi, functionName: 'getSessionState', args: [BigInt(id)], ...at(ctx),
  });
  return s.openedBlock === 0n ? null : s;
}

const SNAPSHOT_PARAM = (() => {
  const ev = getAbiItem({ abi: kmsRegistryAbi, name: 'SessionOpened' });
  const p = ev.inputs[1];
  if (!p || p.name !== 'snapshot') throw new Error('kms-registry-artifact: SessionOpened has no snapshot input');
  return p as AbiParameter;
})();

/** The snapshot as the event carries it (numbers as bigint). */
interface RawSnapshot {
  readonly id: bigint;
  readonly kind: number;
  readonly boundary: bigint;
  readonly openedAt: bigint;
  readonly dealers: readonly string[];
  readonly recipients: readonly string[];
  readonly recipientKeys: readonly Hex[];
  readonly tNew: bigint;
  readonly tOld: bigint;
  readonly sourceVersion: bigint;
  readonly sourcePolyHash: Hex;
  readonly dealWindow: bigint;
  readonly ackWindow: bigint;
  readonly confirmWindow: bigint;
  readonly quorum: bigint;
  readonly protocolVersion: bigint;
}

/** keccak256(abi.encode(snapshot)): what the contract stores as `snapshotHash`. */
export function snapshotHashOf(raw: RawSnapshot): Hex {
  return keccak256(encodeAbiParameters([SNAPSHOT_PARAM], [raw]));
}

function toSnapshot(raw: RawSnapshot): SessionSnapshot {
  const kind: SessionKind = raw.kind === 0 ? 'dkg' : 'reshare';
  return {
    id: num(raw.id),
    kind,
    boundary: num(raw.boundary),
    openedAt: num(raw.openedAt),
    dealers: raw.dealers.map(lc),
    recipients: raw.recipients.map(lc),
    recipientKeys: raw.recipientKeys.map(lc),
    tNew: num(raw.tNew),
    tOld: num(raw.tOld),
    sourceVersion: num(raw.sourceVersion),
    sourcePolyHash: lc(raw.sourcePolyHash),
    dealWindow: num(raw.dealWindow),
    ackWindow: num(raw.ackWindow),
    confirmWindow: num(raw.confirmWindow),
    quorum: num(raw.quorum),
    protocolVersion: num(raw.protocolVersion),
  };
}

/** The session's snapshot from its `SessionOpened` event, checked against the stored hash. */
export async function readSnapshot(ctx: ReadContext, id: number, state: SessionState): Promise<SessionSnapshot> {
  const logs = await ctx.client.getContractEvents({
    address: ctx.registry,
    abi: kmsRegistryAbi,
    eventName: 'SessionOpened',
    args: { session: BigInt(id) },
    fromBlock: state.openedBlock,
    toBlock: state.openedBlock,
    strict: true,
  });
  for (const log of logs) {
    const raw = log.args.snapshot as RawSnapshot;
    if (snapshotHashOf(raw) === state.snapshotHash) return toSnapshot(raw);
  }
  throw incomplete(ctx, `the SessionOpened event of session ${id} was not found or does not match the stored snapshot hash`, [
    `Session: ${id}`, `Opened in block: ${state.openedBlock}`, `Events found: ${logs.length}`,
  ]);
}

const orNull = (t: bigint): number | null => (t === 0n ? null : num(t));

/** The progress part of a session at the read's chain time (`failed` is lazy, as in the contract). */
export function toProgress(state: SessionState, now: number): SessionProgress {
  const dealEnd = state.dealClosedAt !== 0n ? num(state.dealClosedAt) : num(state.openedAt) + state.dealWindow;
  const ackEnd = state.ackClosedAt !== 0n ? num(state.ackClosedAt) : dealEnd + state.ackWindow;
  const confirmEnd = state.confirmClosedAt !== 0n ? num(state.confirmClosedAt) : ackEnd + state.confirmWindow;
  return {
    dealClosedAt: orNull(state.dealClosedAt),
    ackClosedAt: orNull(state.ackClosedAt),
    confirmClosedAt: orNull(state.confirmClosedAt),
    dealCount: state.dealCount,
    ackCount: state.ackCount,
    confirmCount: state.confirmCount,
    counter: state.counter,
    digest: lc(state.digest),
    outcome: state.completed ? 'completed' : now >= confirmEnd ? 'failed' : 'pending',
    completedPolyHash: state.completed ? lc(state.completedPolyHash) : null,
  };
}

const SUBMISSION_EVENTS = [
  getAbiItem({ abi: kmsRegistryAbi, name: 'DealSubmitted' }),
  getAbiItem({ abi: kmsRegistryAbi, name: 'AckSubmitted' }),
  getAbiItem({ abi: kmsRegistryAbi, name: 'ConfirmationSubmitted' }),
] as const;

/**
 * Every submission of session `id` from its events, in order. Throws `IncompleteView` when
 * their number or their rolling digest differs from the stored counter and digest.
 */
export async function readSubmissions(ctx: ReadContext, id: number, state: SessionState): Promise<RecordedSubmission[]> {
  const out: RecordedSubmission[] = [];
  if (state.counter > 0) {
    const from = state.openedBlock;
    const to = state.openedBlock + BigInt(state.lastSubmissionOffset);
    for (let lo = from; lo <= to; lo += LOG_RANGE) {
      const hi = lo + LOG_RANGE - 1n < to ? lo + LOG_RANGE - 1n : to;
      const logs = await ctx.client.getLogs({ address: ctx.registry, events: SUBMISSION_EVENTS, fromBlock: lo, toBlock: hi, strict: true });
      const sorted = [...logs].sort((a, b) => (a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : a.blockNumber < b.blockNumber ? -1 : 1));
      for (const log of sorted) {
        if (log.args.session !== BigInt(id)) continue;
        out.push(toSubmission(id, state, log));
      }
    }
  }
  const where = [`Session: ${id}`, `Stored counter: ${state.counter}`, `Events read: ${out.length}`];
  if (out.length !== state.counter) throw incomplete(ctx, `read ${out.length} submissions of session ${id}, the contract counts ${state.counter}`, where);
  out.forEach((s, i) => {
    if (s.seq !== i + 1) throw incomplete(ctx, `submission ${i + 1} of session ${id} carries sequence number ${s.seq}`, where);
  });
  const digest = digestOf(out);
  if (digest !== lc(state.digest)) {
    throw incomplete(ctx, `the submissions of session ${id} do not fold to the stored digest`, [...where, `Stored digest: ${state.digest}`, `Computed: ${digest}`]);
  }
  return out;
}

type SubmissionLog = GetLogsReturnType<undefined, typeof SUBMISSION_EVENTS, true>[number];

function toSubmission(session: number, state: SessionState, log: SubmissionLog): RecordedSubmission {
  switch (log.eventName) {
    case 'DealSubmitted': {
      const a = log.args;
      // The contract accepted exactly dealByteLength bytes; anything else is not its event.
      const fields = unpackDeal(lc(a.deal), state.tNew, state.recipientCount);
      if (fields === null) {
        throw new ContractRefusalError('IncompleteView', `a DealSubmitted event of session ${session} carries ${(a.deal.length - 2) / 2} bytes, not a deal of this session`, {
          metaMessages: [`Session: ${session}`, `Dealer: ${lc(a.dealer)}`, `Block: ${log.blockNumber}`],
        });
      }
      const s: DealSubmission = { type: 'deal', session, from: lc(a.dealer), ...fields };
      return { ...s, seq: num(a.seq), at: num(a.at) };
    }
    case 'AckSubmitted': {
      const a = log.args;
      const s: AckSubmission = {
        type: 'ack', session, from: lc(a.recipient),
        complaints: a.complaints.map((c) => ({ dealer: lc(c.dealer), sharedKey: lc(c.sharedKey), proof: lc(c.proof) })),
      };
      return { ...s, seq: num(a.seq), at: num(a.at) };
    }
    case 'ConfirmationSubmitted': {
      const a = log.args;
      const s: ConfirmSubmission = {
        type: 'confirm', session, from: lc(a.recipient), publicPolyHash: lc(a.publicPolyHash), publicPoly: lc(a.publicPoly), nextSessionKey: lc(a.nextSessionKey),
        receiptHead: lc(a.receiptHead),
      };
      return { ...s, seq: num(a.seq), at: num(a.at) };
    }
  }
}

// ---------------------------------------------------------------------------------------
// Versions and the MPK

/** The latest release-receipt log head `operator` committed (zero: none). */
export async function readReceiptHead(ctx: ReadContext, operator: Address): Promise<Hex> {
  return lc(await ctx.client.readContract({ address: ctx.registry, abi: kmsRegistryAbi, functionName: 'receiptHeadOf', args: [operator], ...at(ctx) }));
}

export async function readMpk(ctx: ReadContext): Promise<Hex | null> {
  const mpk = await ctx.client.readContract({ address: ctx.registry, abi: kmsRegistryAbi, functionName: 'getMpk', ...at(ctx) });
  return mpk === '0x' ? null : lc(mpk);
}

export async function readActiveVersionId(ctx: ReadContext): Promise<number> {
  return num(await ctx.client.readContract({ address: ctx.registry, abi: kmsRegistryAbi, functionName: 'activeVersionId', ...at(ctx) }));
}

/** Version `id` (the session that produced it), or null if that session has not completed. */
export async function readVersion(ctx: ReadContext, id: number): Promise<VersionRecord | null> {
  const state = await readSessionState(ctx, id);
  if (!state || !state.completed) return null;
  const snapshot = await readSnapshot(ctx, id, state);
  const hash = lc(state.completedPolyHash);
  const info = await ctx.client.readContract({
    address: ctx.registry, abi: kmsRegistryAbi, functionName: 'getPolyInfo', args: [BigInt(id), hash], ...at(ctx),
  });
  const logs = info.publishedBlock === 0n ? [] : await ctx.client.getContractEvents({
    address: ctx.registry,
    abi: kmsRegistryAbi,
    eventName: 'ConfirmationSubmitted',
    args: { session: BigInt(id), publicPolyHash: hash },
    fromBlock: info.publishedBlock,
    toBlock: info.publishedBlock,
    strict: true,
  });
  const published = logs.find((l) => l.args.publicPoly !== '0x' && keccak256(l.args.publicPoly) === hash);
  if (!published) {
    throw incomplete(ctx, `the public polynomial of version ${id} was not found in block ${info.publishedBlock}`, [`Version: ${id}`, `publicPolyHash: ${hash}`]);
  }
  return {
    id,
    publicPolyHash: hash,
    publicPoly: lc(published.args.publicPoly),
    threshold: state.tNew,
    holders: [...snapshot.recipients],
    completedAt: num(state.completedAt),
  };
}

// ---------------------------------------------------------------------------------------
// Apps and releases

const METHOD_BITS: readonly [AttestationMethod, number][] = [['ecdsa', 1], ['jwt', 2]];

export function methodsFromBits(bits: number): AttestationMethod[] {
  return METHOD_BITS.filter(([, b]) => (bits & b) !== 0).map(([m]) => m);
}

export async function readApp(ctx: ReadContext, appId: Hex): Promise<AppRecord | null> {
  const a = await ctx.client.readContract({
    address: ctx.registry, abi: kmsRegistryAbi, functionName: 'getApp', args: [appId], ...at(ctx),
  });
  if (/^0x0{40}$/.test(a.owner)) return null;
  return {
    id: lc(appId), owner: lc(a.owner), methods: methodsFromBits(a.methods), releaseCount: a.releaseCount,
    frozen: a.frozen, epoch: a.epoch, pendingOwner: /^0x0{40}$/.test(a.pendingOwner) ? null : lc(a.pendingOwner),
  };
}

const RELEASE_PARAM = (() => {
  const ev = getAbiItem({ abi: kmsRegistryAbi, name: 'ReleasePublished' });
  const p = ev.inputs[2];
  if (!p || p.name !== 'release') throw new Error('kms-registry-artifact: ReleasePublished has no release input');
  return p as AbiParameter;
})();

export async function readRelease(ctx: ReadContext, appId: Hex, index: number): Promise<Release | null> {
  if (!Number.isSafeInteger(index) || index < 0) return null;
  const ref = await ctx.client.readContract({
    address: ctx.registry, abi: kmsRegistryAbi, functionName: 'getReleaseRef', args: [appId, BigInt(index)], ...at(ctx),
  });
  if (ref.blockNumber === 0n) return null;
  const logs = await ctx.client.getContractEvents({
    address: ctx.registry,
    abi: kmsRegistryAbi,
    eventName: 'ReleasePublished',
    args: { appId, index: BigInt(index) },
    fromBlock: ref.blockNumber,
    toBlock: ref.blockNumber,
    strict: true,
  });
  for (const log of logs) {
    const r = log.args.release;
    if (keccak256(encodeAbiParameters([RELEASE_PARAM], [r])) !== ref.releaseHash) continue;
    return { imageDigest: lc(r.imageDigest), launchPolicy: lc(r.launchPolicy), encryptedEnv: lc(r.encryptedEnv), publicEnv: r.publicEnv };
  }
  throw incomplete(ctx, `release ${index} of app ${appId} was not found in block ${ref.blockNumber}`, [`App: ${appId}`, `Release: ${index}`]);
}

export { ZERO_HASH };
