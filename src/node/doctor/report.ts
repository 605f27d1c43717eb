/**
 * @module
 * The doctor's verdict (issue 15, item 1): a list of checks, each `pass`, `warn` or `fail`
 * with a one-line message and, unless it passed, a one-line fix. `kms-server doctor` prints it
 * (exit 0 when nothing fails, 1 otherwise); the operations listener's status page shows it.
 * This shape is an interface other modules depend on: add fields, never rename or remove.
 *
 * Nothing in a report is secret: messages name versions, addresses, public keys (shortened),
 * amounts and URLs with their credentials removed, never a share, a key or a token.
 */

export type DoctorStatus = 'pass' | 'warn' | 'fail';

/** Every check the doctor runs, in the order it reports them. */
export const DOCTOR_CHECK_IDS = [
  /** RPC reachable (every URL, one chain) and the chain id has a profile (or --finality says how finality is read). */
  'rpc',
  /** A contract at --registry that answers the registry's reads (and whether it is this build's code). */
  'registry',
  /** This build speaks the protocol version sessions require now, and any version governance queued. */
  'protocol',
  /** The operator is allowed, registered and active. */
  'operator',
  /** The signing key on-chain is the one held (--sig-key, --sig-type). */
  'signing-key',
  /** The session key on-chain is one whose secret the key store holds. */
  'session-key',
  /** The key store opens with the storage key, belongs to (chain, registry, operator) and its MPK is the pinned one. */
  'store',
  /** The store holds the chain's active version, and s·G2 is this operator's public share in it. */
  'share',
  /** The operator account pays for the next rounds (a day of them, at least 10) at current fees. */
  'balance',
  /** The node's public API answers (/healthz on --host/--port). */
  'api',
  /** The socket URL registered on-chain answers /pubkey with the pinned MPK. */
  'socket',
  /** Chain time (the latest block) against this machine's clock. */
  'clock',
  /** Free space in the data directory. */
  'disk',
  /** This operator's submissions in the last sessions: dealt / acked / confirmed, or missed. */
  'submissions',
] as const;

export type DoctorCheckId = (typeof DOCTOR_CHECK_IDS)[number];

export interface DoctorCheck {
  readonly id: DoctorCheckId;
  readonly status: DoctorStatus;
  /** One line: what was found. */
  readonly message: string;
  /** One line: what to do about it; null when the check passed. */
  readonly fix: string | null;
}

export interface DoctorReport {
  /** No check failed (warnings allowed): `kms-server doctor` exits 0 exactly then. */
  readonly ok: boolean;
  /** The operator's address (from --operator-key). */
  readonly operator: string;
  /** Unix seconds (this machine's clock) the checks finished. */
  readonly checkedAt: number;
  /** One entry per id of `DOCTOR_CHECK_IDS`, in that order. */
  readonly checks: readonly DoctorCheck[];
}

export const pass = (id: DoctorCheckId, message: string): DoctorCheck => ({ id, status: 'pass', message, fix: null });
export const warn = (id: DoctorCheckId, message: string, fix: string): DoctorCheck => ({ id, status: 'warn', message, fix });
export const fail = (id: DoctorCheckId, message: string, fix: string): DoctorCheck => ({ id, status: 'fail', message, fix });

/** The report of a list of checks (sorted into `DOCTOR_CHECK_IDS` order). */
export function doctorReport(operator: string, checks: readonly DoctorCheck[], checkedAt: number): DoctorReport {
  const order = (c: DoctorCheck) => DOCTOR_CHECK_IDS.indexOf(c.id);
  const sorted = [...checks].sort((a, b) => order(a) - order(b));
  return { ok: sorted.every((c) => c.status !== 'fail'), operator, checkedAt, checks: sorted };
}
