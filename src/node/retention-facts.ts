/**
 * @module
 * The on-chain facts version retention needs (`retention.ts` decides, the loop deletes):
 * the ids of versions that were the source of a reshare whose completion is final.
 *
 * Two places hold them. (1) The sessions of the versions this node holds: a held version w
 * whose own session was a completed reshare proves its source. (2) Sessions after the newest
 * version this node holds: a node that left (a leaving operator deals once more and receives
 * nothing) or missed later rounds holds none of their versions, yet their completions retire
 * its old shares all the same — the fact is on-chain (SPEC 4). Looking only at (1) left a
 * departed operator's shares on its disk for good (found by the soak; regression test
 * test/node/retention-departed.test.ts).
 *
 * For (2) one completed reshare suffices: a reshare sources from the version active when it
 * opens, and active versions only grow, so the newest completed reshare has the newest
 * source. The scan walks back from the final view's latest session and stops at the first
 * completed reshare, or at the newest held version (a member's usual case: nothing to read).
 */
import type { LedgerReader } from '../protocol/ledger.ts';
import type { StoredVersion } from './key-store.ts';

/** Source version ids of final completed reshares that can retire something in `versions`. */
export async function completedSourceIds(final: LedgerReader, versions: readonly StoredVersion[]): Promise<Set<number>> {
  const sources = new Set<number>();
  if (versions.length === 0) return sources;
  for (const v of versions) {
    const s = await final.getSession(v.id);
    if (s && s.snapshot.kind === 'reshare' && s.progress.outcome === 'completed') sources.add(s.snapshot.sourceVersion);
  }
  const newestHeld = Math.max(...versions.map((v) => v.id));
  for (let id = await final.latestSessionId(); id > newestHeld; id--) {
    const s = await final.getSession(id);
    if (s && s.snapshot.kind === 'reshare' && s.progress.outcome === 'completed') {
      sources.add(s.snapshot.sourceVersion);
      break;
    }
  }
  return sources;
}
