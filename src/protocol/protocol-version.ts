/**
 * @module
 * Protocol versions (issue 15 item 5): which sessions a node may act in, as pure verdicts.
 *
 * A protocol version names everything nodes must agree on to compute the same outcome from
 * the same chain data: the deal, ack and confirmation formats, the round rules, the snapshot
 * and digest encodings. Governance sets the version sessions require (`setProtocolVersion`,
 * delayed like the schedule); `openSession` copies it into the snapshot, so a session's
 * requirement never changes after it opened. A node acts in a session only if it speaks the
 * snapshot's version; otherwise it sits the session out and says why (log, `/status`,
 * doctor, status page). It still serves the versions it holds: key release does not depend
 * on the round protocol.
 *
 * Why sitting out and not guessing: a node that dealt or confirmed under rules it does not
 * know would be the "private view" the SPEC forbids. A rolling upgrade therefore goes
 * (docs/operations.md "Upgrades"): every operator installs software that speaks the new
 * version *and* the current one, one node at a time (each restart loses no round); then
 * governance raises the required version; then a later release may drop the old one.
 *
 * Version 1 is SPEC v3 (2026-12-07): packed deals (`deal-bytes.ts`), the rolling submission
 * digest, snapshot hash with `protocolVersion` as its last field.
 */

/** The versions a build speaks, inclusive. */
export interface SpokenProtocol {
  readonly min: number;
  readonly max: number;
}

/** What this build speaks. */
export const SPOKEN_PROTOCOL: SpokenProtocol = Object.freeze({ min: 1, max: 1 });

export function speaks(spoken: SpokenProtocol, version: number): boolean {
  return version >= spoken.min && version <= spoken.max;
}

export function spokenText(spoken: SpokenProtocol): string {
  return spoken.min === spoken.max ? `version ${spoken.min}` : `versions ${spoken.min}–${spoken.max}`;
}

/** Why a node does not act in a session, or null when it may. */
export function sessionProtocolRefusal(spoken: SpokenProtocol, session: number, required: number): string | null {
  if (speaks(spoken, required)) return null;
  const what = required > spoken.max ? 'upgrade kms-server to a release that speaks it' : 'this release dropped it; governance must raise the required version (kms-admin set-protocol-version)';
  return `session ${session} requires protocol version ${required}; this node speaks ${spokenText(spoken)}: it sits the session out (${what})`;
}

/** This node against governance: what sessions require now and what is queued. */
export interface ProtocolStatus {
  /** The versions this node speaks. */
  readonly speaks: SpokenProtocol;
  /** The version sessions opened now require. */
  readonly required: number;
  /** A queued change of the required version (null: none, or the same version). */
  readonly queued: { readonly version: number; readonly effectiveAt: number } | null;
  /** `ok`: it speaks both; `upgrade-soon`: it speaks the current one, not the queued one; `unsupported`: not the current one. */
  readonly verdict: 'ok' | 'upgrade-soon' | 'unsupported';
  /** One line for operators (null when `ok`). */
  readonly message: string | null;
}

/** The governance facts this needs (a subset of `Governance`). */
export interface ProtocolGovernance {
  readonly protocolVersion: number;
  readonly queued: readonly ({ readonly kind: string; readonly effectiveAt: number } & { readonly protocolVersion?: number })[];
}

export function protocolStatus(spoken: SpokenProtocol, gov: ProtocolGovernance): ProtocolStatus {
  const required = gov.protocolVersion;
  const q = gov.queued.find((c) => c.kind === 'schedule' && c.protocolVersion !== undefined && c.protocolVersion !== required);
  const queued = q?.protocolVersion !== undefined ? { version: q.protocolVersion, effectiveAt: q.effectiveAt } : null;
  if (!speaks(spoken, required)) {
    return { speaks: spoken, required, queued, verdict: 'unsupported', message: `the chain requires protocol version ${required} and this node speaks ${spokenText(spoken)}: it sits every session out until it is upgraded` };
  }
  if (queued && !speaks(spoken, queued.version)) {
    return {
      speaks: spoken, required, queued, verdict: 'upgrade-soon',
      message: `governance raises the required protocol version to ${queued.version} at chain time ${queued.effectiveAt}; this node speaks ${spokenText(spoken)}: upgrade before then or it sits sessions out`,
    };
  }
  return { speaks: spoken, required, queued, verdict: 'ok', message: null };
}
