/**
 * @module
 * The soak's app: it requests its key through the client SDK the whole time, and checks each
 * completed version by asking for the key with that version pinned. Every key returned must
 * be byte for byte the key computed at the start, d = x·Q(appId), which was verified against
 * the pinned MPK with a pairing (e(d, G2) == e(Q(appId), MPK)).
 *
 * Availability is counted over the requests made while at least t holders of the active
 * version were running and not paused (the caller says, per request, through `enoughUp`).
 */
import type { KmsClient } from '../../src/client/index.ts';
import { errorLine } from '../devnet/demo.ts';
import type { Hex } from '../../src/protocol/ledger.ts';
import { sleep, type Reporter } from './reporter.ts';

export interface ReleaseStats {
  ok: number;
  failed: number;
  /** Requests made while at least t holders of the active version ran, and how many succeeded. */
  availability: { ok: number; all: number };
  /** Failure reasons (first line of the SDK's error) and how often each was seen. */
  errors: Record<string, number>;
}

export interface VersionStats {
  /** Completed versions whose key was requested with the version pinned and came back right. */
  checked: number[];
  /** Completed versions no request could get t partials of before the check gave up. */
  unchecked: number[];
}

export interface AppClientParameters extends Reporter {
  readonly kms: KmsClient;
  readonly appId: Hex;
  readonly ownerKey: Hex;
  /** The app key computed at the start (verified against the MPK). */
  readonly expected: Hex;
}

/** Distinct failure reasons kept (a run that fails the same way 10 000 times keeps one entry). */
const MAX_REASONS = 20;

export class AppClient {
  readonly releases: ReleaseStats = { ok: 0, failed: 0, availability: { ok: 0, all: 0 }, errors: {} };
  readonly versions: VersionStats = { checked: [], unchecked: [] };
  readonly #p: AppClientParameters;
  #stopped = false;
  readonly #queue: { id: number; giveUpAt: number }[] = [];

  constructor(p: AppClientParameters) {
    this.#p = p;
  }

  stop(): void {
    this.#stopped = true;
  }

  /** Requests the app key (latest version) every `pauseMs` until stopped. */
  async requestLoop(enoughUp: () => boolean, pauseMs: number): Promise<void> {
    while (!this.#stopped) {
      const counted = enoughUp();
      const ok = await this.#request(undefined);
      if (ok) this.releases.ok++;
      else this.releases.failed++;
      if (counted) {
        this.releases.availability.all++;
        if (ok) this.releases.availability.ok++;
      }
      await sleep(pauseMs);
    }
  }

  /** Queues a completed version for a pinned-version check, retried until `giveUpAt` (ms). */
  checkVersion(id: number, giveUpAt: number): void {
    this.#queue.push({ id, giveUpAt });
  }

  /** Works through the version checks until stopped; what is left then counts as unchecked. */
  async versionLoop(): Promise<void> {
    while (!this.#stopped || this.#queue.length > 0) {
      const next = this.#queue[0];
      if (next === undefined) {
        await sleep(500);
        continue;
      }
      if (this.#stopped || Date.now() > next.giveUpAt) {
        this.#queue.shift();
        this.versions.unchecked.push(next.id);
        this.#p.say(`version ${next.id}: no t partials of it before the check gave up (not checked)`);
        continue;
      }
      if (await this.#request(next.id)) {
        this.#queue.shift();
        this.versions.checked.push(next.id);
      } else {
        await sleep(1000);
      }
    }
  }

  /** One request; true when a key came back (a wrong key is a violation, and false). */
  async #request(version: number | undefined): Promise<boolean> {
    const { kms, appId, ownerKey, expected } = this.#p;
    try {
      const r = await kms.requestAppKey({ appId, ownerKey, ...(version !== undefined ? { version } : {}) });
      if (r.appKey.toLowerCase() !== expected.toLowerCase()) {
        this.#p.violation(`the app key from version ${r.version}${version !== undefined ? ' (pinned)' : ''} differs from the key computed at the start`);
        return false;
      }
      return true;
    } catch (e) {
      if (version === undefined) {
        const reason = errorLine(e).replace(/0x[0-9a-f]{6,}/gi, '0x…');
        if (reason in this.releases.errors || Object.keys(this.releases.errors).length < MAX_REASONS) {
          this.releases.errors[reason] = (this.releases.errors[reason] ?? 0) + 1;
        }
      }
      return false;
    }
  }
}
