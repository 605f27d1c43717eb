/**
 * @module
 * The soak's fault injector, on a cluster of real processes (test/cluster/harness.ts):
 *
 *   kill        SIGKILL an operator, restart it from its data directory 2–15 s later
 *   pause       SIGSTOP an operator, SIGCONT it 2–12 s later
 *   reorg       `anvil_reorg` of 1 … finality − 2 blocks (the nodes read finality through
 *               anvil's `finalized` tag, `finality` blocks behind the head)
 *   membership  an operator joins (a new process, allowed and registered), a member
 *               deregisters (it keeps running: a leaving operator deals once more), or
 *               governance changes the threshold override (delay 0 on this deployment)
 *
 * An operator that has left for good (no longer registered) and whose /status shows no key
 * version left is stopped ("retired"), which makes room for the next join: that the node
 * deleted every share on its own is itself checked (test/node/retention-departed.test.ts).
 *
 * Limits that keep the network able to make progress (faults beyond them test nothing but
 * "it stops"): at most as many operators are down or paused at once as leave t holders of the
 * active version and t members running; no reorg within finality + 3 s after a governance or
 * registration transaction (a reorg would take it back: governance's key does not resend); at
 * least `nodes` members stay; a threshold override stays inside the bounds of the member count.
 */
import type { Cluster } from '../../test/cluster/harness.ts';
import { defaultThreshold, thresholdBounds } from '../../src/protocol/session-rules.ts';
import type { Address, Governance, OperatorRecord, VersionRecord } from '../../src/protocol/ledger.ts';
import type { Rand } from './rand.ts';
import { sleep, type Reporter } from './reporter.ts';

export type FaultKind = 'kill' | 'pause' | 'reorg' | 'membership';
export const FAULT_KINDS: readonly FaultKind[] = ['kill', 'pause', 'reorg', 'membership'];

export interface FaultCounts {
  kills: number;
  pauses: number;
  reorgs: number;
  /** Joins, leaves and threshold changes that took effect. */
  membership: number;
  joins: number;
  leaves: number;
  thresholdChanges: number;
  /** Draws that found their fault impossible at that moment (and no other kind possible). */
  skipped: number;
  /** Departed operators (deregistered, no share left) whose process was stopped to make room for joins. */
  retired: number;
}

/** What the injector needs to know of the chain, refreshed by the caller every second. */
export interface ChainView {
  active: VersionRecord | null;
  members: readonly OperatorRecord[];
  gov: Governance | null;
}

export interface InjectorParameters extends Reporter {
  readonly c: Cluster;
  readonly rand: Rand;
  readonly view: ChainView;
  readonly finality: number;
  /** Members never fall below this. */
  readonly minMembers: number;
  /** Operator processes at most. */
  readonly maxNodes: number;
}

export class FaultInjector {
  readonly counts: FaultCounts = { kills: 0, pauses: 0, reorgs: 0, membership: 0, joins: 0, leaves: 0, thresholdChanges: 0, skipped: 0, retired: 0 };
  /** Operators down (killed, not yet restarted) or paused. */
  readonly #impaired = new Map<number, 'down' | 'paused'>();
  /** Operators a membership change is working on (no other fault touches them meanwhile). */
  readonly #busy = new Set<number>();
  readonly #tasks = new Set<Promise<void>>();
  /** Departed operators whose process was stopped on purpose (never restarted). */
  readonly retired = new Set<number>();
  readonly #p: InjectorParameters;
  #membershipBusy = false;
  #noReorgUntil = 0;

  constructor(p: InjectorParameters) {
    this.#p = p;
  }

  /** Running, not paused, and not in the middle of a kill and restart (its process may already be up, not yet serving). */
  healthy(i: number): boolean {
    return this.#p.c.running(i) && !this.#impaired.has(i);
  }

  /** At least t holders of the active version are healthy (release availability counts then). */
  enoughHoldersUp(): boolean {
    const a = this.#p.view.active;
    return a !== null && this.#healthyAmong(a.holders) >= a.threshold;
  }

  /**
   * Draws one fault and starts it. Kinds not yet injected go first (so that a short run sees
   * every kind); a kind impossible now gives way to the next possible one. Returns the kind
   * started, or null (counted as skipped).
   */
  inject(): FaultKind | null {
    const { rand } = this.#p;
    // Fixed draws per call, whatever happens next (see rand.ts).
    const order = rand.shuffle(FAULT_KINDS);
    const victimRoll = rand.float();
    const durationRoll = rand.float();
    const subRoll = rand.float();
    const fresh = order.filter((k) => this.#count(k) === 0);
    for (const kind of [...fresh, ...order.filter((k) => !fresh.includes(k))]) {
      if (this.#start(kind, victimRoll, durationRoll, subRoll)) return kind;
    }
    this.counts.skipped++;
    return null;
  }

  /**
   * Stops the process of every operator that left for good (the chain no longer lists it)
   * and holds no key version any more (its /status), making room for joins.
   */
  async retireDeparted(): Promise<void> {
    const { c, say } = this.#p;
    for (const node of c.nodes) {
      const i = node.index;
      if (!this.healthy(i) || this.#busy.has(i) || this.retired.has(i)) continue;
      if ((await c.ledger.getOperator(node.address)) !== null) continue;
      const s = await c.status(i).catch(() => null);
      if (s === null || (s.versions ?? []).length > 0) continue;
      this.#busy.add(i);
      try {
        await c.stopNodes([i]);
        this.retired.add(i);
        this.counts.retired++;
        say(`retired: node ${i} left the operator set and holds no key version; its process stops`);
      } finally {
        this.#busy.delete(i);
      }
    }
  }

  /** Waits for every fault in flight to end (restarts done, pauses lifted). */
  async settle(): Promise<void> {
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
    // Anything still stopped is continued; anything still down (a failed restart) is restarted.
    for (const node of this.#p.c.nodes) {
      if (this.#impaired.get(node.index) === 'paused') node.proc?.kill('SIGCONT');
      this.#impaired.delete(node.index);
    }
  }

  #count(kind: FaultKind): number {
    const c = this.counts;
    return kind === 'kill' ? c.kills : kind === 'pause' ? c.pauses : kind === 'reorg' ? c.reorgs : c.membership;
  }

  #indexOf(a: Address): number {
    return this.#p.c.nodes.findIndex((n) => n.address === a);
  }

  #healthyAmong(addresses: readonly Address[]): number {
    return addresses.map((a) => this.#indexOf(a)).filter((i) => i >= 0 && this.healthy(i)).length;
  }

  /** The threshold the next session would get. */
  #nextThreshold(): number {
    const { gov, members } = this.#p.view;
    return gov !== null && gov.thresholdOverride > 0 ? gov.thresholdOverride : defaultThreshold(members.length);
  }

  /** Operators that may be killed or paused now without dropping below t holders or t members. */
  #victims(): number[] {
    const { active, members } = this.#p.view;
    if (active === null) return [];
    const holdersUp = this.#healthyAmong(active.holders);
    const membersUp = this.#healthyAmong(members.map((m) => m.address));
    return this.#p.c.nodes
      .map((n) => n.index)
      .filter((i) => this.healthy(i) && !this.#busy.has(i))
      .filter((i) => {
        const a = this.#p.c.nodes[i]?.address as Address;
        const holder = active.holders.includes(a);
        const member = members.some((m) => m.address === a);
        return (!holder || holdersUp - 1 >= active.threshold) && (!member || membersUp - 1 >= this.#nextThreshold());
      });
  }

  #track(what: string, task: Promise<void>): void {
    const t = task.catch((e: unknown) => this.#p.say(`${what}: ${(e as Error).message.split('\n')[0]}`)).finally(() => this.#tasks.delete(t));
    this.#tasks.add(t);
  }

  #start(kind: FaultKind, victimRoll: number, durationRoll: number, subRoll: number): boolean {
    const { c, say } = this.#p;
    const at = <T>(xs: readonly T[], roll: number): T => xs[Math.floor(roll * xs.length)] as T;
    if (kind === 'kill' || kind === 'pause') {
      const victims = this.#victims();
      if (victims.length === 0) return false;
      const i = at(victims, victimRoll);
      if (kind === 'kill') {
        const downMs = 2000 + Math.floor(durationRoll * 13_000);
        this.#impaired.set(i, 'down');
        this.counts.kills++;
        say(`fault: SIGKILL node ${i}, restart in ${(downMs / 1000).toFixed(1)} s`);
        this.#track(`kill node ${i}`, this.#killAndRestart(i, downMs));
      } else {
        const pauseMs = 2000 + Math.floor(durationRoll * 10_000);
        const proc = c.nodes[i]?.proc;
        if (!proc) return false;
        this.#impaired.set(i, 'paused');
        proc.kill('SIGSTOP');
        this.counts.pauses++;
        say(`fault: SIGSTOP node ${i} for ${(pauseMs / 1000).toFixed(1)} s`);
        this.#track(`pause node ${i}`, (async () => {
          await sleep(pauseMs);
          proc.kill('SIGCONT');
          this.#impaired.delete(i);
        })());
      }
      return true;
    }
    if (kind === 'reorg') {
      if (Date.now() < this.#noReorgUntil || this.#membershipBusy) return false;
      const depth = 1 + Math.floor(durationRoll * (this.#p.finality - 2));
      this.counts.reorgs++;
      say(`fault: reorg of ${depth} block${depth === 1 ? '' : 's'}`);
      this.#track('reorg', c.reorg(depth));
      return true;
    }
    return this.#membership(victimRoll, subRoll);
  }

  async #killAndRestart(i: number, downMs: number): Promise<void> {
    const { c } = this.#p;
    await c.kill(i, 'SIGKILL');
    await sleep(downMs);
    let r = await c.restart(i);
    if (!r.started) {
      this.#p.say(`node ${i} did not start after SIGKILL (exit ${r.code ?? r.signal}); one more try`);
      await sleep(2000);
      r = await c.restart(i);
    }
    if (!r.started) this.#p.violation(`node ${i} does not start again after a SIGKILL: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    this.#impaired.delete(i);
  }

  /** A join, a leave or a threshold change, whichever the roll picks among those possible now. */
  #membership(victimRoll: number, subRoll: number): boolean {
    if (this.#membershipBusy) return false;
    const { c, view, say, maxNodes, minMembers } = this.#p;
    const n = view.members.length;
    const override = view.gov?.thresholdOverride ?? 0;
    const options: (() => Promise<void>)[] = [];
    const processes = c.nodes.filter((nd) => !this.retired.has(nd.index)).length;
    // Operators take anvil accounts 1…18 (19 is the app owner's).
    if (processes < maxNodes && c.nodes.length < 18) {
      options.push(async () => {
        say('fault: an operator joins (new process, allowed, registered)');
        // The newcomer gets the next index; no other fault touches it before it has joined.
        const joining = c.nodes.length;
        this.#busy.add(joining);
        const i = await c.addOperator().finally(() => this.#busy.delete(joining));
        this.counts.joins++;
        this.counts.membership++;
        say(`joined: node ${i} (${c.nodes[i]?.address})`);
      });
    }
    const leavers = view.members.map((m) => this.#indexOf(m.address)).filter((i) => i >= 0 && !this.#busy.has(i));
    // One fewer member must still admit the override (0, the default, always does).
    const overrideOk = override === 0 || (override >= thresholdBounds(n - 1).min && override <= n - 1);
    if (n - 1 >= minMembers && overrideOk && leavers.length > 0) {
      const i = leavers[Math.floor(victimRoll * leavers.length)] as number;
      options.push(async () => {
        say(`fault: node ${i} deregisters (it keeps running: it deals once more)`);
        this.#busy.add(i);
        try {
          await c.deregister(i);
          this.counts.leaves++;
          this.counts.membership++;
        } finally {
          this.#busy.delete(i);
        }
      });
    }
    if (n >= 3) {
      const { min } = thresholdBounds(n);
      const choices = [0, ...Array.from({ length: Math.max(0, defaultThreshold(n) - min + 1) }, (_, k) => min + k)].filter((t) => t !== override);
      if (choices.length > 0) {
        const t = choices[Math.floor(victimRoll * choices.length)] as number;
        options.push(async () => {
          say(`fault: governance sets the threshold override to ${t}${t === 0 ? ' (the default, ceil(2n/3))' : ''} (${n} members)`);
          await c.setThreshold(t);
          this.counts.thresholdChanges++;
          this.counts.membership++;
        });
      }
    }
    if (options.length === 0) return false;
    const run = options[Math.floor(subRoll * options.length)] as () => Promise<void>;
    this.#membershipBusy = true;
    this.#track('membership change', (async () => {
      try {
        await run();
      } finally {
        // Its transactions must be final before a reorg may strike (see the module comment).
        this.#noReorgUntil = Date.now() + (this.#p.finality + 3) * 1000;
        this.#membershipBusy = false;
      }
    })());
    return true;
  }
}
