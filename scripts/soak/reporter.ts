/**
 * @module
 * How the soak's parts report: `say` a progress line (stderr and the run's events.log),
 * `violation` an invariant that did not hold (it ends up in the summary).
 */
export interface Reporter {
  readonly say: (line: string) => void;
  readonly violation: (what: string) => void;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
