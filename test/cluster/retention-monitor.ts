/**
 * Watches every running node's kept key versions (`/status` → `versions`) and checks each
 * deletion against the chain at that moment: a node may delete a version v whose completion
 * is final only once the final block shows a completed reshare that sourced a version newer
 * than v (SPEC 4, v3: retention commits on finality). A version whose completion is not final
 * may go when a reorg reopens its session with another snapshot (the round is abandoned and
 * run again): that is no retention, and the final chain never knew the version. Violations are
 * collected, not thrown, so a test asserts them at its end.
 */
import type { Cluster } from './harness.ts';

export interface RetentionMonitor {
  /** Deletions that broke the rule, in the order seen. */
  readonly violations: readonly string[];
  /** Deletions seen (node, version), for tests that want to know retention ran at all. */
  readonly deletions: readonly { readonly node: number; readonly version: number }[];
  /** The deletions that broke the rule, as (node, version), in the order of `violations`. */
  readonly suspects: readonly { readonly node: number; readonly version: number }[];
  /**
   * Versions a node lists again after it deleted them: a reorg that took back a session's
   * opening makes the node abandon that incarnation's version and store the new one's
   * under the same id (/status shows ids, not hashes).
   */
  readonly reappearances: readonly { readonly node: number; readonly version: number }[];
  stop(): void;
}

export function watchRetention(c: Cluster, everyMs = 300): RetentionMonitor {
  const kept = new Map<number, Set<number>>();
  const violations: string[] = [];
  const deletions: { node: number; version: number }[] = [];
  const suspects: { node: number; version: number }[] = [];
  const reappearances: { node: number; version: number }[] = [];
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void (async () => {
      try {
        for (const node of c.nodes) {
          if (!c.running(node.index)) continue;
          const s = await c.status(node.index).catch(() => null);
          if (!s?.versions) continue;
          const now = new Set(s.versions.map((v) => v.id));
          const before = kept.get(node.index);
          kept.set(node.index, now);
          if (!before) continue;
          for (const v of now) if (!before.has(v) && deletions.some((d) => d.node === node.index && d.version === v)) reappearances.push({ node: node.index, version: v });
          for (const v of before) {
            if (now.has(v)) continue;
            deletions.push({ node: node.index, version: v });
            const final = c.ledger.finalView();
            // Not final: a reorg may have taken it (a round short enough to fit in the reorg's
            // depth loses its openSession too, and the reopened round deals afresh).
            if ((await final.getSession(v))?.progress.outcome !== 'completed') continue;
            const active = await final.activeVersion();
            const session = active ? await final.getSession(active.id) : null;
            const source = session?.snapshot.kind === 'reshare' ? session.snapshot.sourceVersion : 0;
            if (!active || active.id <= v || source <= v) {
              violations.push(`node ${node.index} deleted version ${v} while the final active version was ${active?.id ?? 'none'} (sourced from ${source})`);
              suspects.push({ node: node.index, version: v });
            }
          }
        }
      } catch {
        // A probe that fails (a node restarting) is retried at the next tick of the monitor.
      } finally {
        busy = false;
      }
    })();
  }, everyMs);
  return { violations, deletions, suspects, reappearances, stop: () => clearInterval(timer) };
}
