/**
 * @module
 * `getPublicKey`: the master public key and a key version's public polynomial, checked
 * against the chain.
 *
 * The MPK is the one pinned on-chain at genesis (SPEC 1.2: it never changes). The version's
 * `publicPolyHash`, threshold and holders come from the chain; the polynomial itself
 * `A_0 … A_{t-1}` is fetched from the holders' `GET /pubkey?version=N`, one after the other
 * until one serves a polynomial with
 *
 *     keccak256(A_0 ‖ … ‖ A_{t-1}) == publicPolyHash   and   A_0 == MPK
 *
 * An operator serving anything else is named (`wrong-polynomial`) and skipped. When no
 * operator serves it, the ledger's own copy (published in the confirming transaction) is
 * used, under the same check; only if that fails too does the action throw.
 */
import type { ChainError } from '../../chain/errors.ts';
import type { Address, Hex, LedgerError, LedgerReader, VersionRecord } from '../../protocol/ledger.ts';
import type { KmsClient, VerifiedPoly } from '../client.ts';
import {
  NoMasterKeyError,
  PublicPolynomialError,
  UnknownVersionError,
  type InvalidParameterError,
  type OfflineClientError,
  type OperatorFault,
} from '../errors.ts';
import { requestOperator, showSocket } from '../http.ts';
import { checkPublicPoly, lc, splitPoly } from '../utils.ts';

export interface GetPublicKeyParameters {
  /** Key version to describe (default: the active one). */
  readonly version?: number;
}

export interface GetPublicKeyReturnType {
  /** The master public key x·G2, 96-byte compressed G2 (pinned on-chain at genesis). */
  readonly mpk: Hex;
  /** Key version id (the id of the session that produced it). */
  readonly version: number;
  /** Partials needed to combine an app key with this version. */
  readonly threshold: number;
  /** A_0 … A_{t-1}, compressed G2 each; A_0 = MPK. */
  readonly publicPoly: Hex[];
  /** keccak256 of the concatenated polynomial, as recorded on-chain. */
  readonly publicPolyHash: Hex;
  /** The version's holders (the operators that can sign with it), with their sockets. */
  readonly operators: { readonly address: Address; readonly socket: string }[];
  /** Who served the polynomial that matched: an operator's address, or `chain` (the ledger's copy). */
  readonly source: Address | 'chain';
  /** Operators that failed to serve it or served a wrong one (the action still succeeded). */
  readonly faults: OperatorFault[];
}

export type GetPublicKeyErrorType =
  | OfflineClientError
  | InvalidParameterError
  | NoMasterKeyError
  | UnknownVersionError
  | PublicPolynomialError
  | ChainError
  | LedgerError;

/** What the chain says about one version, with its verified polynomial. */
export interface VersionKey {
  readonly mpk: Hex;
  readonly record: VersionRecord;
  readonly poly: VerifiedPoly;
  /** Socket per operator address (lowercase), from the registry. */
  readonly sockets: ReadonlyMap<string, string>;
}

/**
 * The MPK and version `version` (default: active) with a polynomial checked against the chain.
 * Shared by `getPublicKey` and the key-release actions (which need the public shares PK_j).
 */
export async function loadVersionKey(client: KmsClient, ledger: LedgerReader, version?: number, signal?: AbortSignal): Promise<VersionKey> {
  if (version !== undefined && (!Number.isSafeInteger(version) || version < 1)) {
    throw new RangeError(`version: expected a positive integer, got ${String(version)}`);
  }
  const [mpk, record, operators] = await Promise.all([
    ledger.getMpk(),
    version === undefined ? ledger.activeVersion() : ledger.getVersion(version),
    ledger.getOperators(),
  ]);
  if (mpk === null) throw new NoMasterKeyError(ledger.registry);
  if (record === null) {
    // An MPK without an active version cannot happen (both are set by the first DKG).
    throw version === undefined ? new NoMasterKeyError(ledger.registry) : new UnknownVersionError(version, ledger.registry);
  }
  const sockets = new Map(operators.map((o) => [o.address.toLowerCase(), o.socket]));
  const key = `${record.id}:${lc(record.publicPolyHash)}`;
  let poly = client.polyCache.get(key);
  if (!poly && signal) {
    // A cancellable fetch is not shared while in flight (cancelling it must not fail another
    // caller); its result is cached once it is known.
    const own = await fetchPoly(client, lc(mpk), record, sockets, signal);
    client.polyCache.set(key, Promise.resolve(own));
    return { mpk: lc(mpk), record, poly: own, sockets };
  }
  if (!poly) {
    poly = fetchPoly(client, lc(mpk), record, sockets);
    client.polyCache.set(key, poly);
    poly.catch(() => client.polyCache.delete(key));
  }
  return { mpk: lc(mpk), record, poly: await poly, sockets };
}

async function fetchPoly(
  client: KmsClient,
  mpk: Hex,
  record: VersionRecord,
  sockets: ReadonlyMap<string, string>,
  signal?: AbortSignal,
): Promise<VerifiedPoly> {
  const expected = { publicPolyHash: record.publicPolyHash, threshold: record.threshold, mpk };
  const faults: OperatorFault[] = [];
  for (const holder of record.holders) {
    signal?.throwIfAborted();
    const operator = holder.toLowerCase() as Address;
    const socket = sockets.get(operator);
    if (socket === undefined) continue; // removed from the registry since: nobody to ask
    const res = await requestOperator({
      operator, socket, path: `/pubkey?version=${record.id}`, method: 'GET', timeoutMs: client.timeoutMs, fetch: client.fetch,
      ...(signal ? { signal } : {}),
    });
    signal?.throwIfAborted();
    if (!res.ok) {
      faults.push(res.fault);
      continue;
    }
    const body = res.body as { mpk?: unknown; publicPoly?: unknown; version?: unknown } | null;
    const wrong = (why: string) => faults.push({ operator, socket: showSocket(socket), kind: 'wrong-polynomial', reason: `served a public polynomial that ${why}`, version: record.id });
    if (typeof body !== 'object' || body === null) {
      faults.push({ operator, socket: showSocket(socket), kind: 'bad-response', reason: 'answered /pubkey with something that is not an object' });
      continue;
    }
    if (body.version !== record.id) {
      wrong(`is labelled version ${String(body.version)}, not ${record.id}`);
      continue;
    }
    if (typeof body.mpk !== 'string' || lc(body.mpk) !== mpk) {
      wrong('comes with another master public key than the pinned one');
      continue;
    }
    const checked = checkPublicPoly(body.publicPoly, expected);
    if (!checked.ok) {
      wrong(checked.why);
      continue;
    }
    return { hex: checked.hex, points: checked.points, source: operator, faults };
  }
  // Every operator failed: the chain's copy, under the same check.
  const own = splitPoly(record.publicPoly);
  const checked = own ? checkPublicPoly(own, expected) : null;
  if (checked?.ok) return { hex: checked.hex, points: checked.points, source: 'chain', faults };
  throw new PublicPolynomialError(record.id, record.publicPolyHash, faults);
}

/**
 * Reads the pinned master public key and a key version (default: the active one) from the
 * chain, and that version's public polynomial from its holders, accepted only if it hashes to
 * the on-chain `publicPolyHash` and its constant term is the MPK.
 *
 * Reads: `getMpk`, `activeVersion`/`getVersion`, `getOperators`; operators: `GET /pubkey?version=N`
 * (one at a time, until one serves the right polynomial).
 *
 * @param client a client with a chain ({@link KmsClient}).
 * @param params {@link GetPublicKeyParameters}
 * @returns {@link GetPublicKeyReturnType} — `faults` names operators that served a wrong polynomial.
 * @throws {@link GetPublicKeyErrorType}
 *
 * @example
 * const { mpk, version, threshold, operators } = await getPublicKey(client);
 * // offline encryption later: encrypt(createKmsClient(), { appId, plaintext, mpk })
 */
export async function getPublicKey(client: KmsClient, params: GetPublicKeyParameters = {}): Promise<GetPublicKeyReturnType> {
  const ledger = await client.ledger('getPublicKey');
  const k = await loadVersionKey(client, ledger, params.version);
  client.warn(k.poly.faults, 'getPublicKey');
  return {
    mpk: k.mpk,
    version: k.record.id,
    threshold: k.record.threshold,
    publicPoly: [...k.poly.hex],
    publicPolyHash: lc(k.record.publicPolyHash),
    operators: k.record.holders.map((a) => ({ address: a.toLowerCase() as Address, socket: k.sockets.get(a.toLowerCase()) ?? '' })),
    source: k.poly.source,
    faults: [...k.poly.faults],
  };
}
