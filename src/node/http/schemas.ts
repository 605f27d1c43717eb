/**
 * @module
 * JSON Schemas (TypeBox) of the node's HTTP API (SPEC 5). Each schema is also the TypeScript
 * type of what it describes, through the small `TypeBoxProvider` below (the same five lines
 * `@fastify/type-provider-typebox` would add as a dependency).
 *
 * Rules every request schema follows, because the validator runs before anything expensive:
 * - `additionalProperties: false` on every object, so a typo or an injected field is a 400,
 *   never silently dropped (the ajv instance is configured not to strip, see `app.ts`);
 * - every string has a fixed shape (hex of an exact byte length, or a bounded token), so the
 *   handler never sees unbounded input;
 * - integers are bounded, so `1e400` (parsed as Infinity) or `2**60` never reach arithmetic.
 *
 * Response schemas list exactly the fields the API may return: fast-json-stringify drops any
 * other field an object happens to carry, which keeps an accidental `share` out of a response.
 *
 * Key release (`POST /app/sign`, `POST /secrets`; implemented by the apps issue):
 *
 *   request  { appId, responseKey, nonce, version? | time?, attestation }
 *   response { operator, version, epoch, sealed }   sealed = box to `responseKey` (X25519 + AES-GCM)
 *
 * `operator` and `version` are also in clear so a client can group answers by version before
 * opening them; the authoritative copies are inside the sealed, operator-signed payload.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { FastifyTypeProvider } from 'fastify';
import type { Address, AttestationMethod, Hex, SessionKind } from '../../protocol/ledger.ts';
import type { Phase } from '../../protocol/session-rules.ts';

/** Lets fastify infer `request.body` etc. from a TypeBox schema. */
export interface TypeBoxProvider extends FastifyTypeProvider {
  readonly validator: this['schema'] extends TSchema ? Static<this['schema']> : unknown;
  readonly serializer: this['schema'] extends TSchema ? Static<this['schema']> : unknown;
}

// ---------------------------------------------------------------------------------------------
// Building blocks. `description` is what a 400 says the field should look like (errors.ts).
// ---------------------------------------------------------------------------------------------

/** 0x-hex of exactly `n` bytes (either case accepted; handlers normalise). */
export function hexBytes(n: number, what: string) {
  return Type.Unsafe<Hex>({ type: 'string', pattern: `^0x[0-9a-fA-F]{${2 * n}}$`, description: `${what}: 0x-hex, ${n} bytes` });
}

/** 0x-hex of `min`..`max` bytes. */
export function hexBytesRange(min: number, max: number, what: string) {
  return Type.Unsafe<Hex>({
    type: 'string',
    pattern: `^0x(?:[0-9a-fA-F]{2}){${min},${max}}$`,
    description: `${what}: 0x-hex, ${min} to ${max} bytes`,
  });
}

/** 0x-hex of any even length, for responses only (never validated on the way out). */
const AnyHex = Type.Unsafe<Hex>({ type: 'string' });
const AddressOut = Type.Unsafe<Address>({ type: 'string' });

/** Seconds of chain time. 2^40 s is ~35 000 years: far above any real value, far below 2^53. */
const MAX_TIME = 2 ** 40;
const MAX_ID = 2 ** 40;
const Time = Type.Integer({ minimum: 0, maximum: MAX_TIME, description: 'seconds since the epoch' });
const Id = Type.Integer({ minimum: 1, maximum: MAX_ID, description: 'a positive integer' });

/** JWS compact serialisation: three base64url parts. Linear regex (no nested quantifiers). */
const JWT_PATTERN = '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]*$';
export const MAX_JWT_BYTES = 16 * 1024;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

export const ErrorBody = Type.Object(
  { error: Type.Object({ code: Type.String(), message: Type.String() }, { additionalProperties: false }) },
  { additionalProperties: false },
);
export type ErrorBody = Static<typeof ErrorBody>;

/** Shared by every route: any 4xx/5xx body is serialised through this (and nothing else leaks). */
export const ERROR_RESPONSES = { '4xx': ErrorBody, '5xx': ErrorBody } as const;

/** GET routes take no query parameters (an unknown one is a 400, like an unknown body field). */
export const NoQuery = Type.Object({}, { additionalProperties: false });

// ---------------------------------------------------------------------------------------------
// GET /pubkey
// ---------------------------------------------------------------------------------------------

/**
 * `?version=N` asks for an older version's public polynomial: a client that combines partials
 * from one version across a reshare needs that version's public shares to verify them. Query
 * values arrive as strings and the validator does not coerce types (bodies must not be
 * coerced), so the number is a decimal-digits pattern parsed by the route.
 */
export const PubkeyQuery = Type.Object(
  { version: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,11}$', description: 'version: a positive integer' })) },
  { additionalProperties: false },
);
export type PubkeyQuery = Static<typeof PubkeyQuery>;

/** Most receipts one `GET /receipts` page holds (each ~0.8 KB of JSON: a page stays under ~400 KB). */
export const MAX_RECEIPTS_PAGE = 500;

export const ReceiptsQuery = Type.Object(
  {
    from: Type.Optional(Type.String({ pattern: '^(0|[1-9][0-9]{0,14})$', description: 'from: the first log position, a non-negative integer' })),
    limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,3}$', description: `limit: 1 to ${MAX_RECEIPTS_PAGE}` })),
    appId: Type.Optional(Type.String({ pattern: '^0x[0-9a-fA-F]{64}$', description: 'appId: a bytes32 app id (0x + 64 hex digits)' })),
  },
  { additionalProperties: false },
);
export type ReceiptsQuery = Static<typeof ReceiptsQuery>;

export const ReceiptEntry = Type.Object(
  {
    position: Type.Integer({ minimum: 0 }),
    appId: AnyHex,
    /** The 243 receipt bytes (docs/formats.md, "Release receipts"). */
    receipt: AnyHex,
    /** The operator's signature over keccak256(domain ‖ receipt). */
    signature: AnyHex,
    /** keccak256(receipt). */
    hash: AnyHex,
  },
  { additionalProperties: false },
);
export type ReceiptEntry = Static<typeof ReceiptEntry>;

export const ReceiptsPage = Type.Object(
  {
    operator: AddressOut,
    /** Entries in the whole log when this page was read, and the hash of the last one. */
    count: Type.Integer({ minimum: 0 }),
    head: AnyHex,
    entries: Type.Array(ReceiptEntry),
    /** The `from` of the next page, or null when this page reached the end of the log. */
    next: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
  },
  { additionalProperties: false },
);
export type ReceiptsPage = Static<typeof ReceiptsPage>;

export const OperatorInfo = Type.Object({ address: AddressOut, socket: Type.String() }, { additionalProperties: false });

export const PubkeyInfo = Type.Object(
  {
    /** A_0, compressed G2 (96 bytes). Pinned at genesis. */
    mpk: AnyHex,
    /** A_0 … A_{t-1}, compressed G2 each; its hash is on-chain as the version's publicPolyHash. */
    publicPoly: Type.Array(AnyHex),
    version: Type.Integer(),
    threshold: Type.Integer(),
    operators: Type.Array(OperatorInfo),
  },
  { additionalProperties: false },
);
export type PubkeyInfo = Static<typeof PubkeyInfo>;

// ---------------------------------------------------------------------------------------------
// POST /app/sign, POST /secrets
// ---------------------------------------------------------------------------------------------

/**
 * `ecdsa`: the app owner's EIP-712 signature over {route, appId, responseKey, nonce, time, …}
 * (SPEC 5): 65 bytes r‖s‖v, or up to 1024 bytes for a contract-wallet owner (EIP-1271).
 */
export const EcdsaAttestation = Type.Object(
  {
    method: Type.Literal('ecdsa'),
    signature: hexBytesRange(65, 1024, 'signature (r‖s‖v, or a contract owner\'s EIP-1271 signature)'),
    time: Time,
  },
  { additionalProperties: false },
);

/** `jwt`: a TEE token whose `eat_nonce` binds domain, appId and responseKey (SPEC 5). */
export const JwtAttestation = Type.Object(
  {
    method: Type.Literal('jwt'),
    token: Type.String({ minLength: 1, maxLength: MAX_JWT_BYTES, pattern: JWT_PATTERN, description: `token: a compact JWT of at most ${MAX_JWT_BYTES} characters` }),
  },
  { additionalProperties: false },
);

export type EcdsaAttestation = Static<typeof EcdsaAttestation>;
export type JwtAttestation = Static<typeof JwtAttestation>;
export type Attestation = EcdsaAttestation | JwtAttestation;

/**
 * A tagged union with an ajv discriminator instead of a plain `anyOf`: ajv then validates only
 * the branch `method` names and reports that branch's first error, instead of one error per
 * branch plus "must match a schema in anyOf".
 */
export const Attestation = Type.Unsafe<Attestation>({
  type: 'object',
  required: ['method'],
  discriminator: { propertyName: 'method' },
  oneOf: [EcdsaAttestation, JwtAttestation],
  description: `attestation: an object whose method is one of ${(['ecdsa', 'jwt'] satisfies AttestationMethod[]).join(', ')}`,
});

export const KeyReleaseRequest = Type.Object(
  {
    /** keccak(chainId, registry, creator, salt), assigned by the contract. */
    appId: hexBytes(32, 'appId'),
    /** Fresh X25519 public key the answer is sealed to. */
    responseKey: hexBytes(32, 'responseKey (X25519 public key)'),
    /** Fresh per request; the replay cache is keyed on (nonce, responseKey). */
    nonce: hexBytesRange(16, 32, 'nonce'),
    /** Key version to sign with (default: the active one). Exclusive with `time`. */
    version: Type.Optional(Id),
    /** Chain time whose active version to sign with. Exclusive with `version`. */
    time: Type.Optional(Time),
    attestation: Attestation,
  },
  {
    additionalProperties: false,
    // `type` inside `not`: a missing body must fail as "expected object", not as this rule.
    not: { type: 'object', required: ['version', 'time'] },
    description: 'give version or time, not both',
  },
);
export type KeyReleaseRequest = Static<typeof KeyReleaseRequest>;
export type SignRequest = KeyReleaseRequest;
export type SecretsRequest = KeyReleaseRequest;

export const SealedResponse = Type.Object(
  {
    operator: AddressOut,
    /** The key version the partial was made with. */
    version: Type.Integer(),
    /**
     * The app-key epoch the partial was made for (identity `appIdentity(appId, epoch)`; issue
     * 16). Always sent by this node; optional so that answers of older nodes still parse.
     */
    epoch: Type.Optional(Type.Integer()),
    /**
     * The sealed, operator-signed payload (partial, operator, version, signature; for
     * /secrets also the app's latest release env). Byte format: the apps issue.
     */
    sealed: AnyHex,
  },
  { additionalProperties: false },
);
export type SignResponse = Static<typeof SealedResponse>;
export type SecretsResponse = Static<typeof SealedResponse>;

// ---------------------------------------------------------------------------------------------
// GET /healthz, GET /status
// ---------------------------------------------------------------------------------------------

export const HealthBody = Type.Object({ ok: Type.Literal(true) }, { additionalProperties: false });

export interface Health {
  readonly ok: boolean;
  /** Why not (shown in the 503), e.g. "no tick for 12 s". */
  readonly reason?: string;
}

const Nullable = <T extends TSchema>(s: T) => Type.Union([s, Type.Null()]);

/** `/status` chainView (src/node/chain-watch.ts): providers by label only, never by URL. */
const ChainViewStatus = Type.Object(
  {
    ok: Type.Boolean(),
    reason: Nullable(Type.String()),
    message: Nullable(Type.String()),
    since: Type.Integer(),
    quorum: Type.Integer(),
    providers: Type.Array(Type.Object({
      provider: Type.String(),
      up: Type.Boolean(),
      failures: Type.Integer(),
      lastError: Nullable(Type.String()),
      head: Nullable(Type.Integer()),
      lagBlocks: Nullable(Type.Integer()),
    }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);

/** `/status` balance (src/node/balance-watch.ts); wei as decimal strings. */
const BalanceStatus = Type.Object(
  {
    wei: Type.String(),
    roundsLeft: Type.Integer(),
    roundsWanted: Type.Integer(),
    gasPerRound: Type.Integer(),
    topUpWei: Nullable(Type.String()),
    checkedAt: Type.Integer(),
  },
  { additionalProperties: false },
);

export const NodeStatus = Type.Object(
  {
    operator: AddressOut,
    /** Id of the newest active version (null before genesis or while this node holds none). */
    activeVersion: Nullable(Type.Integer()),
    /** The session in progress, if any, and this node's roles in it. */
    session: Nullable(
      Type.Object(
        {
          id: Type.Integer(),
          kind: Type.Unsafe<SessionKind>({ type: 'string' }),
          phase: Type.Unsafe<Phase>({ type: 'string' }),
          /** Dealer machine status ("dealt", …) when this node deals in it. */
          dealer: Type.Optional(Type.String()),
          /** Recipient machine status ("acked", …) when this node receives in it. */
          recipient: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
    ),
    lastProcessedBoundary: Nullable(Type.Integer()),
    /**
     * Every key version this node keeps (ids and statuses only; public): what retention has
     * and has not deleted yet. A version stays until its successor's completion is final.
     */
    versions: Type.Optional(Type.Array(Type.Object({ id: Type.Integer(), status: Type.String() }, { additionalProperties: false }))),
    /**
     * The protocol versions this node speaks against the one sessions require (issue 15 item
     * 5): `verdict` "unsupported" means it sits every session out until upgraded;
     * "upgrade-soon" that governance queued a version it does not speak. `refusedSession`: the
     * latest session, when this node sits it out for its version.
     */
    protocol: Type.Optional(Type.Object({
      speaks: Type.Object({ min: Type.Integer(), max: Type.Integer() }, { additionalProperties: false }),
      required: Type.Integer(),
      queued: Nullable(Type.Object({ version: Type.Integer(), effectiveAt: Type.Integer() }, { additionalProperties: false })),
      verdict: Type.Union([Type.Literal('ok'), Type.Literal('upgrade-soon'), Type.Literal('unsupported')]),
      message: Nullable(Type.String()),
      refusedSession: Nullable(Type.Object({ id: Type.Integer(), required: Type.Integer(), message: Type.String() }, { additionalProperties: false })),
    }, { additionalProperties: false })),
    /** How this node reads finality (chain profile or --finality), e.g. "the finalized tag". */
    finality: Type.Optional(Type.String()),
    /** The newest block the node read: its number and timestamp (chain time). */
    chainHead: Nullable(Type.Object({ number: Type.Optional(Type.Integer()), time: Type.Integer() }, { additionalProperties: false })),
    /** The node loop's last error (a message meant for operators, no secrets) and when (unix seconds). */
    lastError: Nullable(Type.Object({ message: Type.String(), at: Type.Integer() }, { additionalProperties: false })),
    /** Whether the node has a consistent view of the chain (src/chain/rpc-pool.ts), and its RPC providers. */
    chainView: Type.Optional(ChainViewStatus),
    /** The operator account's balance against the rounds ahead (src/node/balance-watch.ts). */
    balance: Type.Optional(Nullable(BalanceStatus)),
    /** Why this node serves no partials although the chain has an active version (its key store is older than the chain: src/node/stale-store.ts), or null. */
    staleStore: Type.Optional(Nullable(Type.String())),
  },
  { additionalProperties: false },
);
export type NodeStatus = Static<typeof NodeStatus>;
