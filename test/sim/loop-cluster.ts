// Production operator loops (src/node/operator-loop.ts) with in-memory key stores on the
// simulated chain, driven block by block on virtual time, and the invariants every block must
// keep (SPEC 1, 4 v3). Deterministic: every input is seeded; ticks interleave only through
// promises, and `settle()` runs every pending promise before the next block is mined.
import assert from 'node:assert/strict';
import { keccak256 } from 'viem';
import { seededRng } from '../../src/crypto/rng.ts';
import { operatorX } from '../../src/crypto/operator-x.ts';
import { verifyShare } from '../../src/crypto/vss.ts';
import { MemoryKeyStore } from '../../src/node/memory-key-store.ts';
import { OperatorLoop } from '../../src/node/operator-loop.ts';
import { mustHex } from '../../src/protocol/hex.ts';
import type { Address, Hex, LedgerReader, Session } from '../../src/protocol/ledger.ts';
import type { SpokenProtocol } from '../../src/protocol/protocol-version.ts';
import { decodePoly } from '../../src/protocol/round-outcome.ts';
import { SIZES } from '../../src/protocol/session-rules.ts';
import { FinalityGate } from '../../src/sim/fault-invariants.ts';
import type { ChainBlock, ChainTx, ChainView, ForkChain, WriteMethod } from '../../src/sim/fork-chain.ts';
import { CHAIN_ID, DOMAIN, REGISTRY, START, world } from './fork-chain-world.ts';

export interface ClusterNode {
  readonly address: Address;
  readonly view: ChainView;
  readonly loop: OperatorLoop;
  readonly store: MemoryKeyStore;
  busy: Promise<void> | null;
  /** The block its endpoint showed when its last successful tick began. */
  lastSeen: ChainBlock | null;
  readonly tickErrors: string[];
}

export interface ClusterOptions {
  readonly seed: string;
  readonly n?: number;
  readonly finalityDepth?: number;
  /** Blocks a sender's receipt wait lasts after its transaction was evicted (default: the chain's, 0). */
  readonly receiptTimeoutBlocks?: number;
  /** What the chain checks a write against before queueing it (default `latest`). */
  readonly estimate?: 'latest' | 'pending';
  /** Blocks each node's endpoint lags the head (default: none). */
  readonly lags?: readonly number[];
  /** What node i's loop reads through instead of its view (e.g. a view that hides a submission). */
  readonly readsOf?: (i: number, view: ChainView) => ChainView;
  /** The protocol versions node i's build speaks (default: this build's). */
  readonly protocols?: readonly (SpokenProtocol | undefined)[];
}

/** Lets every promise that can make progress do so (the loops do no I/O: microtasks only). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
}

const MPK_HEX = 2 + 2 * SIZES.g2;

/** What the invariant checks remember between blocks. */
interface Watch {
  mpk: Hex | null;
  /** Retiring and deleting wait for final facts: each node's versions at the last check. */
  readonly gate: FinalityGate;
  /** Shares already checked against their polynomial (`node|id|hash|share`). */
  readonly validShares: Set<string>;
}

export class LoopCluster {
  readonly chain: ForkChain;
  readonly nodes: readonly ClusterNode[];
  /** The loops' last log lines (info and up), shown when an invariant fails. */
  readonly log: string[];
  readonly #watch: Watch = { mpk: null, gate: new FinalityGate(), validShares: new Set() };
  readonly #seen = new Map<Address, ChainView>();
  /** Recipients that saw a version active without having confirmed it (they hold no share of it). */
  readonly missedConfirmations = new Set<string>();
  /** Blocks checked so far. */
  checks = 0;

  private constructor(chain: ForkChain, nodes: ClusterNode[], log: string[]) {
    this.chain = chain;
    this.nodes = nodes;
    this.log = log;
  }

  static async create(o: ClusterOptions): Promise<LoopCluster> {
    const n = o.n ?? 4;
    const { chain, ops, sessionKeys } = await world({ n, finalityDepth: o.finalityDepth ?? 3, seed: o.seed, mode: 'blocks', chain: { estimate: o.estimate ?? 'latest', ...(o.receiptTimeoutBlocks !== undefined ? { receiptTimeoutBlocks: o.receiptTimeoutBlocks } : {}) } });
    const nodes: ClusterNode[] = [];
    const log: string[] = [];
    let wall = 0;
    for (const [i, address] of ops.entries()) {
      const view = chain.ledgerFor(address, { lag: o.lags?.[i] ?? 0 });
      const store = new MemoryKeyStore({ chainId: CHAIN_ID, registry: REGISTRY, operator: address });
      const kp = sessionKeys.get(address);
      assert.ok(kp);
      store.putSessionKey({ publicKey: `0x${Buffer.from(kp.publicKey).toString('hex')}` as Hex, secretKey: kp.secretKey, createdAt: START });
      const line = (level: string) => (obj: object, msg: string) => {
        log.push(`[block ${chain.head.number} t=${chain.time}] node ${i} ${level}: ${msg} ${JSON.stringify(obj)}`);
        if (log.length > 4000) log.shift();
      };
      const loop = new OperatorLoop({
        ledger: o.readsOf?.(i, view) ?? view, writer: view.writer(address), store, me: address, domain: DOMAIN, consentThreshold: null,
        rngFor: (s, p) => seededRng(`${o.seed}/node ${i}/${s}/${p}`),
        log: { debug() {}, info: line('info'), warn: line('warn'), error: line('error') },
        clock: () => (wall += 1),
        cpuClock: () => 0,
        ...(o.protocols?.[i] ? { protocol: o.protocols[i] } : {}),
      });
      nodes.push({ address, view, loop, store, busy: null, lastSeen: null, tickErrors: [] });
    }
    return new LoopCluster(chain, nodes, log);
  }

  /** Starts a tick on every node not still in one (a tick waits for its receipts). */
  #tickIdle(): void {
    for (const n of this.nodes) {
      if (n.busy) continue;
      const seen = n.view.headBlock();
      n.busy = n.loop.tick().then(
        () => {
          n.lastSeen = seen;
        },
        (e: unknown) => {
          n.tickErrors.push(`block ${this.chain.head.number}: ${e instanceof Error ? e.message : String(e)}`);
        },
      ).finally(() => {
        n.busy = null;
      });
    }
  }

  /**
   * One simulated second: a block at head time + 1 includes what the nodes sent, the
   * invariants are checked, then every idle node ticks twice on it (on the new block and once
   * more, as `kms-server` retries every 500 ms). A node whose tick waits for a receipt stays in
   * it until a later block.
   */
  async second(): Promise<ChainBlock> {
    const block = await this.chain.mine({ time: this.chain.time + 1 });
    await settle();
    await this.check();
    await this.ticks();
    return block;
  }

  /** Every idle node ticks twice on the current head (what nodes do when a new head arrives). */
  async ticks(): Promise<void> {
    this.#tickIdle();
    await settle();
    this.#tickIdle();
    await settle();
  }

  /** Seconds until `until` holds after a block (at most `max`); fails with the log otherwise. */
  async runUntil(what: string, until: () => Promise<boolean> | boolean, max: number): Promise<void> {
    for (let i = 0; i < max; i++) {
      await this.second();
      if (await until()) return;
    }
    assert.fail(`${what}: not reached within ${max} s (head ${this.chain.head.number}, t=${this.chain.time})\n${this.log.slice(-60).join('\n')}`);
  }

  /** The transactions of session `session` with method `method` in block `n`. */
  txsIn(n: number, method: WriteMethod, session: number): ChainTx[] {
    return this.chain.block(n).txs.filter((tx) => tx.method === method && (tx.args[0] as { session?: number } | undefined)?.session === session);
  }

  /** The registry as `node`'s endpoint showed it at its last successful tick (null: none, or that block is gone). */
  #seenAtLastTick(node: ClusterNode): ChainView | null {
    const b = node.lastSeen;
    if (b === null || this.chain.block(b.number).hash !== b.hash) return null;
    let v = this.#seen.get(node.address);
    if (!v) {
      v = this.chain.ledgerFor(node.address);
      this.#seen.set(node.address, v);
    }
    v.setLag(this.chain.head.number - b.number);
    return v;
  }

  /**
   * The invariants, after every block:
   * 1. the MPK never changes once a final block pinned it (head and final views agree);
   * 2. every share a node stores is valid for its version: s·G2 == PK_j = Σ A_k·x_j^k, and
   *    the polynomial matches its hash and, once pinned, the MPK;
   * 3. a node that confirmed the version its endpoint showed active at its last successful
   *    tick holds that version, active (a recipient that did not confirm in time holds no
   *    share of it, by design: `missedConfirmations` lists them);
   * 4. a node retires a version only once a later completion is final, and deletes a
   *    version whose completion (with its hash) is final only once a later version was the
   *    source of a reshare whose completion is final (SPEC 4 retention);
   * 5. a share deleted before its completion was final never turns out final after all.
   */
  async check(): Promise<void> {
    this.checks++;
    const final = this.chain.finalView();
    const w = this.#watch;
    const at = `block ${this.chain.head.number} (final ${this.chain.finalBlock.number})`;
    const fail = (msg: string): never => assert.fail(`${at}: ${msg}\n${this.log.filter((l) => !process.env.LOG_NODE || l.includes(`node ${process.env.LOG_NODE} `)).slice(-60).join('\n')}`);

    const finalMpk = await final.getMpk();
    if (w.mpk === null) w.mpk = finalMpk;
    if (w.mpk !== null) {
      if (finalMpk !== w.mpk) fail(`the final MPK changed from ${w.mpk} to ${finalMpk}`);
      if ((await this.chain.getMpk()) !== w.mpk) fail('the head MPK differs from the final one');
    }
    const finalActive = await final.activeVersion();
    const finalSessions: Session[] = [];
    for (let id = 1; id <= (await final.latestSessionId()); id++) finalSessions.push((await final.getSession(id)) as Session);

    for (const node of this.nodes) {
      const versions = node.store.listVersions();
      for (const v of versions) {
        const key = `${node.address}|${v.id}|${v.publicPolyHash}|${v.share}`;
        if (w.validShares.has(key)) continue;
        if (keccak256(v.publicPoly) !== v.publicPolyHash) fail(`node ${node.address}: version ${v.id}'s polynomial does not match its hash`);
        if (!verifyShare(decodePoly(mustHex(v.publicPoly, 'poly')), operatorX(node.address), v.share)) fail(`node ${node.address}: its share of version ${v.id} fails s·G2 == PK_j`);
        w.validShares.add(key);
      }
      if (w.mpk !== null) {
        for (const v of versions) if (v.publicPoly.slice(0, MPK_HEX) !== w.mpk) fail(`node ${node.address}: version ${v.id} has another constant term than the MPK`);
      }
      // The version its endpoint showed active at its last successful tick (what it can know):
      // if it confirmed that version's hash, it serves it. A recipient that could not confirm
      // in time does not activate (SPEC 4 step 4) and takes part again at the next session.
      const seenView = this.#seenAtLastTick(node);
      const seen = seenView ? await seenView.activeVersion() : null;
      if (seenView && seen && seen.holders.includes(node.address)) {
        const confirmed = (await seenView.getSubmissions(seen.id)).some((x) => x.type === 'confirm' && x.from === node.address && x.publicPolyHash === seen.publicPolyHash);
        const v = node.store.getVersion(seen.id);
        if (!confirmed) {
          if (!v) this.missedConfirmations.add(`${node.address} version ${seen.id}`);
        } else if (!v || v.publicPolyHash !== seen.publicPolyHash || v.status !== 'active') {
          fail(`node ${node.address} confirmed version ${seen.id}, which its last tick saw active, but holds ${v ? `it as ${v.status} (${v.publicPolyHash})` : 'nothing of it'}`);
        }
      }

      await w.gate.observe({ address: node.address, who: `node ${node.address}`, label: node.address }, versions, { final, finalActive, finalSessions, block: this.chain.head.number }, fail);
    }
    await w.gate.recheck(final, (node) => `node ${node}`, fail);
  }

  /**
   * Final checks once every round is over: no session pending, every node that confirmed the
   * final version serves it, every store bound to the MPK, every round closed.
   */
  async checkSettled(o: { tickErrorsFrom?: readonly Address[] } = {}): Promise<{ completed: number; failed: number }> {
    const final = this.chain.finalView();
    let completed = 0;
    let failed = 0;
    const latest = await final.latestSessionId();
    assert.equal(latest, await this.chain.latestSessionId(), 'the final view has every session');
    for (let id = 1; id <= latest; id++) {
      const s = await final.getSession(id);
      assert.ok(s && s.progress.outcome !== 'pending', `session ${id} ended (final): ${s?.progress.outcome}`);
      if (s.progress.outcome === 'completed') completed++;
      else failed++;
    }
    const active = await final.activeVersion();
    assert.ok(active, 'a version is active');
    for (const n of this.nodes) {
      if (!this.missedConfirmations.has(`${n.address} version ${active.id}`)) assert.equal(n.store.activeVersion()?.id, active.id, `node ${n.address} serves the final active version`);
      assert.equal(n.store.mpk(), this.#watch.mpk, `node ${n.address}'s store is bound to the MPK`);
      if (!o.tickErrorsFrom?.includes(n.address)) assert.deepEqual(n.tickErrors, [], `node ${n.address}: no tick failed`);
      const open = JSON.parse(n.store.getMeta('openRounds') ?? '[]') as number[];
      assert.deepEqual(open, [], `node ${n.address} has closed every round`);
    }
    return { completed, failed };
  }

  /** Reads a session at the head. */
  async session(id: number): Promise<Session | null> {
    return this.chain.getSession(id);
  }

  get finalView(): LedgerReader {
    return this.chain.finalView();
  }
}
