/**
 * @module
 * Errors of the client SDK, in viem's style: one {@link KmsClientError} base with a one-sentence
 * `shortMessage`, `Label: value` `metaMessages`, optional `details`, a `docsPath` and a `cause`
 * chain that `walk()` searches. Concrete errors keep their facts as fields (`appId`, `needed`,
 * `faults`…), so a program can act on them without parsing text.
 *
 * Operators that misbehave are listed like noble's `cheaters`: every error or warning about
 * operators carries `faults`, one {@link OperatorFault} per operator, each with a `kind` a
 * program can switch on and a sentence a person can read.
 *
 * No error carries a secret: app keys, owner keys, response keys' private halves and decrypted
 * bytes never enter a message, a meta line or a `details` string. Text that comes from an
 * operator (its error message) is untrusted: it is clipped and stripped of control characters
 * before it is shown.
 */
import type { Address, AttestationMethod, Hex } from '../protocol/ledger.ts';

export interface KmsClientErrorParameters {
  readonly cause?: unknown;
  /** A longer explanation; must hold no secret. */
  readonly details?: string;
  /** One `Label: value` fact per line. */
  readonly metaMessages?: readonly string[];
  /** Section of docs/client.md that explains the error. */
  readonly docsPath?: string;
}

function render(shortMessage: string, p: KmsClientErrorParameters): string {
  const lines = [shortMessage];
  if (p.metaMessages && p.metaMessages.length > 0) lines.push('', ...p.metaMessages);
  if (p.details) lines.push('', `Details: ${p.details}`);
  if (p.docsPath) lines.push('', `Docs: docs/client.md${p.docsPath}`);
  return lines.join('\n');
}

/** Base of every error the client SDK throws on purpose. */
export class KmsClientError extends Error {
  override name = 'KmsClientError';
  readonly shortMessage: string;
  readonly details: string | undefined;
  readonly metaMessages: readonly string[];
  readonly docsPath: string | undefined;

  constructor(shortMessage: string, params: KmsClientErrorParameters = {}) {
    super(render(shortMessage, params), params.cause === undefined ? undefined : { cause: params.cause });
    this.shortMessage = shortMessage;
    this.details = params.details;
    this.metaMessages = params.metaMessages ?? [];
    this.docsPath = params.docsPath;
  }

  /** The deepest cause, or the first error in the chain for which `fn` returns true (null if none). */
  walk(fn?: (err: unknown) => boolean): unknown {
    return walkCauses(this, fn);
  }
}

/** Walks an error's `cause` chain like viem's `BaseError.walk` (at most 32 levels). */
function walkCauses(err: unknown, fn?: (err: unknown) => boolean): unknown {
  let cur = err;
  for (let depth = 0; depth < 32; depth++) {
    if (fn?.(cur)) return cur;
    const next = typeof cur === 'object' && cur !== null && 'cause' in cur ? (cur as { cause?: unknown }).cause : undefined;
    if (next === undefined || next === null) return fn ? null : cur;
    cur = next;
  }
  return fn ? null : cur;
}

// ---------------------------------------------------------------------------------------------
// Operator faults

/**
 * What went wrong with one operator. Ordered roughly by how far the exchange got:
 * transport (`no-socket`, `unreachable`, `timeout`, `redirect`, `http-error`, `bad-response`), then the
 * sealed answer (`wrong-operator`, `bad-seal`, `wrong-request`, `unknown-operator`,
 * `bad-signature`), then its content (`wrong-version`, `other-version`, `not-holder`,
 * `invalid-partial`), for `GET /pubkey` `wrong-polynomial`, and for `/secrets` `wrong-release`.
 */
export type OperatorFaultKind =
  /** The operator has no usable http(s) socket on-chain. */
  | 'no-socket'
  /** Connection refused, DNS failure, TLS failure, reset. */
  | 'unreachable'
  /** No complete answer within the timeout. */
  | 'timeout'
  /** A 3xx answer: redirects away from the on-chain socket are refused, never followed. */
  | 'redirect'
  /** A non-2xx answer; `status` and the operator's `code` are kept. */
  | 'http-error'
  /** A 2xx answer that is not the JSON the API promises. */
  | 'bad-response'
  /** The answer names another operator than the one whose socket was asked. */
  | 'wrong-operator'
  /** The sealed answer does not open with this request's response key. */
  | 'bad-seal'
  /** The signed answer is for another request (app id, response key or nonce): a replay. */
  | 'wrong-request'
  /** The operator has no signing key on-chain any more (it was removed), so its answer cannot be checked. */
  | 'unknown-operator'
  /** The answer's signature does not verify under the operator's on-chain signing key. */
  | 'bad-signature'
  /** The operator used another key version than the one requested. */
  | 'wrong-version'
  /** A valid answer from another key version than the one most operators used; not combinable. */
  | 'other-version'
  /** The operator holds no share of the version it claims to have used. */
  | 'not-holder'
  /** The operator answered for another app-key epoch than the registry's current one (a rotation in between). */
  | 'other-epoch'
  /** The partial signature fails e(σ_j, G2) == e(Q(id), PK_j). */
  | 'invalid-partial'
  /** The served public polynomial does not hash to the on-chain publicPolyHash, or A_0 ≠ MPK. */
  | 'wrong-polynomial'
  /** `/secrets`: the env sealed in the answer is not the app's latest on-chain release (a warning only). */
  | 'wrong-release';

/** One operator at fault (noble's `cheaters`, with the reason). */
export interface OperatorFault {
  readonly operator: Address;
  /** The socket URL that was asked, when there was one. */
  readonly socket?: string;
  readonly kind: OperatorFaultKind;
  /** One sentence, starting after the operator's name: "timed out after 10000 ms". */
  readonly reason: string;
  /** HTTP status for `http-error` and `redirect`. */
  readonly status?: number;
  /** The operator's error code for `http-error` (e.g. `attestation-refused`). */
  readonly code?: string;
  /** The key version the operator answered with, when known. */
  readonly version?: number;
}

/** `0x1234…abcd`: short enough for a one-line message, long enough to tell operators apart. */
export function shortAddress(a: string): string {
  return a.length > 12 ? `${a.slice(0, 6)}…${a.slice(-4)}` : a;
}

/** "0x1234…abcd timed out after 10000 ms". */
export function describeFault(f: OperatorFault): string {
  return `${shortAddress(f.operator)} ${f.reason}`;
}

/** A meta line per fault, with the full address and the socket. */
export function faultMeta(f: OperatorFault): string {
  return `Operator ${f.operator}: ${f.reason}${f.socket ? ` (${f.socket})` : ''}`;
}

/** Untrusted text from an operator, fit for one line: control characters removed, at most 160 characters. */
export function untrusted(text: unknown): string {
  const s = typeof text === 'string' ? text : String(text);
  // eslint-disable-next-line no-control-regex -- stripping control characters is the point
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  return clean.length > 160 ? `${clean.slice(0, 159)}…` : clean;
}

// ---------------------------------------------------------------------------------------------
// Concrete errors

/** A parameter handed to an action is malformed (a bad app id, a key of the wrong size). */
export class InvalidParameterError extends KmsClientError {
  override name = 'InvalidParameterError';
  constructor(readonly parameter: string, expected: string) {
    super(`${parameter}: expected ${expected}.`);
  }
}

/** The action needs the chain, but the client was created without one. */
export class OfflineClientError extends KmsClientError {
  override name = 'OfflineClientError';
  constructor(readonly action: string, hint?: string) {
    super(`${action} needs the chain, but this client was created offline.`, {
      details: hint ?? 'Create the client with createKmsClient({ rpcUrl, registry }) or createKmsClient({ ledger }).',
    });
  }
}

/** No master public key is pinned yet: the first DKG has not completed. */
export class NoMasterKeyError extends KmsClientError {
  override name = 'NoMasterKeyError';
  constructor(readonly registry: Address) {
    super('No master public key is pinned yet: genesis has not completed on this registry.', {
      metaMessages: [`Registry: ${registry}`],
      details: 'Wait for the first DKG (`kms-admin status` shows the MPK once it completes), or check --registry.',
    });
  }
}

/** The key version asked for does not exist (or is not completed) on-chain. */
export class UnknownVersionError extends KmsClientError {
  override name = 'UnknownVersionError';
  constructor(readonly version: number, readonly registry: Address) {
    super(`Key version ${version} does not exist on this registry.`, { metaMessages: [`Registry: ${registry}`] });
  }
}

/** No app with this id exists on-chain. */
export class UnknownAppError extends KmsClientError {
  override name = 'UnknownAppError';
  constructor(readonly appId: Hex, readonly registry: Address) {
    super(`No app ${appId} exists on this registry.`, {
      metaMessages: [`Registry: ${registry}`],
      details:
        'Check the app id (printed by `kms-admin create-app`) and the registry. To encrypt to an id that is not '
        + 'registered (yet), pass the master public key explicitly (offline mode: `mpk`, or `kms-client encrypt --mpk`).',
      docsPath: '#errors',
    });
  }
}

/** The app has not enabled the attestation method the request would use. */
export class AttestationMethodError extends KmsClientError {
  override name = 'AttestationMethodError';
  constructor(readonly appId: Hex, readonly method: AttestationMethod, readonly enabled: readonly AttestationMethod[]) {
    super(`App ${appId} does not accept ${method} attestations.`, {
      metaMessages: [`Enabled methods: ${enabled.length > 0 ? enabled.join(', ') : 'none'}`],
      details: `The app owner can enable it with \`kms-admin set-methods ${appId} --methods ${(['ecdsa', 'jwt'] as const).filter((m) => m === method || enabled.includes(m)).join(',')}\`.`,
      docsPath: '#errors',
    });
  }
}

/** The owner key given is not the key of the app's owner: every operator would refuse it. */
export class NotAppOwnerError extends KmsClientError {
  override name = 'NotAppOwnerError';
  constructor(readonly appId: Hex, readonly owner: Address, readonly signer: Address) {
    super(`The owner key given is for ${signer}, but app ${appId} is owned by ${owner}.`, {
      details: 'Use the key of the app\'s current owner (its creator, or whoever accepted a transfer with `kms-admin accept-app`): ecdsa attestations are signed by the app owner.',
      docsPath: '#errors',
    });
  }
}

/** The app's owner froze key release (`kms-admin freeze-app`): every operator refuses it. */
export class AppFrozenError extends KmsClientError {
  override name = 'AppFrozenError';
  constructor(readonly appId: Hex, readonly registry: Address) {
    super(`App ${appId} is frozen: its owner stopped every key release.`, {
      metaMessages: [`Registry: ${registry}`],
      details: 'Only the app owner can lift it, with `kms-admin unfreeze-app <appId>`; operators refuse /app/sign and /secrets (403 app-frozen) until then.',
      docsPath: '#freezing-an-app',
    });
  }
}

/**
 * No source served a public polynomial that matches the chain: neither an operator nor the
 * ledger's copy hashed to the version's on-chain publicPolyHash with A_0 = MPK.
 */
export class PublicPolynomialError extends KmsClientError {
  override name = 'PublicPolynomialError';
  constructor(readonly version: number, readonly publicPolyHash: Hex, readonly faults: readonly OperatorFault[]) {
    super(
      `No operator served the public polynomial of version ${version}${faults.length > 0 ? `: ${faults.map(describeFault).join(', ')}` : ''}.`,
      { metaMessages: [`publicPolyHash: ${publicPolyHash}`, ...faults.map(faultMeta)], docsPath: '#errors' },
    );
  }
}

/**
 * Fewer than `t` valid partial signatures of one key version arrived. `faults` names every
 * operator that did not contribute one, and why (timeout, HTTP error, bad signature, invalid
 * partial, another version…).
 */
export class NotEnoughPartialsError extends KmsClientError {
  override name = 'NotEnoughPartialsError';
  constructor(
    readonly appId: Hex,
    /** The version whose partials were combined (undefined when no operator answered at all). */
    readonly version: number | undefined,
    /** The threshold t of that version. */
    readonly needed: number,
    /** Valid partials of that version. */
    readonly valid: number,
    readonly faults: readonly OperatorFault[],
  ) {
    const head = `${valid} of ${needed} needed partials`;
    super(faults.length > 0 ? `${head}: ${faults.map(describeFault).join(', ')}.` : `${head}.`, {
      metaMessages: [`App: ${appId}`, ...(version !== undefined ? [`Key version: ${version}`] : []), ...faults.map(faultMeta)],
      details: hintFor(faults),
      docsPath: '#errors',
    });
  }

  /** The operators at fault (noble's `cheaters`). */
  get operators(): Address[] {
    return this.faults.map((f) => f.operator);
  }
}

/** One actionable hint for the most telling fault, if any. */
function hintFor(faults: readonly OperatorFault[]): string | undefined {
  const refused = faults.find((f) => f.kind === 'http-error' && f.status === 403);
  if (refused) return 'Operators refused the attestation: check the app\'s attestation methods and owner key (the operators\' messages above say which check failed).';
  if (faults.some((f) => f.kind === 'timeout' || f.kind === 'unreachable')) {
    return 'Some operators could not be reached in time: retry, raise the timeout, or check their sockets with `kms-client operators`.';
  }
  if (faults.some((f) => f.kind === 'other-version')) return 'Operators disagree on the key version (a reshare is in progress?): retry in a few seconds.';
  return undefined;
}

/** The combined app key does not verify against the MPK (cannot happen with verified partials; a bug or a wrong polynomial). */
export class AppKeyVerificationError extends KmsClientError {
  override name = 'AppKeyVerificationError';
  constructor(readonly appId: Hex, readonly version: number) {
    super(`The app key combined from version ${version} partials does not verify against the master public key.`, {
      metaMessages: [`App: ${appId}`],
      details: 'Every partial verified against the version\'s public polynomial, which matched the chain; please report this.',
    });
  }
}

/** An envelope could not be decrypted or parsed; `code` is the IBE layer's (`decrypt-failed`, `wrong-app`, `bad-magic`…). */
export class DecryptionError extends KmsClientError {
  override name = 'DecryptionError';
  constructor(readonly code: string, message: string, params: { cause?: unknown; details?: string } = {}) {
    super(message, params);
  }
}

/** `getSecrets`: the app has published no release, so there is no env to release. */
export class NoReleaseError extends KmsClientError {
  override name = 'NoReleaseError';
  constructor(readonly appId: Hex) {
    super(`App ${appId} has no release: there is no env to fetch.`, {
      details: 'Publish one with `kms-admin publish-release`.',
    });
  }
}
