/**
 * @module
 * The doctor's chain checks: rpc, registry, operator, signing-key, balance, clock and
 * submissions. Reads only (at the latest block); the operator's transaction key is used for
 * its address alone.
 */
import { createPublicClient, http as httpTransport } from 'viem';
import { ChainError, redactIn, redactRpcUrl } from '../../chain/errors.ts';
import type { ChainLedger } from '../../chain/chain-ledger.ts';
import { chainProfile, describeFinality } from '../../chain/profiles.ts';
import { operatorPublicKey } from '../../crypto/operator-sig.ts';
import { bytesToHex, mustHex } from '../../protocol/hex.ts';
import type { Address, Governance, Hex, OperatorRecord, RecordedSubmission, Session, VersionRecord } from '../../protocol/ledger.ts';
import { protocolStatus, spokenText, SPOKEN_PROTOCOL, type ProtocolStatus } from '../../protocol/protocol-version.ts';
import { phaseAt } from '../../protocol/session-rules.ts';
import { DEFAULT_ROUND_GAS, roundsWanted } from '../balance-watch.ts';
import { etherText } from '../chain-watch.ts';
import { fail, pass, warn, type DoctorCheck } from './report.ts';
import type { DoctorConfig } from './run-doctor.ts';

/** What the chain checks learnt, for the store and HTTP checks. */
export interface ChainFacts {
  readonly chainId: bigint;
  /** The pinned MPK, null before genesis. */
  readonly mpk: Hex | null;
  /** The chain's active version (latest completed), null before genesis. */
  readonly active: VersionRecord | null;
  /** This operator's record, null when not registered. */
  readonly operator: OperatorRecord | null;
}

/** How far chain time may be from this machine's clock: beyond it a warning, beyond `CLOCK_FAIL_S` a failure. */
export const CLOCK_WARN_S = 60;
/** The key-release attestation window is ±300 s of this machine's clock (src/node/release/handler.ts). */
export const CLOCK_FAIL_S = 300;
/** Sessions the submissions check looks back over. */
export const SESSIONS_CHECKED = 3;

const short = (h: string): string => (h.length > 20 ? `${h.slice(0, 10)}…${h.slice(-6)}` : h);

/** Turns any error into one line without credentials. */
export function errorLine(e: unknown, urls: readonly string[] = []): string {
  let text: string;
  if (e instanceof ChainError) text = `${e.shortMessage}${e.details ? ` ${e.details}` : ''}`;
  else text = e instanceof Error ? e.message : String(e);
  for (const u of urls) text = redactIn(text, u);
  return text.replace(/\s+/g, ' ').trim().slice(0, 300);
}

/** The rpc and registry checks when no ledger could be built. */
export async function chainUnreachable(config: DoctorConfig, e: unknown, http: { timeoutMs: number }): Promise<DoctorCheck[]> {
  const urls = config.rpcUrls;
  const printable = urls.map(redactRpcUrl).join(', ');
  const why = errorLine(e, urls);
  if (e instanceof ChainError && /No contract is deployed/.test(e.shortMessage)) {
    let chainId = '?';
    try {
      chainId = String(await createPublicClient({ transport: httpTransport(urls[0] as string, { timeout: http.timeoutMs, retryCount: 0 }) }).getChainId());
    } catch {
      // The rpc check below still passes: createChainLedger reached the chain.
    }
    const profile = chainId === '?' ? null : chainProfile(BigInt(chainId));
    return [
      profile === null && config.finality === null
        ? fail('rpc', `${printable} serves chain id ${chainId}, which has no built-in profile, and no --finality is given: the node refuses to start`, 'point --rpc at the deployment\'s chain, or give --finality finalized|safe|<confirmations>')
        : pass('rpc', `${printable} answers (chain id ${chainId}${profile ? `, ${profile.name}` : ''})`),
      fail('registry', `no contract is deployed at ${config.registry} on chain ${chainId}`, 'check --registry (KMS_REGISTRY) against the deployment (kms-admin status), and that --rpc is that deployment\'s chain'),
    ];
  }
  return [fail('rpc', `the chain cannot be read through ${printable}: ${why}`, 'check --rpc (KMS_RPC_URL): the URL, the provider\'s status and credentials, and that every URL serves the same chain')];
}

export async function chainChecks(ledger: ChainLedger, config: DoctorConfig, me: Address, clock: () => number): Promise<{ checks: DoctorCheck[]; facts: ChainFacts | null }> {
  const checks: DoctorCheck[] = [];
  const urls = config.rpcUrls;
  const profile = chainProfile(ledger.chainId);
  const providers = ledger.pool.providers.length;
  const via = `${providers} RPC provider${providers === 1 ? '' : 's'}${ledger.pool.quorum > 1 ? `, quorum ${ledger.pool.quorum}` : ''}`;
  if (profile === null && config.finality === null) {
    checks.push(fail('rpc', `chain id ${ledger.chainId} has no built-in profile and no --finality is given: the node refuses to start`, 'give --finality finalized|safe|<confirmations> (KMS_FINALITY), or point --rpc at the deployment\'s chain'));
  } else {
    checks.push(pass('rpc', `chain id ${ledger.chainId} (${profile?.name ?? 'no profile'}), ${via}; finality read through ${describeFinality(ledger.finality)}`));
  }

  // The registry: the reads the node depends on must answer and decode.
  let facts: ChainFacts;
  let chainTime: number;
  let interval: number;
  let gov: Governance;
  try {
    let mpk: Hex | null, active: VersionRecord | null, operator: OperatorRecord | null, now: number;
    [gov, mpk, active, operator, now] = await Promise.all([ledger.getGovernance(), ledger.getMpk(), ledger.activeVersion(), ledger.getOperator(me), ledger.now()]);
    facts = { chainId: ledger.chainId, mpk, active, operator };
    chainTime = now;
    interval = gov.interval;
    checks.push(pass('registry', `KmsRegistry at ${ledger.registry} answers (interval ${gov.interval} s; ${active ? `active version ${active.id}, threshold ${active.threshold} of ${active.holders.length}` : 'no genesis yet'})`));
  } catch (e) {
    checks.push(fail('registry', `the contract at ${ledger.registry} does not answer the registry's reads: ${errorLine(e, urls)}`, 'check --registry: it must be a KmsRegistry of this release (kms-admin status shows the deployment)'));
    return { checks, facts: null };
  }

  checks.push(protocolCheck(protocolStatus(config.protocol ?? SPOKEN_PROTOCOL, gov)));
  checks.push(...(await operatorChecks(ledger, config, me, facts.operator, urls)));
  checks.push(await balanceCheck(ledger, me, interval, urls));
  checks.push(clockCheck(chainTime, clock));
  checks.push(await submissionsCheck(ledger, me, chainTime, urls));
  return { checks, facts };
}

async function operatorChecks(ledger: ChainLedger, config: DoctorConfig, me: Address, rec: OperatorRecord | null, urls: readonly string[]): Promise<DoctorCheck[]> {
  let allowed: boolean;
  try {
    allowed = await ledger.isAllowed(me);
  } catch (e) {
    return [fail('operator', `cannot read whether ${me} is allowed: ${errorLine(e, urls)}`, 'retry; if it persists, fix the rpc check')];
  }
  const checks: DoctorCheck[] = [];
  if (rec === null) {
    checks.push(allowed
      ? fail('operator', `operator ${me} is allowed but not registered`, 'register it: kms-admin register-operator (docs/operations.md, "Registering")')
      : fail('operator', `operator ${me} is neither allowed nor registered on this registry`, 'ask governance to allow it (kms-admin allow-operator), then register (kms-admin register-operator); or check --operator-key and --registry'));
    checks.push(warn('signing-key', 'not checked: the operator is not registered', 'register the operator first'));
    return checks;
  }
  if (!allowed) checks.push(fail('operator', `operator ${me} is registered but no longer allowed (governance removed it): it receives no share in the next session`, 'ask governance (kms-admin allow-operator) if this is a mistake'));
  else if (rec.status === 'leaving') checks.push(warn('operator', `operator ${me} is registered but leaving: it deals in the next reshare if it holds the source version, then receives nothing`, 'nothing to do if it is leaving on purpose; otherwise register again after it has left'));
  else checks.push(pass('operator', `operator ${me} is allowed, registered and active (registration #${rec.registeredSeq}, socket ${rec.socket})`));

  if (rec.sigKeyType !== config.sigKeyType) {
    checks.push(fail('signing-key', `the operator registered a ${rec.sigKeyType} signing key, but --sig-type is ${config.sigKeyType}`, `run with --sig-type ${rec.sigKeyType} (KMS_SIG_TYPE) and that key`));
  } else {
    let pub: Hex | null = null;
    try {
      pub = bytesToHex(operatorPublicKey(config.sigKeyType, mustHex(config.sigKey, 'signing key')));
    } catch {
      pub = null; // reported below; the error could name the key
    }
    if (pub === null) checks.push(fail('signing-key', `the signing key given is not a valid ${config.sigKeyType} secret key`, 'check --sig-key / KMS_OPERATOR_SIG_KEY'));
    else if (pub.toLowerCase() !== rec.sigPublicKey.toLowerCase()) checks.push(fail('signing-key', `the signing key given (public ${short(pub)}) is not the one registered on-chain (${short(rec.sigPublicKey)}): the node refuses to start`, 'give the signing key this operator registered (--sig-key-file / KMS_OPERATOR_SIG_KEY)'));
    else checks.push(pass('signing-key', `the ${rec.sigKeyType} signing key held is the one registered (${short(rec.sigPublicKey)})`));
  }
  return checks;
}

async function balanceCheck(ledger: ChainLedger, me: Address, interval: number, urls: readonly string[]): Promise<DoctorCheck> {
  try {
    const client = ledger.client;
    const [balance, block, tip] = await Promise.all([
      client.getBalance({ address: me }),
      client.getBlock({ blockTag: 'latest' }),
      client.request({ method: 'eth_maxPriorityFeePerGas' }).then((v) => BigInt(v), () => 0n),
    ]);
    // Like src/node/balance-watch.ts: a round's gas (the default before the node measured its own) at base fee + tip.
    const feePerGas = (block.baseFeePerGas ?? 0n) + tip;
    const perRound = DEFAULT_ROUND_GAS * (feePerGas > 0n ? feePerGas : 1n);
    const left = balance / perRound;
    const wanted = BigInt(roundsWanted(interval));
    const facts = `${etherText(balance)}: about ${left > 1_000_000n ? 'over a million' : String(left)} rounds at ${DEFAULT_ROUND_GAS} gas and the current fee`;
    if (left < 1n) return fail('balance', `the operator account holds ${facts}; it cannot pay for the next round`, `send at least ${etherText(wanted * perRound - balance)} to ${me}`);
    if (left < wanted) return warn('balance', `the operator account holds ${facts}, fewer than ${wanted} (a day of rounds)`, `top up ${etherText(wanted * perRound - balance)} to ${me}`);
    return pass('balance', `the operator account holds ${facts} (${wanted} wanted: a day of rounds)`);
  } catch (e) {
    return warn('balance', `cannot read the balance or the fees: ${errorLine(e, urls)}`, 'retry; if it persists, fix the rpc check');
  }
}

/** This build's protocol versions against the one sessions require now and any queued one. */
export function protocolCheck(p: ProtocolStatus): DoctorCheck {
  const speaks = spokenText(p.speaks);
  if (p.verdict === 'unsupported') {
    return fail('protocol', `sessions require protocol version ${p.required}; this build speaks ${speaks}: the node sits every session out`, p.required > p.speaks.max
      ? `upgrade kms-server to a release that speaks version ${p.required} (docs/operations.md, "Upgrades")`
      : `governance must raise the required version to one this build speaks, or run the release that matches it`);
  }
  if (p.verdict === 'upgrade-soon' && p.queued) {
    return warn('protocol', `governance queued protocol version ${p.queued.version} from chain time ${p.queued.effectiveAt} (now ${p.required}); this build speaks ${speaks}`, `upgrade kms-server before then (docs/operations.md, "Upgrades"), or it sits sessions out`);
  }
  const queued = p.queued ? `; version ${p.queued.version} queued from chain time ${p.queued.effectiveAt}` : '';
  return pass('protocol', `sessions require protocol version ${p.required}; this build speaks ${speaks}${queued}`);
}

function clockCheck(chainTime: number, clock: () => number): DoctorCheck {
  const local = Math.floor(clock() / 1000);
  const skew = local - chainTime;
  const text = `this machine's clock is ${Math.abs(skew)} s ${skew >= 0 ? 'ahead of' : 'behind'} the latest block's time`;
  if (Math.abs(skew) > CLOCK_FAIL_S) return fail('clock', `${text}: attestation times (±${CLOCK_FAIL_S} s of this clock) will be refused or accepted wrongly`, 'sync the clock (chrony or systemd-timesyncd), or check that the RPC serves the chain\'s head');
  if (Math.abs(skew) > CLOCK_WARN_S) return warn('clock', text, 'sync the clock (chrony or systemd-timesyncd), or check that the RPC provider is not lagging');
  return pass('clock', text);
}

/** What one operator did in one session, as the chain shows it. */
export interface SessionPart {
  readonly session: number;
  readonly kind: Session['snapshot']['kind'];
  readonly phase: string;
  readonly outcome: string;
  /** Each expected submission: done, missed (its window passed without it) or pending. */
  readonly deal?: 'done' | 'missed' | 'pending';
  readonly ack?: 'done' | 'missed' | 'pending';
  readonly confirm?: 'done' | 'missed' | 'pending' | 'not-needed';
}

/** This operator's part in a session: expected submissions by role, against the chain's log. */
export function sessionPart(session: Session, submissions: readonly RecordedSubmission[], me: Address, chainTime: number): SessionPart | null {
  const s = session.snapshot;
  const dealer = s.dealers.includes(me);
  const recipient = s.recipients.includes(me);
  if (!dealer && !recipient) return null;
  const phase = phaseAt(session, chainTime);
  const mine = new Set(submissions.filter((x) => x.from === me).map((x) => x.type));
  const passed = (p: 'deal' | 'ack' | 'confirm'): boolean => ['deal', 'ack', 'confirm', 'closed'].indexOf(phase) > ['deal', 'ack', 'confirm'].indexOf(p);
  const state = (t: 'deal' | 'ack' | 'confirm') => (mine.has(t) ? 'done' : passed(t) ? 'missed' : 'pending') as 'done' | 'missed' | 'pending';
  const outcome = session.progress.outcome;
  const confirm = state('confirm');
  return {
    session: s.id, kind: s.kind, phase, outcome,
    ...(dealer ? { deal: state('deal') } : {}),
    ...(recipient ? { ack: state('ack'), confirm: confirm === 'missed' && outcome !== 'completed' ? 'not-needed' as const : confirm } : {}),
  };
}

async function submissionsCheck(ledger: ChainLedger, me: Address, chainTime: number, urls: readonly string[]): Promise<DoctorCheck> {
  try {
    const latest = await ledger.latestSessionId();
    if (latest === 0) return pass('submissions', 'no session has opened yet');
    const parts: SessionPart[] = [];
    for (let id = latest; id > Math.max(0, latest - SESSIONS_CHECKED); id--) {
      const session = await ledger.getSession(id);
      if (session === null) continue;
      const part = sessionPart(session, await ledger.getSubmissions(id), me, chainTime);
      if (part !== null) parts.push(part);
    }
    if (parts.length === 0) return pass('submissions', `this operator had no role in sessions ${Math.max(1, latest - SESSIONS_CHECKED + 1)}–${latest}`);
    const text = parts.map((p) => `session ${p.session} (${p.kind}, ${p.outcome}): ${[
      p.deal ? `deal ${p.deal}` : null, p.ack ? `ack ${p.ack}` : null, p.confirm && p.confirm !== 'not-needed' ? `confirm ${p.confirm}` : null,
    ].filter((x) => x !== null).join(', ')}`).join('; ');
    const missed = parts.filter((p) => p.deal === 'missed' || p.ack === 'missed' || p.confirm === 'missed');
    if (missed.length > 0) {
      return warn('submissions', `missed submissions: ${text}`, 'read the node\'s log around those sessions (grep "submitting" and "tick failed"); check the balance, the fee cap and the RPC');
    }
    return pass('submissions', text);
  } catch (e) {
    return warn('submissions', `cannot read the last sessions: ${errorLine(e, urls)}`, 'retry; if it persists, fix the rpc check');
  }
}
