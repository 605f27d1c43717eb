/**
 * @module
 * One soak run (issue 13 item 5): a cluster of real processes (test/cluster/harness.ts:
 * anvil with 1 s blocks and its `finalized` tag `finality` blocks back, N `kms-server`
 * processes with SQLite stores), genesis, an app whose key is computed once and verified
 * against the MPK, then `minutes` of faults (./faults.ts) while the app requests its key the
 * whole time (./app-client.ts), then the end checks:
 *
 *   1. MPK: the chain's MPK is read every second and must stay the one pinned at genesis
 *      (pinned once genesis is final: a reorg may not take back a final block).
 *   2. Keys: every key returned equals the pinned app key; every completed version is asked
 *      for with the version pinned and must give the same key (versions no request could
 *      reach are reported as unchecked, not as held).
 *   3. Retention: no node deletes a version before a later one has sourced a completed,
 *      final reshare (test/cluster/retention-monitor.ts, every 300 ms, during the run); at the
 *      end no node's store, read after stopping it, keeps a version that rule retired.
 *   4. Recovery: once faults stop (every node running again), a session opened after that
 *      completes within 5 intervals and every holder activates it; its shares, read from the
 *      stores, verify against the on-chain polynomial and t of them combine to the app key.
 *
 * Nothing here holds a share outside a stopped node's store, and nothing prints one.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { privateKeyToAccount } from 'viem/accounts';
import { createKmsClient } from '../../src/client/index.ts';
import type { Address, Hex, VersionRecord } from '../../src/protocol/ledger.ts';
import { startCluster, type Cluster } from '../../test/cluster/harness.ts';
import { appKey, keyVerifies, partialVerifies, publicPolyOf, shareOf, type Holder } from '../../test/cluster/keys.ts';
import { watchRetention, type RetentionMonitor } from '../../test/cluster/retention-monitor.ts';
import { createDemoApp, errorLine } from '../devnet/demo.ts';
import { AppClient } from './app-client.ts';
import { FaultInjector, type ChainView, type FaultCounts } from './faults.ts';
import { windowsFor, type SoakOptions } from './options.ts';
import { seededRand } from './rand.ts';
import { sleep } from './reporter.ts';

/** The summary printed as the last stdout line. */
export interface SoakReport {
  readonly minutes: number;
  readonly seed: number;
  readonly nodes: { readonly initial: number; readonly max: number; readonly final: number };
  readonly interval: number;
  readonly finality: number;
  readonly wallSeconds: number;
  readonly rounds: { readonly completed: number; readonly failed: number; readonly sessions: number };
  readonly faults: FaultCounts;
  readonly releases: AppClient['releases'] & { readonly availability: { readonly ok: number; readonly all: number; readonly ratio: number | null } };
  readonly versions: { readonly completed: number; readonly checked: number; readonly unchecked: readonly number[] };
  readonly invariants: { readonly held: boolean; readonly violations: readonly string[] };
  /** The run's directory (node logs, key stores, events.log), when kept. */
  readonly dir: string | null;
  /** The command that runs the same schedule again. */
  readonly replay: string;
}

/** The anvil account of the app owner (operators take accounts 1 … maxNodes). */
const OWNER_ACCOUNT = 19;

export function replayCommand(o: SoakOptions): string {
  return `npm run soak -- --minutes ${o.minutes} --seed ${o.seed} --nodes ${o.nodes} --max-nodes ${o.maxNodes} --interval ${o.interval} --finality ${o.finality} --fault-every ${o.faultEvery} --json`;
}

export async function runSoak(o: SoakOptions, say: (line: string) => void): Promise<SoakReport> {
  const t0 = Date.now();
  const violations: string[] = [];
  const violation = (what: string): void => {
    if (!violations.includes(what)) violations.push(what);
    say(`VIOLATION: ${what}`);
  };
  const windows = windowsFor(o.interval);
  let c: Cluster | null = null;
  let events = '';
  const log = (line: string): void => {
    const stamp = `${((Date.now() - t0) / 1000).toFixed(1).padStart(7)} s`;
    say(`[${stamp}] ${line}`);
    if (events) appendFileSync(events, `${new Date().toISOString()} ${line}\n`);
  };
  const view: ChainView = { active: null, members: [], gov: null };
  const injector = { current: null as FaultInjector | null };
  let client: AppClient | null = null;
  let retention: RetentionMonitor | null = null;
  let monitorStop = false;
  const loops: Promise<void>[] = [];
  let rounds = { completed: 0, failed: 0, sessions: 0, completedIds: [] as number[] };
  try {
    log(`seed ${o.seed}: ${o.nodes} operators (up to ${o.maxNodes}), interval ${o.interval} s, windows ${windows.deal} s, finality ${o.finality} blocks, a fault every ~${o.faultEvery} s for ${o.minutes} min`);
    c = await startCluster({ n: o.nodes, interval: o.interval, windows, finalityBlocks: o.finality, tickMs: 250, name: 'soak' });
    const cl = c;
    events = join(cl.dir, 'events.log');
    log(`cluster up in ${cl.dir} (anvil ${cl.rpcUrl}, registry ${cl.registry})`);

    // Genesis, pinned once final.
    await cl.waitForRoom(windows.deal + 2);
    await cl.armGenesis();
    const genesis = await cl.waitForVersion(1, { timeoutMs: 5 * o.interval * 1000 });
    const mpk = await cl.waitFor('genesis to be final', async () => (await cl.ledger.finalView().getMpk()) ?? undefined, { timeoutMs: (o.finality + 30) * 1000 });
    log(`genesis: version ${genesis.id}, t = ${genesis.threshold} of ${genesis.holders.length}; MPK pinned (final)`);

    // The app and its key, verified against the MPK by pairing.
    const ownerKey = cl.anvil.accounts[OWNER_ACCOUNT] as Hex;
    const owner = privateKeyToAccount(ownerKey).address.toLowerCase() as Address;
    const app = await createDemoApp(cl.ledger, owner, mpk);
    const kms = createKmsClient({ rpcUrl: cl.rpcUrl, registry: cl.registry, chainId: Number(cl.ledger.chainId) }, { timeoutMs: 4000 });
    const first = await cl.waitFor('the app key (first request)', async () => {
      try {
        return await kms.requestAppKey({ appId: app.appId, ownerKey });
      } catch {
        return undefined;
      }
    }, { timeoutMs: 60_000, pollMs: 1000 });
    if (!keyVerifies(mpk, Buffer.from(first.appKey.slice(2), 'hex'), app.appId)) throw new Error('the first app key does not verify against the MPK (e(d, G2) ≠ e(Q(appId), MPK))');
    log(`app ${app.appId}: key computed from version ${first.version} and verified against the MPK`);
    client = new AppClient({ kms, appId: app.appId, ownerKey, expected: first.appKey, violation, say: log });

    // Chain monitor: MPK, the chain view the injector needs, completed versions to check.
    // Sessions before genesis are failed DKGs; genesis itself is queued below.
    let seenSessions = genesis.id;
    const refresh = async (): Promise<void> => {
      const [m, active, ops, gov, latest] = await Promise.all([cl.ledger.getMpk(), cl.ledger.activeVersion(), cl.ledger.getOperators(), cl.ledger.getGovernance(), cl.ledger.latestSessionId()]);
      if (m !== mpk) violation(`the chain's MPK changed from ${mpk} to ${m ?? 'none'}`);
      view.active = active;
      view.members = ops.filter((x) => x.status === 'active');
      view.gov = gov;
      // A session's outcome settles after its windows; check each new one once it has.
      while (seenSessions < latest) {
        const s = await cl.ledger.getSession(seenSessions + 1);
        if (!s || s.progress.outcome === 'pending') break;
        seenSessions++;
        log(`session ${seenSessions} (${s.snapshot.kind}, ${s.snapshot.dealers.length} dealers, ${s.snapshot.recipients.length} recipients, t ${s.snapshot.tOld}→${s.snapshot.tNew}): ${s.progress.outcome} (deals ${s.progress.dealCount}, acks ${s.progress.ackCount}, confirms ${s.progress.confirmCount})`);
        if (s.progress.outcome === 'completed') client?.checkVersion(seenSessions, Date.now() + 3 * o.interval * 1000);
      }
    };
    await refresh();
    client.checkVersion(genesis.id, Date.now() + 3 * o.interval * 1000);
    loops.push((async () => {
      while (!monitorStop) {
        await refresh().catch(() => undefined); // a read that fails (anvil busy) is retried next second
        await sleep(1000);
      }
    })());
    retention = watchRetention(cl, 1000);
    const inj = new FaultInjector({ c: cl, rand: seededRand(o.seed), view, finality: o.finality, minMembers: o.nodes, maxNodes: o.maxNodes, say: log, violation });
    injector.current = inj;
    loops.push(client.requestLoop(() => inj.enoughHoldersUp(), 1500), client.versionLoop());

    // Faults.
    const faultsEnd = Date.now() + o.minutes * 60_000;
    const gapRand = seededRand(o.seed + 1);
    log(`faults start (${o.minutes} min)`);
    while (Date.now() < faultsEnd) {
      const gap = o.faultEvery * 1000 * (0.5 + gapRand.float());
      await sleep(Math.min(gap, Math.max(0, faultsEnd - Date.now())));
      if (Date.now() >= faultsEnd) break;
      await inj.retireDeparted().catch((e: unknown) => log(`retiring departed operators: ${errorLine(e)}`));
      inj.inject();
    }
    log('faults stop; waiting for the faults in flight to end');
    await inj.settle();
    for (const node of cl.nodes) {
      if (!cl.running(node.index) && !inj.retired.has(node.index)) {
        const r = await cl.restart(node.index);
        if (!r.started) violation(`node ${node.index} does not start after the faults: ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`);
      }
    }
    const lastFaulty = await cl.ledger.latestSessionId();
    log(`all ${cl.nodes.length - inj.retired.size} operators running${inj.retired.size > 0 ? ` (${inj.retired.size} departed and retired)` : ''}; the last session touched by faults is ${lastFaulty}`);

    // Recovery: a session opened after the faults completes, and its holders activate it.
    let recovered: VersionRecord | null = null;
    try {
      recovered = await cl.waitFor(`a session after ${lastFaulty} to complete`, async () => {
        const a = await cl.ledger.activeVersion();
        return a !== null && a.id > lastFaulty ? a : undefined;
      }, { timeoutMs: 5 * o.interval * 1000, pollMs: 1000 });
      const holders = recovered.holders.map((a) => cl.nodes.findIndex((n) => n.address === a)).filter((i) => i >= 0);
      await cl.waitForVersion(recovered.id, { nodes: holders, timeoutMs: 3 * o.interval * 1000 });
      log(`recovered: version ${recovered.id} (t = ${recovered.threshold} of ${recovered.holders.length}) active on every holder`);
    } catch (e) {
      violation(`rounds do not complete again once faults stop: ${errorLine(e)}`);
    }

    // Retention at the end: wait until the recovery version is final, then give every node a
    // few ticks to apply it, then read the stores.
    let newestSource = 0;
    if (recovered !== null) {
      const rid = recovered.id;
      await cl.waitFor(`version ${rid} to be final`, async () => ((await cl.ledger.finalView().activeVersion())?.id ?? 0) >= rid ? true : undefined, { timeoutMs: (o.finality + 30) * 1000 }).catch((e: Error) => violation(errorLine(e)));
      newestSource = await newestFinalSource(cl);
      // A node applies retention between rounds; give every running one up to two intervals
      // to drop what that source retired (the stores, read below, are the verdict).
      const ns = newestSource;
      await cl.waitFor(`every node to drop versions older than ${ns}`, async () => {
        const statuses = await Promise.all(cl.nodes.filter((n) => cl.running(n.index)).map((n) => cl.status(n.index)));
        return statuses.every((st) => (st.versions ?? []).every((v) => v.id >= ns)) ? true : undefined;
      }, { timeoutMs: 2 * o.interval * 1000, pollMs: 1000 }).catch(() => log(`some node still lists a version older than ${ns} after two intervals (the stores decide)`));
    }
    monitorStop = true;
    client.stop();
    retention.stop();
    await Promise.all(loops);
    // A deletion the monitor flags (ids only) is a lost share unless the node lists that id
    // again later (it abandoned a reorged-out incarnation of the session and completed the new
    // one) or the final chain does not count it among that version's holders.
    for (const [k, text] of retention.violations.entries()) {
      const sus = retention.suspects[k];
      if (sus === undefined) continue;
      const back = retention.reappearances.some((r) => r.node === sus.node && r.version === sus.version);
      const fv = await cl.ledger.finalView().getVersion(sus.version);
      const holder = fv !== null && fv.holders.includes(cl.nodes[sus.node]?.address as Address);
      if (back || !holder) log(`retention: ${text}: ${back ? 'it holds that version id again (a reorg made it abandon an incarnation of the session that is gone)' : 'the final chain does not list it as a holder of that version'}; no share lost`);
      else violation(`retention: ${text}, and never held it again: the share of a final version was lost`);
    }

    const active = await cl.ledger.activeVersion();
    await cl.stopNodes(cl.nodes.map((n) => n.index));
    const holders: Holder[] = [];
    for (const node of cl.nodes) {
      let stored;
      try {
        stored = cl.readStore(node.index);
      } catch (e) {
        violation(`node ${node.index}: its store does not open after a clean stop: ${errorLine(e)}`);
        continue;
      }
      const stale = stored.filter((v) => v.id < newestSource).map((v) => v.id);
      if (stale.length > 0) violation(`node ${node.index} still holds version${stale.length > 1 ? 's' : ''} ${stale.join(', ')}, retired once version ${newestSource} sourced a final completed reshare`);
      if (active !== null && active.holders.includes(node.address)) {
        const h = shareOf(node.address, stored, active.id);
        if (h === null) violation(`node ${node.index} is a holder of the active version ${active.id} but its store has no share of it`);
        else if (!partialVerifies(publicPolyOf(active), h, app.appId)) violation(`node ${node.index}: its share of version ${active.id} does not verify against its public share`);
        else holders.push(h);
      }
    }
    if (active !== null) {
      if (holders.length < active.threshold) violation(`only ${holders.length} valid shares of the active version ${active.id} in the stores (t = ${active.threshold})`);
      else if (Buffer.from(appKey(holders.slice(0, active.threshold), app.appId)).toString('hex') !== first.appKey.slice(2).toLowerCase()) {
        violation(`t shares of the active version ${active.id}, read from the stores, combine to another app key`);
      }
    }
    if ((await cl.ledger.getMpk()) !== mpk) violation('the MPK at the end differs from the one pinned at genesis');
    rounds = await countRounds(cl);
    log(`end: ${rounds.completed} rounds completed, ${rounds.failed} failed; stores checked (${holders.length} holders of version ${active?.id ?? 'none'}; nothing older than version ${newestSource} kept)`);
  } catch (e) {
    violation(`soak aborted: ${errorLine(e)}`);
    if (c !== null) say(`last chain state and logs:\n${c.nodes.map((n) => `--- node ${n.index}\n${c?.logTail(n.index, 15) ?? ''}`).join('\n')}`);
  } finally {
    monitorStop = true;
    client?.stop();
    retention?.stop();
    await injector.current?.settle().catch(() => undefined);
    await Promise.allSettled(loops);
  }
  const held = violations.length === 0;
  const keep = !held || o.keep;
  const dir = c?.dir ?? null;
  if (c !== null) {
    if (rounds.sessions === 0) rounds = await countRounds(c).catch(() => rounds);
    await c.stop({ keep });
  }
  const rel = client?.releases ?? { ok: 0, failed: 0, availability: { ok: 0, all: 0 }, errors: {} };
  // Unchecked: every version the chain completed that no pinned-version request came back for
  // (given up on, or seen by the monitor as failed before a reorg turned it into a completion).
  const checked = new Set(client?.versions.checked ?? []);
  const unchecked = rounds.completedIds.filter((id) => !checked.has(id));
  return {
    minutes: o.minutes,
    seed: o.seed,
    nodes: { initial: o.nodes, max: o.maxNodes, final: c?.nodes.length ?? 0 },
    interval: o.interval,
    finality: o.finality,
    wallSeconds: Math.round((Date.now() - t0) / 1000),
    rounds: { completed: rounds.completed, failed: rounds.failed, sessions: rounds.sessions },
    faults: injector.current?.counts ?? { kills: 0, pauses: 0, reorgs: 0, membership: 0, joins: 0, leaves: 0, thresholdChanges: 0, skipped: 0, retired: 0 },
    releases: { ...rel, availability: { ...rel.availability, ratio: rel.availability.all > 0 ? Number((rel.availability.ok / rel.availability.all).toFixed(4)) : null } },
    versions: { completed: rounds.completed, checked: rounds.completedIds.filter((id) => checked.has(id)).length, unchecked },
    invariants: { held, violations },
    dir: keep ? dir : null,
    replay: replayCommand(o),
  };
}

/** Sessions by outcome, from the chain (pending ones are neither), and the completed ids. */
async function countRounds(c: Cluster): Promise<{ completed: number; failed: number; sessions: number; completedIds: number[] }> {
  const latest = await c.ledger.latestSessionId();
  const completedIds: number[] = [];
  let failed = 0;
  for (let id = 1; id <= latest; id++) {
    const s = await c.ledger.getSession(id);
    if (s?.progress.outcome === 'completed') completedIds.push(id);
    else if (s?.progress.outcome === 'failed') failed++;
  }
  return { completed: completedIds.length, failed, sessions: latest, completedIds };
}

/** The newest source version of a reshare that completed in a final block (0 if none). */
async function newestFinalSource(c: Cluster): Promise<number> {
  const f = c.ledger.finalView();
  const latest = await f.latestSessionId();
  let newest = 0;
  for (let id = latest; id >= 1; id--) {
    const s = await f.getSession(id);
    if (s?.snapshot.kind === 'reshare' && s.progress.outcome === 'completed') newest = Math.max(newest, s.snapshot.sourceVersion);
  }
  return newest;
}
