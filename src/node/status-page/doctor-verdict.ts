/**
 * @module
 * The doctor's verdict on the status page: `startNode` hands the page a source that runs
 * `kms-server doctor`'s checks (`src/node/doctor/`) on this node; until its listeners are bound
 * there is none and the page says that no verdict is available (and still shows the node's own
 * health from /healthz and /status).
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
 * The verdict with exactly the fields the page shows. The doctor's report carries more (its
 * `operator`, and whatever it grows later): the response schema is a union, and a union branch
 * with an unknown field matches no branch, which would make every answer a 500.
 */
function exactly(v: DoctorVerdict): DoctorVerdict {
  return {
    ok: v.ok, checkedAt: v.checkedAt,
    checks: v.checks.map((c) => ({ id: c.id, status: c.status, message: c.message, fix: c.fix ?? null })),
  };
}

/**
 * Asks the source `getSource` returns (null: none yet) at most once per `everyMs` (never twice at once) and answers from the last
 * verdict in between. A failing doctor is reported as unavailable with its message.
 */
export function cachedDoctorVerdict(getSource: () => DoctorVerdictSource | null, everyMs = DEFAULT_EVERY_MS): () => Promise<DoctorAnswer> {
  let last: { answer: DoctorAnswer; at: number } | null = null;
  let running: Promise<DoctorAnswer> | null = null;
  return () => {
    const source = getSource();
    if (source === null) {
      return Promise.resolve({ available: false, reason: 'no doctor verdict is wired into this node; its own health is under "This node" (run `kms-server doctor` by hand for the full check)' });
    }
    if (last !== null && Date.now() - last.at < everyMs) return Promise.resolve(last.answer);
    if (running) return running;
    running = source().then(
      (verdict): DoctorAnswer => (verdict === null ? { available: false, reason: 'the doctor gave no verdict' } : { available: true, verdict: exactly(verdict) }),
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
