/**
 * @module
 * The doctor's HTTP checks: the node's public API answers `/healthz`, and the socket URL
 * registered on-chain (what apps use to reach this node) answers `/pubkey` with the pinned MPK.
 */
import type { ChainFacts } from './chain-checks.ts';
import { fail, pass, warn, type DoctorCheck } from './report.ts';
import type { DoctorConfig } from './run-doctor.ts';

interface Http {
  readonly fetch: typeof fetch;
  readonly timeoutMs: number;
}

const short = (h: string): string => `${h.slice(0, 10)}…${h.slice(-6)}`;

async function get(http: Http, url: string): Promise<{ status: number; body: unknown }> {
  const res = await http.fetch(url, { signal: AbortSignal.timeout(http.timeoutMs), redirect: 'error' });
  const text = await res.text();
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = null;
  }
  return { status: res.status, body };
}

const reasonOf = (body: unknown): string => {
  const b = body as { reason?: unknown; error?: { message?: unknown } } | null;
  const r = typeof b?.reason === 'string' ? b.reason : typeof b?.error?.message === 'string' ? b.error.message : '';
  return r.slice(0, 200);
};

export async function httpChecks(config: DoctorConfig, facts: ChainFacts | null, http: Http): Promise<DoctorCheck[]> {
  return [await apiCheck(config, http), await socketCheck(facts, http)];
}

async function apiCheck(config: DoctorConfig, http: Http): Promise<DoctorCheck> {
  if (config.apiUrl === null) return warn('api', 'not checked: the public API\'s port is not fixed (--port 0)', 'give --port');
  const url = `${config.apiUrl}/healthz`;
  try {
    const r = await get(http, url);
    if (r.status === 200) return pass('api', `the node's public API answers at ${config.apiUrl} (/healthz ok)`);
    return warn('api', `the node's public API answers at ${config.apiUrl} but reports itself unhealthy (HTTP ${r.status}${reasonOf(r.body) ? `: ${reasonOf(r.body)}` : ''})`, 'read the node\'s log and its /status on the operations listener');
  } catch (e) {
    return fail('api', `the node's public API does not answer at ${url} (${(e as Error).message})`, 'start the node (kms-server with the same flags), or check --host/--port');
  }
}

async function socketCheck(facts: ChainFacts | null, http: Http): Promise<DoctorCheck> {
  if (facts === null) return warn('socket', 'not checked: the chain could not be read', 'fix the rpc check first');
  const rec = facts.operator;
  if (rec === null) return warn('socket', 'not checked: the operator is not registered', 'register the operator first');
  const url = `${rec.socket.replace(/\/+$/, '')}/pubkey`;
  const fix = 'make the registered URL reach this node (reverse proxy, firewall, DNS), or register the right one (kms-admin update-socket)';
  let r: { status: number; body: unknown };
  try {
    r = await get(http, url);
  } catch (e) {
    return fail('socket', `the socket registered on-chain does not answer: GET ${url} failed (${(e as Error).message}); apps cannot reach this node`, fix);
  }
  const mpk = (r.body as { mpk?: unknown } | null)?.mpk;
  if (facts.mpk === null) {
    return r.status === 503 || r.status === 200
      ? pass('socket', `the socket registered on-chain (${rec.socket}) answers /pubkey (no MPK yet: genesis has not completed)`)
      : fail('socket', `the socket registered on-chain answers /pubkey with HTTP ${r.status}`, fix);
  }
  if (r.status !== 200) return fail('socket', `the socket registered on-chain (${rec.socket}) answers /pubkey with HTTP ${r.status}${reasonOf(r.body) ? ` (${reasonOf(r.body)})` : ''}`, 'read the node\'s log (a node without the active version answers 503 until the next reshare)');
  if (typeof mpk !== 'string' || mpk.toLowerCase() !== facts.mpk.toLowerCase()) {
    return fail('socket', `the socket registered on-chain (${rec.socket}) answers /pubkey with another MPK (${typeof mpk === 'string' ? short(mpk) : 'none'}; the registry pins ${short(facts.mpk)}): it reaches another deployment's node`, fix);
  }
  return pass('socket', `the socket registered on-chain (${rec.socket}) answers /pubkey with the pinned MPK ${short(facts.mpk)}`);
}
