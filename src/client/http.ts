/**
 * @module
 * The client's only way to talk to an operator: one JSON request with a deadline, whose
 * outcome is either the parsed body or an {@link OperatorFault}. It never throws for anything
 * the operator does (refuses, hangs, sends garbage, sends 100 MB): an operator's failure is a
 * fact to report, not an exception, so that the caller can go on with the other operators.
 *
 * The answer is read with a size cap (a public polynomial of t = 100 is ~20 KB; a sealed
 * answer well under 8 KB), and error bodies `{error: {code, message}}` (src/node/http/errors.ts)
 * become `http-error` faults carrying the operator's code and its (clipped) message.
 *
 * Redirects are refused (`redirect: 'manual'`, then a `redirect` fault): a socket URL is what
 * the operator registered on-chain, and following a 3xx would send the request (an attestation,
 * a response key) wherever whoever controls that URL points it — another host, a plain-http
 * URL, an internal address of the client's network. An operator that moved must update its
 * socket on-chain.
 */
import type { Address } from '../protocol/ledger.ts';
import { untrusted, type OperatorFault } from './errors.ts';

/** The `fetch` the client uses (global `fetch` by default; tests may pass their own). */
export type FetchFn = (
  input: string,
  init: { method: string; headers: Record<string, string>; body?: string; signal: AbortSignal; redirect: 'manual' },
) => Promise<Response>;

/** Largest answer body read from an operator. */
export const MAX_ANSWER_BYTES = 256 * 1024;

export interface OperatorRequest {
  readonly operator: Address;
  /** The operator's socket (base URL) as registered on-chain. */
  readonly socket: string;
  /** Path under the socket, e.g. `/pubkey?version=3`. */
  readonly path: string;
  readonly method: 'GET' | 'POST';
  readonly body?: unknown;
  readonly timeoutMs: number;
  readonly fetch: FetchFn;
  /** Aborts the request early (the caller gave up). */
  readonly signal?: AbortSignal;
}

export type OperatorResponse = { readonly ok: true; readonly body: unknown } | { readonly ok: false; readonly fault: OperatorFault };

/** `socket` + `path`, keeping any path prefix of the socket (`https://host/kms` + `/pubkey`). */
export function operatorUrl(socket: string, path: string): URL | null {
  let base: URL;
  try {
    base = new URL(socket);
  } catch {
    return null;
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') return null;
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  return new URL(path.replace(/^\//, ''), base);
}

/** The socket as shown in messages: origin and path, never credentials or a query. */
export function showSocket(socket: string): string {
  try {
    const u = new URL(socket);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return untrusted(socket).slice(0, 60);
  }
}

async function readCapped(res: Response, cap: number): Promise<string | null> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > cap) {
      await reader.cancel().catch(() => undefined);
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The low-level reason of a fetch failure ("ECONNREFUSED", "ENOTFOUND"), when Node reports one. */
function networkReason(err: unknown): string {
  let cur: unknown = err;
  for (let i = 0; i < 5 && typeof cur === 'object' && cur !== null; i++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && code.length > 0) return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return err instanceof Error ? untrusted(err.message) : 'network error';
}

/** " to https://host" (origin only, never a path, query or credentials), or "" when unknown. */
function redirectTarget(res: Response): string {
  const location = res.headers.get('location');
  if (location === null) return '';
  try {
    return ` to ${new URL(location, res.url || undefined).origin}`;
  } catch {
    return '';
  }
}

/**
 * Sends one request to one operator and resolves to its parsed JSON body or a fault.
 * Never rejects.
 */
export async function requestOperator(req: OperatorRequest): Promise<OperatorResponse> {
  const shown = showSocket(req.socket);
  const fault = (f: Omit<OperatorFault, 'operator' | 'socket'>): OperatorResponse => ({ ok: false, fault: { operator: req.operator, socket: shown, ...f } });
  const url = operatorUrl(req.socket, req.path);
  if (url === null) return fault({ kind: 'no-socket', reason: 'has no http(s) socket registered on-chain' });

  const timeout = AbortSignal.timeout(req.timeoutMs);
  const signal = req.signal ? AbortSignal.any([timeout, req.signal]) : timeout;
  try {
    const res = await req.fetch(url.toString(), {
      method: req.method,
      headers: { accept: 'application/json', ...(req.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(req.body !== undefined ? { body: JSON.stringify(req.body) } : {}),
      signal,
      redirect: 'manual',
    });
    // 'manual': Node hands back the 3xx itself (a browser an 'opaqueredirect' with status 0).
    if (res.type === 'opaqueredirect' || (res.status >= 300 && res.status < 400)) {
      await res.body?.cancel().catch(() => undefined);
      return fault({ kind: 'redirect', status: res.status, reason: `answered HTTP ${res.status} with a redirect${redirectTarget(res)}, which is refused: an operator must answer at the socket it registered on-chain` });
    }
    const text = await readCapped(res, MAX_ANSWER_BYTES);
    if (text === null) return fault({ kind: 'bad-response', reason: `sent an answer larger than ${MAX_ANSWER_BYTES} bytes` });
    let body: unknown;
    try {
      body = text.length === 0 ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      const e = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
      const code = typeof e?.code === 'string' ? untrusted(e.code).slice(0, 40) : undefined;
      const message = typeof e?.message === 'string' ? untrusted(e.message) : undefined;
      return fault({
        kind: 'http-error',
        status: res.status,
        ...(code !== undefined ? { code } : {}),
        reason: `answered HTTP ${res.status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}`,
      });
    }
    if (body === undefined) return fault({ kind: 'bad-response', reason: 'sent an answer that is not JSON' });
    return { ok: true, body };
  } catch (err) {
    if (timeout.aborted) return fault({ kind: 'timeout', reason: `timed out after ${req.timeoutMs} ms` });
    if (req.signal?.aborted) return fault({ kind: 'timeout', reason: 'was not awaited (the request was cancelled)' });
    return fault({ kind: 'unreachable', reason: `could not be reached (${networkReason(err)})` });
  }
}
