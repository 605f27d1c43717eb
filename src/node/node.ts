/**
 * @module
 * One operator node: the pieces wired together (SPEC 5). `startNode` checks everything that
 * could make the node act under a wrong identity before it does anything, in this order, and
 * refuses with one clear line (`StartupError`) without touching the store:
 *
 *   1. the chain answers and a registry is deployed at the address;
 *   2. the key store opens with this storage key and belongs to (chain, registry, operator);
 *   3. the store's MPK, if bound, is the chain's pinned MPK;
 *   4. if the operator is registered, its signing key is the one on-chain.
 *
 * Then it publishes a session key it holds the secret of (if the registry lists another),
 * starts its two HTTP listeners (the public API, and the operations listener for /status and
 * /metrics, loopback-only unless the operator consents: `http/app.ts`) and runs the operator
 * loop, one tick at a time (a tick starts after the previous one ended, so ticks never
 * overlap). Between ticks the node polls the head's number every `headPollMs` (100 ms; one
 * cheap `eth_blockNumber`):
 *
 * - a new block starts a tick at once, so a phase that another operator's transaction closed
 *   is acted on within ~0.1 s instead of up to a whole tick later;
 * - without a new block a tick would read exactly the chain state the previous one read (the
 *   loop's only inputs are the chain and the store), so the `tickMs` (500 ms) timer ticks only
 *   when the previous tick has something to retry (a failed submission, a failed tick), when
 *   the head cannot be polled, or after `IDLE_TICK_MS` without any tick.
 *
 * With `headPollMs` 0 the loop simply ticks every `tickMs`. Measured with
 * `npm run bench -- cluster` (docs/benchmarks.md).
 */
import { join } from 'node:path';
import type pino from 'pino';
import { privateKeyToAccount } from 'viem/accounts';
import { makeDomain } from '../crypto/domain.ts';
import { operatorPublicKey, type OperatorKeyType } from '../crypto/operator-sig.ts';
import { systemRng } from '../crypto/rng.ts';
import { createChainLedger, type ChainLedger, type TransactionInfo } from '../chain/chain-ledger.ts';
import { walkCauses } from '../chain/errors.ts';
import { chainProfile, describeFinality, type Finality } from '../chain/profiles.ts';
import { ChainViewError } from '../chain/rpc-pool.ts';
import { gweiText, type TxEvent } from '../chain/tx-sender.ts';
import { bytesToHex, mustHex } from '../protocol/hex.ts';
import type { Address, Hex, OperatorRecord } from '../protocol/ledger.ts';
import type { Phase } from '../protocol/session-rules.ts';
import { buildApi, buildOpsApi, type AppReleaseHandler } from './http/app.ts';
import { isLoopbackAddress, isLoopbackHost } from './http/loopback.ts';
import type { NodeStatus, PubkeyInfo } from './http/schemas.ts';
import { BalanceWatch } from './balance-watch.ts';
import { createChainMetrics } from './chain-metrics.ts';
import { createChainWatch } from './chain-watch.ts';
import { withFeeCapNotice } from './fee-cap-notice.ts';
import { KeyStoreError, type KeyStore } from './key-store.ts';
import { openSqliteReceiptLog, ReceiptLogError, type ReceiptLog } from './receipt-log.ts';
import { cachedDoctorVerdict, type DoctorVerdictSource } from './status-page/doctor-verdict.ts';
import { NetworkWatch } from './status-page/network-watch.ts';
import { createNodeMetrics, type NodeMetrics } from './metrics.ts';
import { ensureSessionKey, OperatorLoop, submissionParts, type TickReport } from './operator-loop.ts';
import { SCHEMA_VERSION, openSqliteKeyStore } from './sqlite-key-store.ts';
import { runDoctor } from './doctor/run-doctor.ts';
import type { DoctorReport } from './doctor/report.ts';
import { StaleStoreWatch } from './stale-store.ts';

export interface NodeConfig {
  /** Private key of the operator's Ethereum account (sends its transactions). */
  readonly operatorKey: Hex;
  readonly sigKeyType: OperatorKeyType;
  /** Private signing key (BN254 or secp256k1 scalar). */
  readonly sigKey: Hex;
  readonly rpcUrl: string;
  /** Several RPC URLs in order of preference (`--rpc a,b,c`); `rpcUrl` is then the first. */
  readonly rpcUrls?: readonly string[];
  /** Providers that must agree before the node acts (`--rpc-quorum`, default 1). */
  readonly rpcQuorum?: number;
  /** Cap on max fee per gas, wei (`--max-fee-gwei`); undefined: the chain profile's; null: none. */
  readonly maxFeePerGas?: bigint | null;
  /**
   * How this chain's finality is read (`--finality`); null: the chain profile's for the chain
   * id the RPC answers with (an unknown chain id then refuses to start).
   */
  readonly finality: Finality | null;
  readonly registry: Address;
  /** The public API's address (0: any free port). */
  readonly host: string;
  readonly port: number;
  /** The operations listener (/healthz, /status, /metrics); null: /status and /metrics are not served. */
  readonly ops: OpsListenerConfig | null;
  readonly dataDir: string;
  readonly storageKey: Uint8Array;
  readonly consentThreshold: number | null;
  readonly tickMs?: number;
  /** Milliseconds between head polls while waiting for the next tick (default 100; 0: tick on the timer only). */
  readonly headPollMs?: number;
  /** Builds the key-release handler once the node's parts exist (apps issue); null refuses. */
  readonly appRelease?: (parts: NodeParts) => AppReleaseHandler | null;
}

/** Where the operations listener listens (issue 12). */
export interface OpsListenerConfig {
  readonly host: string;
  /** 0: any free port. */
  readonly port: number;
  /**
   * The operator's explicit consent to a host that is not loopback: the listener has no
   * authentication, so without it such a host is refused before anything starts.
   */
  readonly public: boolean;
}

/** What a key-release handler may use. */
export interface NodeParts {
  readonly ledger: ChainLedger;
  readonly store: KeyStore;
  readonly me: Address;
  readonly domain: Uint8Array;
  readonly sigKeyType: OperatorKeyType;
  readonly sigKey: Uint8Array;
  readonly metrics: NodeMetrics;
  readonly log: pino.Logger;
  /** Why this node serves nothing although the chain has an active version (stale key store), or null. */
  readonly staleReason: () => string | null;
  /** The release-receipt log (`receipts.sqlite` in the data directory). */
  readonly receipts: ReceiptLog;
}

export interface RunningNode {
  readonly address: Address;
  /** The public API's base URL. */
  readonly url: string;
  /** The operations listener's base URL (/healthz, /status, /metrics); null when it is off. */
  readonly opsUrl: string | null;
  readonly store: KeyStore;
  /** Resolves after the next completed tick (for tests and tools). */
  lastTick(): TickReport | null;
  stop(): Promise<void>;
}

export class StartupError extends Error {
  override readonly name = 'StartupError';
}

const HEALTHY_WITHIN_MS = 15_000;
/** Per client of the public API: apps and clients, possibly many behind one proxy. */
const API_RATE_LIMIT = { perClientPerSecond: 50, burst: 100 } as const;
/**
 * Per client of the operations listener, which has its own buckets. Its clients are few and
 * slow (Prometheus every 15 s, a supervisor's probe every few seconds, a person with curl or
 * `watch`, the devnet and test harness polling /status once a second): 10 a second and 50 at
 * once is far above them, and bounds what a local process (or, with --ops-public, a network
 * peer) can make the node spend rendering /metrics.
 */
export const OPS_RATE_LIMIT = { perClientPerSecond: 10, burst: 50 } as const;
/**
 * Gas limit = estimate × (1 + margin). The estimate runs against the pending block, before
 * the other operators' submissions of the same window land; the submission mined last then
 * does more work than estimated: it closes the window, or it completes the session (and for a
 * DKG pins the MPK). Measured on anvil (n = 4): a deal 73 k → 95 k when it closes the deal
 * window, a confirmation 66 k → 102 k (reshare) or 69 k → 222 k (DKG) when it completes the
 * session. With the chain ledger's default 25 % such a submission ran out of gas and reverted,
 * and its retry often came too late for the window (cluster tests). Only gas used is paid.
 */
const SUBMISSION_GAS_MARGIN_PERCENT = 300;
const OPERATORS_REFRESH_MS = 5_000;
const HEAD_POLL_MS = 100;
/** How often a tick compares the key store with the chain's active version (`stale-store.ts`; one read). */
const STALE_CHECK_MS = 5_000;
/** How long a doctor report (`GET /doctor`) is reused. */
const DOCTOR_REUSE_MS = 5_000;
/** Longest stretch without a tick while the head does not move (keeps /healthz meaningful). */
const IDLE_TICK_MS = 5_000;

export async function startNode(cfg: NodeConfig, log: pino.Logger): Promise<RunningNode> {
  // Before anything else: refusing here costs nothing and touches nothing.
  if (cfg.ops !== null && !cfg.ops.public && !isLoopbackHost(cfg.ops.host)) {
    throw new StartupError(`the operations listener's host ${cfg.ops.host} is not a loopback address: /status and /metrics have no authentication; listen on 127.0.0.1 or consent explicitly (--ops-public)`);
  }
  const account = privateKeyToAccount(cfg.operatorKey);
  const me = account.address.toLowerCase() as Address;
  let ledger: ChainLedger;
  // Wired once the node's metrics and watchers exist (they need the ledger's pool).
  const tx = { onTxEvent: (_e: TxEvent) => {}, onTransaction: (_i: TransactionInfo) => {} };
  try {
    ledger = await createChainLedger({
      rpcUrl: cfg.rpcUrl, registry: cfg.registry, keys: { [me]: cfg.operatorKey },
      ...(cfg.rpcUrls ? { rpcUrls: cfg.rpcUrls } : {}),
      rpcQuorum: cfg.rpcQuorum ?? 1,
      maxFeePerGas: cfg.maxFeePerGas === undefined ? 'profile' : cfg.maxFeePerGas,
      onTxEvent: (e) => tx.onTxEvent(e),
      onTransaction: (i) => tx.onTransaction(i),
      gasMarginPercent: SUBMISSION_GAS_MARGIN_PERCENT,
      ...(cfg.finality !== null ? { finality: cfg.finality } : {}),
    });
  } catch (e) {
    throw new StartupError(`cannot reach the registry: ${(e as Error).message}`, { cause: e });
  }
  // Chain profile by chain id (never by the URL's text): how finality is read here.
  const profile = chainProfile(ledger.chainId);
  if (cfg.finality === null && profile === null) {
    throw new StartupError(`chain id ${ledger.chainId} has no built-in profile: say how finality is read there with --finality finalized|safe|<confirmations>`);
  }
  const finality: Finality = ledger.finality;
  log.info({ chainId: String(ledger.chainId), chain: profile?.name ?? 'unknown', finality: describeFinality(finality) }, `reads act on the latest block; irreversible steps wait for ${describeFinality(finality)}`);
  if (!ledger.batching) log.warn('an RPC endpoint refuses JSON-RPC batches: every chain read to it goes on its own (slower ticks; same answers)');
  const providers = ledger.pool.providers.map((p) => p.label);
  log.info({ providers, quorum: ledger.pool.quorum, maxFeeGwei: ledger.feeCap === null ? null : gweiText(ledger.feeCap) },
    `${providers.length} RPC provider${providers.length === 1 ? '' : 's'}${ledger.pool.quorum > 1 ? `, ${ledger.pool.quorum} must agree on every read` : ''}; ${ledger.feeCap === null ? 'no fee cap' : `transactions offer at most ${gweiText(ledger.feeCap)} gwei per gas`}`);
  const domain = makeDomain({ chainId: ledger.chainId, registry: cfg.registry });
  let store: KeyStore;
  try {
    const sqlite = openSqliteKeyStore({ path: join(cfg.dataDir, 'keystore.sqlite'), storageKey: cfg.storageKey, scope: { chainId: ledger.chainId, registry: cfg.registry.toLowerCase() as Address, operator: me } });
    if (sqlite.upgradedFrom !== null) log.info({ path: sqlite.path, from: sqlite.upgradedFrom, to: SCHEMA_VERSION }, `key store upgraded from schema version ${sqlite.upgradedFrom} to ${SCHEMA_VERSION} (every row now authenticated); older builds refuse it from now on`);
    store = sqlite;
  } catch (e) {
    if (e instanceof KeyStoreError) throw new StartupError(`key store refused: ${e.message}`, { cause: e });
    throw e;
  }
  try {
    const mpk = await ledger.getMpk();
    const bound = store.mpk();
    if (bound !== null && bound !== mpk) {
      throw new StartupError(`the key store holds shares of master public key ${short(bound)}, but this registry ${mpk ? `pins ${short(mpk)}` : 'has none'}: wrong --registry or --rpc?`);
    }
    const rec = await ledger.getOperator(me);
    if (rec) checkSigningKey(rec, cfg);
    else log.warn({ operator: me }, 'this operator is not registered yet; the node waits (register with `kms-admin register-operator`)');
  } catch (e) {
    store.close();
    throw e;
  }
  let receipts: ReceiptLog;
  try {
    const opened = openSqliteReceiptLog({ path: join(cfg.dataDir, 'receipts.sqlite'), scope: store.scope });
    const head = opened.head();
    log.info({ path: opened.path, entries: head.count, head: head.hash }, 'receipt log opened');
    receipts = opened;
  } catch (e) {
    store.close();
    if (e instanceof ReceiptLogError) throw new StartupError(`receipt log refused: ${e.message}`, { cause: e });
    throw e;
  }

  // A store older than the chain (restored from an old backup, or one that missed reshares)
  // must serve nothing stale, from the first request on: settled before the listeners open.
  const staleStore = new StaleStoreWatch(store, () => ledger.finalView(), log);
  try {
    await staleStore.check();
  } catch (e) {
    log.warn({ err: (e as Error).message }, 'could not compare the key store with the chain\'s active version; the next ticks try again');
  }
  let staleCheckedAt = Date.now();

  const metrics = createNodeMetrics({ defaultLabels: { operator: me } });
  // Chain access (RPC providers, transactions, balance): said once per cause, measured always.
  const chainMetrics = createChainMetrics(metrics.registry);
  const chainWatch = createChainWatch(ledger.pool, chainMetrics, log, { degradedAfterMs: HEALTHY_WITHIN_MS });
  ledger.pool.setHooks(chainWatch.hooks);
  const balance = new BalanceWatch({ ledger, me, log, metrics: chainMetrics });
  // The status page's and the alert gauges' view of the network (read beside the loop).
  const network = new NetworkWatch({ ledger, me, log, metrics, holdsShare: (id) => store.getVersion(id)?.status === 'active' });
  /** The doctor's verdict for the status page, once the listeners are bound (this node's own doctor run). */
  let doctorSource: DoctorVerdictSource | null = null;
  tx.onTxEvent = (e) => chainWatch.onTxEvent(e);
  tx.onTransaction = (i) => balance.recordTx(i);
  const capText = ledger.feeCap === null ? '' : `--max-fee-gwei ${gweiText(ledger.feeCap)}${cfg.maxFeePerGas === undefined ? ` (the default on ${profile?.name ?? 'this chain'})` : ''}`;
  const feeCap = withFeeCapNotice(ledger.writer(me), { ledger, me, log, capText, onMissedWindow: () => chainMetrics.feeCapMissedWindow() });
  const sigKey = mustHex(cfg.sigKey, 'signing key');
  const writer = feeCap.writer;
  let last: TickReport | null = null;
  let lastOk = Date.now();
  let lastError: { message: string; at: number } | null = null;
  let sessionKeyReady = false;
  let operators: { list: OperatorRecord[]; at: number } = { list: [], at: 0 };
  const loop = new OperatorLoop({
    ledger, writer, store, me, domain, consentThreshold: cfg.consentThreshold,
    rngFor: () => systemRng,
    log,
    // Only what is on stable storage is committed on-chain (receipt-log.ts, `background` mode).
    receiptHead: () => receipts.durableHead().hash,
    observer: {
      roundDone: (_id, kind, status) => {
        metrics.roundOutcome(kind, status === 'active' ? 'completed' : status === 'declined' ? 'declined' : 'failed');
        void balance.check(true); // what this round cost is known now
      },
      submitted: (_id, kind, t) => metrics.observeRoundStep(kind, submissionParts(t)),
    },
  });

  const parts: NodeParts = { ledger, store, me, domain, sigKeyType: cfg.sigKeyType, sigKey, metrics, log, staleReason: () => staleStore.reason, receipts };
  const health = () => (Date.now() - lastOk < HEALTHY_WITHIN_MS ? { ok: true } : { ok: false, reason: `no successful tick for ${Math.round((Date.now() - lastOk) / 1000)} s` });
  // The operations listener's /healthz also says when the node has had no consistent view of
  // the chain for a while, or its account is short of a day of rounds. The public one stays
  // about liveness: a load balancer must not take a node that still serves apps out of rotation
  // because its operator account runs low.
  const opsHealth = () => {
    const now = Date.now();
    const reasons = [
      ...(now - lastOk < HEALTHY_WITHIN_MS ? [] : [`no successful tick for ${Math.round((now - lastOk) / 1000)} s`]),
      chainWatch.unhealthy(now),
      balance.unhealthy(),
    ].filter((r): r is string => r !== null);
    return reasons.length === 0 ? { ok: true } : { ok: false, reason: reasons.join('; ') };
  };
  const api = buildApi({
    logger: log,
    rateLimit: API_RATE_LIMIT,
    metrics,
    appRelease: cfg.appRelease ? cfg.appRelease(parts) : null,
    receipts: { operator: me, log: receipts },
    pubkey: (version) => pubkeyInfo(store, operators.list, version),
    notReady: () => staleStore.reason,
    health,
  });
  const opsApi = cfg.ops === null ? null : buildOpsApi({
    statusPage: {
      network: async () => {
        await network.maybeRefresh();
        return network.snapshot();
      },
      doctor: cachedDoctorVerdict(() => doctorSource),
    },
    logger: log,
    rateLimit: OPS_RATE_LIMIT,
    metrics,
    status: (): NodeStatus => ({ ...status(me, store, loop, last, lastError), finality: describeFinality(finality), chainView: chainWatch.status(), balance: balance.status(), staleStore: staleStore.reason }),
    health: opsHealth,
    doctor: () => doctor(),
  });
  let url = '';
  let opsUrl: string | null = null;
  // The doctor's checks run with this node's own ledger and store (the store is locked to this
  // process); at most one run at a time, and a result is reused for a few seconds.
  let doctorRun: { at: number; report: Promise<DoctorReport> } | null = null;
  const doctor = (): Promise<DoctorReport> => {
    if (doctorRun === null || Date.now() - doctorRun.at > DOCTOR_REUSE_MS) {
      const report = runDoctor({
        operatorKey: cfg.operatorKey, sigKeyType: cfg.sigKeyType, sigKey: cfg.sigKey, rpcUrls: cfg.rpcUrls ?? [cfg.rpcUrl], rpcQuorum: cfg.rpcQuorum ?? 1,
        finality: cfg.finality, registry: cfg.registry, dataDir: cfg.dataDir, storageKey: new Uint8Array(0), apiUrl: url, opsUrl,
      }, { ledger, store });
      doctorRun = { at: Date.now(), report };
      report.catch(() => { doctorRun = null; });
    }
    return doctorRun.report;
  };
  try {
    url = await listen(api, cfg.host, cfg.port, 'the public API');
    if (opsApi !== null && cfg.ops !== null) {
      opsUrl = await listen(opsApi, cfg.ops.host, cfg.ops.port, 'the operations listener');
      // `localhost` is whatever the resolver says: check what was actually bound.
      const outside = boundAddresses(opsApi).filter((a) => !isLoopbackAddress(a));
      if (!cfg.ops.public && outside.length > 0) {
        throw new StartupError(`the operations listener's host ${cfg.ops.host} resolved to ${outside.join(', ')}, which is not loopback: listen on 127.0.0.1 or consent explicitly (--ops-public)`);
      }
    }
  } catch (e) {
    await Promise.allSettled([api.close(), opsApi?.close()]);
    store.close();
    receipts.close();
    throw e;
  }
  doctorSource = () => doctor();
  if (cfg.ops === null) log.info('the operations listener is off (--ops-port off): /status and /metrics are not served');
  else if (opsApi !== null && boundAddresses(opsApi).some((a) => !isLoopbackAddress(a))) {
    log.warn({ opsUrl, bound: boundAddresses(opsApi) }, 'the operations listener (/status, /metrics) is reachable from other machines (--ops-public): it has no authentication, so let only your monitoring hosts reach it');
  }

  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  /** The tick in progress, if any: stop() waits for it before closing the store. */
  let inFlight: Promise<void> | null = null;
  /** The last tick failed or left something to retry: the timer ticks again even without a new block. */
  let retry = true;
  const tickOnce = async () => {
    retry = true;
    try {
      if (!sessionKeyReady) sessionKeyReady = (await ensureSessionKey(ledger, writer, store, me, await ledger.now(), systemRng)) !== null;
      last = await loop.tick();
      // Between rounds only: its final-view reads must not lengthen a round's ticks (behind a
      // slow RPC provider they made a node miss its windows: test/cluster/rpc-faults.test.ts).
      if (Date.now() - staleCheckedAt > STALE_CHECK_MS && !last.sessions.some((s) => s.phase !== 'closed')) {
        staleCheckedAt = Date.now();
        await staleStore.check();
      }
      lastOk = Date.now();
      retry = last.retry;
      // For /pubkey's sockets only: refreshed beside the loop, so it never lengthens a tick.
      if (Date.now() - operators.at > OPERATORS_REFRESH_MS) {
        operators = { ...operators, at: Date.now() };
        ledger.getOperators().then((list) => {
          operators = { list, at: Date.now() };
        }, (e: unknown) => log.warn({ err: (e as Error).message }, 'refreshing the operator list failed'));
      }
      const active = store.activeVersion();
      metrics.activeVersion(active?.id ?? null);
      if (active) {
        metrics.threshold(active.threshold);
        metrics.operatorCount(active.holders.length);
      }
      const protocol = loop.protocol;
      if (protocol) {
        metrics.protocol({
          required: protocol.required, spokenMax: protocol.speaks.max,
          unsupportedNow: protocol.verdict === 'unsupported', unsupportedQueued: protocol.verdict === 'upgrade-soon',
        });
      }
      for (const s of last.sessions) metrics.roundPhase(s.id, s.phase === 'closed' ? null : (s.phase as 'deal' | 'ack' | 'confirm'));
      chainWatch.afterTick();
      void feeCap.afterTick(last.chainTime).catch(() => undefined);
      void balance.check();
      void network.maybeRefresh();
    } catch (e) {
      lastError = { message: (e as Error).message, at: Math.floor(Date.now() / 1000) };
      // No consistent chain view: the pool's watcher said why once (not at every tick).
      if (walkCauses(e, (x) => x instanceof ChainViewError) === null) log.error({ err: (e as Error).message }, 'tick failed');
    }
  };
  const tickMs = cfg.tickMs ?? 500;
  const headPollMs = cfg.headPollMs ?? HEAD_POLL_MS;
  /** The head's number at the last poll; a different one means the chain moved. */
  let head: bigint | null = null;
  /** The last head poll failed (or none was made): the timer ticks as if blind. */
  let headUnknown = true;
  let lastTickEnd = 0;
  /**
   * One step of the scheduler (see the module comment): poll the head every `headPollMs`
   * and tick on a new block; on the `tickMs` timer tick only if there is a reason to.
   */
  const schedule = () => {
    if (stopped) return;
    const timerDue = lastTickEnd + tickMs;
    const wait = headPollMs > 0 ? headPollMs : timerDue - Date.now();
    timer = setTimeout(async () => {
      let due = false;
      if (headPollMs > 0) {
        const h = await ledger.client.getBlockNumber({ cacheTime: 0 }).catch(() => null);
        if (h !== null && head !== null && h !== head) due = true;
        headUnknown = h === null;
        if (h !== null) head = h;
      }
      const now = Date.now();
      if (now >= timerDue && (headPollMs === 0 || retry || headUnknown || now >= lastTickEnd + IDLE_TICK_MS)) due = true;
      if (stopped) return;
      if (due) {
        inFlight = tickOnce();
        await inFlight;
        inFlight = null;
        lastTickEnd = Date.now();
      }
      schedule();
    }, Math.max(0, wait));
  };
  await tickOnce();
  lastTickEnd = Date.now();
  schedule();
  log.info({ operator: me, url, opsUrl, registry: cfg.registry, chainId: String(ledger.chainId) }, 'kms-server started');

  return {
    address: me,
    url,
    opsUrl,
    store,
    lastTick: () => last,
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await Promise.all([api.close(), opsApi?.close()]);
      // Let a tick that is waiting on the chain finish first: closing the store under it made
      // every SIGTERM end with "tick failed: the key store is closed" (and cut the tick short
      // after a submission, before its later sessions and retention ran).
      if (inFlight) await inFlight;
      store.close();
      receipts.close();
    },
  };
}

/** The IP addresses a listening instance is bound to. */
function boundAddresses(app: ReturnType<typeof buildApi>): string[] {
  return app.addresses().map((a) => (typeof a === 'string' ? a : a.address));
}

/**
 * Binds a listener, or refuses to start with one line that says which listener and why (the
 * port taken by another process or by the other listener, an address this machine lacks, …).
 */
async function listen(app: ReturnType<typeof buildApi>, host: string, port: number, what: string): Promise<string> {
  try {
    return await app.listen({ host, port });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? 'the port is already in use (by another process, or by the other listener)'
      : code === 'EADDRNOTAVAIL' ? 'this machine has no such address'
      : code === 'EACCES' ? 'permission denied (ports below 1024 need privileges)'
      : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'the host name does not resolve'
      : (e as Error).message;
    throw new StartupError(`cannot listen on ${host.includes(':') ? `[${host}]` : host}:${port} for ${what}: ${why}`, { cause: e });
  }
}

function checkSigningKey(rec: OperatorRecord, cfg: NodeConfig): void {
  if (rec.sigKeyType !== cfg.sigKeyType) {
    throw new StartupError(`this operator registered a ${rec.sigKeyType} signing key, but the node was started with --sig-type ${cfg.sigKeyType}`);
  }
  const pub = bytesToHex(operatorPublicKey(cfg.sigKeyType, mustHex(cfg.sigKey, 'signing key')));
  if (pub.toLowerCase() !== rec.sigPublicKey.toLowerCase()) {
    throw new StartupError('the signing key given to the node is not the one this operator registered on-chain');
  }
}

function pubkeyInfo(store: KeyStore, operators: readonly OperatorRecord[], version?: number): PubkeyInfo | null {
  const v = version === undefined ? store.activeVersion() : store.getVersion(version);
  if (!v || v.status === 'pending') return null;
  const poly = v.publicPoly.slice(2);
  // A_0 of every version is the MPK (a version whose A_0 differs is never stored); the store is
  // bound to it only once the genesis is final, and serving need not wait for that.
  const mpk = store.mpk() ?? (`0x${poly.slice(0, 192)}` as Hex);
  const points: Hex[] = [];
  for (let i = 0; i < poly.length; i += 192) points.push(`0x${poly.slice(i, i + 192)}`);
  const sockets = new Map(operators.map((o) => [o.address.toLowerCase(), o.socket]));
  return {
    mpk, publicPoly: points, version: v.id, threshold: v.threshold,
    operators: v.holders.map((a) => ({ address: a, socket: sockets.get(a.toLowerCase()) ?? '' })),
  };
}

function status(me: Address, store: KeyStore, loop: OperatorLoop, last: TickReport | null, lastError: { message: string; at: number } | null): NodeStatus {
  const current = last?.sessions.at(-1) ?? null;
  return {
    operator: me,
    activeVersion: store.activeVersion()?.id ?? null,
    session: current ? {
      id: current.id, kind: current.kind, phase: current.phase as Phase,
      ...(current.dealer ? { dealer: current.dealer } : {}), ...(current.recipient ? { recipient: current.recipient } : {}),
    } : null,
    lastProcessedBoundary: loop.lastProcessedBoundary >= 0 ? loop.lastProcessedBoundary : null,
    versions: store.listVersions().map((v) => ({ id: v.id, status: v.status })),
    ...(loop.protocol ? { protocol: loop.protocol } : {}),
    chainHead: last ? { time: last.chainTime } : null,
    lastError,
  };
}

function short(h: string): string {
  return `${h.slice(0, 10)}…${h.slice(-6)}`;
}
