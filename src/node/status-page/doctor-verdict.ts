/**
 * @module
 * The doctor's verdict on the status page: the seam where `kms-server doctor` (issue 15, item
 * 1; `src/node/doctor/`) plugs in. The page shows whatever a `DoctorVerdictSource` returns;
 * `NodeConfig.doctorVerdict` supplies one, and without one the page says that no verdict is
 * available (and still shows the node's own health from /healthz and /status).
 *
 * `DoctorVerdict` is structurally the doctor's `DoctorReport` (`src/node/doctor/report.ts`):
 * `{ ok, checkedAt, checks: [{ id, status, message, fix }] }`, so a source is simply
 * `() => runDoctor(...)`. The doctor can be slow (it calls the chain, the node's own API and its
 * socket URL), so the page's endpoint asks it at most once per `everyMs` and serves the cached
 * verdict in between (`cachedDoctorVerdict`).
 */

export type DoctorCheckStatus = 'pass' | 'warn' | 'fail';

export interface DoctorVerdict {
  /** No check failed. */
  readonly ok: boolean;
  /** Unix seconds the checks finished. */
  readonly checkedAt: number;
  readonly checks: readonly {
    readonly id: string;
    readonly status: DoctorCheckStatus;
    readonly message: string;
    /** One line saying what to do; null when the check passed. */
    readonly fix: string | null;
  }[];
}

/** Runs (or returns) the doctor's verdict on this node; null: no doctor is wired in. */
export type DoctorVerdictSource = () => Promise<DoctorVerdict | null>;

/** What `GET /status/doctor` answers. */
export type DoctorAnswer =
  | { readonly available: true; readonly verdict: DoctorVerdict }
  | { readonly available: false; readonly reason: string };

const DEFAULT_EVERY_MS = 60_000;

/**
 * Asks `source` at most once per `everyMs` (never twice at once) and answers from the last
 * verdict in between. A failing doctor is reported as unavailable with its message.
 */
export function cachedDoctorVerdict(source: DoctorVerdictSource | null, everyMs = DEFAULT_EVERY_MS): () => Promise<DoctorAnswer> {
  if (source === null) {
    return async () => ({ available: false, reason: 'this node runs without the doctor: see `kms-server doctor --help`; its own health is shown above' });
  }
  let last: { answer: DoctorAnswer; at: number } | null = null;
  let running: Promise<DoctorAnswer> | null = null;
  return () => {
    if (last !== null && Date.now() - last.at < everyMs) return Promise.resolve(last.answer);
    if (running) return running;
    running = source().then(
      (verdict): DoctorAnswer => (verdict === null ? { available: false, reason: 'the doctor gave no verdict' } : { available: true, verdict }),
      (e: unknown): DoctorAnswer => ({ available: false, reason: `the doctor failed: ${(e as Error).message.split('\n', 1)[0] ?? ''}` }),
    ).then((answer) => {
      last = { answer, at: Date.now() };
      return answer;
    }).finally(() => {
      running = null;
    });
    return running;
  };
}
