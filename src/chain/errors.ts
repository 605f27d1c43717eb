/**
 * @module
 * Errors of the chain layer, in viem's style: one base class with a short message, optional
 * details, `Label: value` meta lines (contract, session, block…) and a cause chain that
 * `walk()` searches. RPC URLs are redacted before they appear in any message.
 *
 * Refusals by the registry contract are not `ChainError`s: they surface as
 * `ContractRefusalError`, a `LedgerError` (the protocol's error type, whose `code` is the
 * contract's custom error name) that also carries the meta lines.
 */
import { LedgerError, type LedgerErrorCode } from '../protocol/ledger.ts';

export interface ChainErrorParameters {
  readonly cause?: unknown;
  /** A longer explanation (for instance the underlying RPC error), already redacted. */
  readonly details?: string;
  /** One `Label: value` fact per line. */
  readonly metaMessages?: readonly string[];
}

function render(shortMessage: string, p: ChainErrorParameters): string {
  const lines = [shortMessage];
  if (p.metaMessages && p.metaMessages.length > 0) lines.push('', ...p.metaMessages);
  if (p.details) lines.push('', `Details: ${p.details}`);
  return lines.join('\n');
}

/** Base of every chain-layer error that is not a contract refusal. */
export class ChainError extends Error {
  override name = 'ChainError';
  readonly shortMessage: string;
  readonly details: string | undefined;
  readonly metaMessages: readonly string[];

  constructor(shortMessage: string, params: ChainErrorParameters = {}) {
    super(render(shortMessage, params), params.cause === undefined ? undefined : { cause: params.cause });
    this.shortMessage = shortMessage;
    this.details = params.details;
    this.metaMessages = params.metaMessages ?? [];
  }

  /** The deepest cause, or the first error in the chain for which `fn` returns true (null if none). */
  walk(fn?: (err: unknown) => boolean): unknown {
    return walkCauses(this, fn);
  }
}

/** Walks an error's `cause` chain like viem's `BaseError.walk`. */
export function walkCauses(err: unknown, fn?: (err: unknown) => boolean): unknown {
  let cur: unknown = err;
  for (let depth = 0; depth < 32; depth++) {
    if (fn?.(cur)) return cur;
    const next = typeof cur === 'object' && cur !== null && 'cause' in cur ? (cur as { cause?: unknown }).cause : undefined;
    if (next === undefined || next === null) return fn ? null : cur;
    cur = next;
  }
  return fn ? null : cur;
}

/** `anvil` could not be found, started, or did not answer. */
export class AnvilError extends ChainError {
  override name = 'AnvilError';
}

/** The contract could not be deployed. */
export class DeployError extends ChainError {
  override name = 'DeployError';
}

/** An RPC failure or an unexpected answer that is not a refusal by the contract. */
export class ChainRequestError extends ChainError {
  override name = 'ChainRequestError';
}

/**
 * The registry refused a transaction or a read (a custom-error revert), or a read could not
 * be proven complete (`IncompleteView`). `code` is the custom error's name.
 */
export class ContractRefusalError extends LedgerError {
  readonly shortMessage: string;
  readonly metaMessages: readonly string[];
  /** Decoded arguments of the custom error, when there were any. */
  readonly args: readonly unknown[];

  constructor(
    code: LedgerErrorCode,
    shortMessage: string,
    params: { metaMessages?: readonly string[]; args?: readonly unknown[]; cause?: unknown } = {},
  ) {
    const meta = params.metaMessages ?? [];
    super(code, meta.length > 0 ? `${shortMessage}\n\n${meta.join('\n')}` : shortMessage, params.cause === undefined ? undefined : { cause: params.cause });
    this.shortMessage = shortMessage;
    this.metaMessages = meta;
    this.args = params.args ?? [];
  }
}

const SECRETISH_SEGMENT = /^[A-Za-z0-9_-]{16,}$/;

/**
 * An RPC URL fit for error messages and logs: basic-auth credentials removed, query values
 * replaced by `***`, and path segments that look like API keys (16+ key characters, e.g.
 * Infura's `/v3/<key>`, Alchemy's `/v2/<key>`) replaced by `***`. Unparseable input becomes
 * `<invalid url>` rather than being echoed.
 */
export function redactRpcUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return '<invalid url>';
  }
  u.username = '';
  u.password = '';
  for (const key of [...u.searchParams.keys()]) u.searchParams.set(key, '***');
  u.pathname = u.pathname
    .split('/')
    .map((seg) => (SECRETISH_SEGMENT.test(seg) ? '***' : seg))
    .join('/');
  return u.toString().replace(/%2A%2A%2A/g, '***');
}

/** Replaces every occurrence of `rpcUrl` (and its credential-only-stripped form) in `text` with the redacted URL. */
export function redactIn(text: string, rpcUrl: string | undefined): string {
  if (!rpcUrl) return text;
  const safe = redactRpcUrl(rpcUrl);
  let out = text.split(rpcUrl).join(safe);
  try {
    const u = new URL(rpcUrl);
    u.username = '';
    u.password = '';
    const viemForm = u.toString();
    if (viemForm !== safe) out = out.split(viemForm).join(safe);
    const noSlash = viemForm.replace(/\/$/, '');
    if (noSlash !== viemForm && noSlash !== safe) out = out.split(noSlash).join(safe.replace(/\/$/, ''));
  } catch {
    // not a URL: nothing more to strip
  }
  return out;
}
