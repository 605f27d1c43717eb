// The client SDK against fake operator nodes on loopback (test/client/world.ts): the real HTTP
// API and the real key-release wire format, over the in-memory ledger with a real Feldman
// deal. Each misbehaviour the issue names is one row: the client still combines the app key
// from the honest operators and names the bad one; with too few valid partials it throws
// NotEnoughPartialsError listing every fault. Checks that can be made on the chain happen
// before anything is sent (request counters prove it).
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bls } from '../../src/crypto/bls12381/index.ts';
import { makeDomain } from '../../src/crypto/domain.ts';
import { eatNonceHex } from '../../src/crypto/key-release.ts';
import { appMnemonic as mnemonicOf } from '../../src/crypto/mnemonic.ts';
import { operatorX } from '../../src/crypto/operator-x.ts';
import { verifyAppKey } from '../../src/crypto/threshold.ts';
import type { KeyReleaseRequest } from '../../src/node/http/schemas.ts';
import { flippedV, highSTwin } from '../node/release-fixtures.ts';
import {
  AttestationMethodError,
  InvalidParameterError,
  NoReleaseError,
  NotAppOwnerError,
  NotEnoughPartialsError,
  OfflineClientError,
  PublicPolynomialError,
  UnknownAppError,
  UnknownVersionError,
  createKmsClient,
  decrypt,
  encrypt,
  jwtAttestation,
  ownerKeyAttestation,
  requestAppKey,
  type AttestationProvider,
  type AttestationRequest,
  type FetchFn,
  type OperatorFault,
  type OperatorFaultKind,
} from '../../src/client/index.ts';
import type { Hex, LedgerReader, VersionRecord } from '../../src/protocol/ledger.ts';
import { buildWorld, type Behavior, type World } from './world.ts';

const utf8 = new TextEncoder();
const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const kinds = (faults: readonly OperatorFault[]): string[] => faults.map((f) => `${f.operator}:${f.kind}`);

const SIG_TYPES = ['ecdsa', 'bn254', 'ecdsa', 'ecdsa'] as const;

describe('requestAppKey against four operators (t = 3)', () => {
  let w: World;
  let warnings: OperatorFault[];
  const client = (timeoutMs = 10_000) => w.client({ timeoutMs, onWarning: (f) => warnings.push(...f) });
  const requests = () => w.ops.reduce((n, o) => n + o.releaseRequests, 0);

  before(async () => {
    // One BN254 operator among ECDSA ones: both signature types are checked on every run.
    w = await buildWorld({ n: 4, sigTypes: SIG_TYPES, seed: 'key-release' });
  });
  after(async () => w?.close());
  beforeEach(() => {
    warnings = [];
    for (const op of w.ops) op.behavior = 'honest';
  });

  test('honest operators: the app key is x·Q(appId), every partial verifies, nothing is at fault', async () => {
    const r = await client().requestAppKey({ appId: w.appId.toUpperCase().replace('0X', '0x'), ownerKey: w.appOwner.key });
    assert.equal(r.appKey, w.appKey());
    assert.equal(r.appId, w.appId);
    assert.equal(r.version, 1);
    assert.equal(r.threshold, 3);
    assert.deepEqual(r.partials.map((p) => [p.operator, p.valid]), w.ops.map((o) => [o.address, true]));
    for (const p of r.partials) assert.equal(BigInt(p.x), operatorX(p.operator));
    assert.deepEqual(r.faults, []);
    assert.deepEqual(warnings, []);
    // The key opens what the SDK encrypted to the app.
    const envelope = await encrypt(client(), { appId: w.appId, plaintext: 'DB_PASSWORD=hunter2' });
    assert.equal(text(await decrypt(client(), { appId: w.appId, envelope, appKey: r.appKey })), 'DB_PASSWORD=hunter2');
  });

  // One misbehaving operator (index 1, the BN254 one, or 2 for ECDSA-specific rows): still combined, and named.
  const rows: { behavior: Behavior; index: number; kind: OperatorFaultKind; reason: RegExp }[] = [
    { behavior: 'corrupt-partial', index: 1, kind: 'invalid-partial', reason: /sent an invalid partial/ },
    { behavior: 'corrupt-partial', index: 2, kind: 'invalid-partial', reason: /sent an invalid partial/ },
    { behavior: 'bad-signature', index: 1, kind: 'bad-signature', reason: /does not verify under its on-chain bn254 signing key/ },
    { behavior: 'bad-signature', index: 2, kind: 'bad-signature', reason: /does not verify under its on-chain ecdsa signing key/ },
    { behavior: 'unsigned', index: 2, kind: 'bad-signature', reason: /does not verify/ },
    { behavior: 'refuse', index: 2, kind: 'http-error', reason: /answered HTTP 403 attestation-refused: ecdsa: this node refuses everything today/ },
    { behavior: 'garbage', index: 2, kind: 'bad-seal', reason: /does not open with this request's response key/ },
    { behavior: 'impersonate', index: 2, kind: 'wrong-operator', reason: /answered as 0x[0-9a-f]{40}: its socket serves another operator/ },
    { behavior: 'hang', index: 2, kind: 'timeout', reason: /timed out after 1500 ms/ },
  ];
  for (const row of rows) {
    test(`one operator: ${row.behavior} (${SIG_TYPES[row.index]}) → combined from the others, named as ${row.kind}`, async () => {
      const bad = w.ops[row.index];
      assert.ok(bad);
      bad.behavior = row.behavior;
      // The deadline must leave the honest nodes (all in this process) time to answer.
      const r = await client(row.behavior === 'hang' ? 1_500 : 10_000).requestAppKey({ appId: w.appId, ownerKey: w.appOwner.key });
      assert.equal(r.appKey, w.appKey());
      assert.equal(r.faults.length, 1, kinds(r.faults).join(', '));
      const [f] = r.faults as [OperatorFault];
      assert.equal(f.operator, bad.address);
      assert.equal(f.kind, row.kind);
      assert.match(f.reason, row.reason);
      assert.deepEqual(warnings, r.faults, 'onWarning hears about it');
      const listed = r.partials.find((p) => p.operator === bad.address);
      if (row.kind === 'invalid-partial') assert.equal(listed?.valid, false);
      else assert.equal(listed, undefined, 'an unauthenticated answer is not listed as a partial');
      assert.equal(r.partials.filter((p) => p.valid).length, 3);
    });
  }

  test('an operator socket that answers 302 is refused, never followed: the redirect target gets nothing, the operator is named', async () => {
    // The socket an operator registered answers with a redirect (to a host that would happily
    // take the attestation and response key). The client must not send the request on.
    const listen = async (server: Server): Promise<string> => {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    };
    let trapHits = 0;
    const trap = createServer((_req, res) => {
      trapHits++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    const trapUrl = await listen(trap);
    const redirector = createServer((_req, res) => {
      res.writeHead(302, { location: `${trapUrl}/stolen?x=1` }).end();
    });
    const redirectorUrl = await listen(redirector);
    try {
      const bad = w.ops[2];
      assert.ok(bad);
      // Operator 2's on-chain socket now leads to the redirecting server.
      const viaRedirector = client().fetch;
      const c = w.client({ onWarning: (f) => warnings.push(...f), fetch: (input, init) => viaRedirector(input.replace(bad.url, redirectorUrl), init) });
      const r = await c.requestAppKey({ appId: w.appId, ownerKey: w.appOwner.key });
      assert.equal(r.appKey, w.appKey(), 'combined from the three other operators');
      assert.deepEqual(kinds(r.faults), [`${bad.address}:redirect`]);
      const [f] = r.faults as [OperatorFault];
      assert.equal(f.status, 302);
      assert.match(f.reason, new RegExp(`^answered HTTP 302 with a redirect to ${trapUrl.replace(/[.]/g, '\\.')}, which is refused: an operator must answer at the socket it registered on-chain$`));
      assert.ok(!f.reason.includes('stolen'), 'only the origin of the target is shown');
      // GET /pubkey goes through the same path.
      const pk = await c.getPublicKey();
      assert.equal(pk.mpk, w.mpk);
      assert.equal(trapHits, 0, 'the redirect target was never contacted');
    } finally {
      await Promise.all([trap, redirector].map((s) => new Promise((resolve) => s.close(resolve))));
    }
  });

  test('an answer replayed from an earlier request does not open: bad-seal', async () => {
    const op = w.ops[3];
    assert.ok(op);
    op.behavior = 'replay';
    await client().requestAppKey({ appId: w.appId, ownerKey: w.appOwner.key }); // op answers, and remembers
    const r = await client().requestAppKey({ appId: w.appId, ownerKey: w.appOwner.key });
    assert.deepEqual(kinds(r.faults), [`${op.address}:bad-seal`]);
    assert.equal(r.appKey, w.appKey());
  });

  test('too few valid partials: NotEnoughPartialsError lists every fault (timeout, invalid partial, HTTP error, bad signature)', async () => {
    const [o0, o1, o2, o3] = w.ops as [World['ops'][0], World['ops'][0], World['ops'][0], World['ops'][0]];
    o0.behavior = 'hang';
    o1.behavior = 'corrupt-partial';
    o2.behavior = 'refuse';
    o3.behavior = 'bad-signature';
    const err = await client(1_500).requestAppKey({ appId: w.appId, ownerKey: w.appOwner.key }).then(
      () => assert.fail('expected NotEnoughPartialsError'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof NotEnoughPartialsError, String(err));
    assert.equal(err.needed, 3);
    assert.equal(err.valid, 0);
    assert.equal(err.version, 1);
    assert.deepEqual(err.operators, [o0.address, o1.address, o2.address, o3.address]);
    assert.deepEqual(err.faults.map((f) => f.kind), ['timeout', 'invalid-partial', 'http-error', 'bad-signature']);
    assert.equal(err.faults[2]?.status, 403);
    assert.equal(err.faults[2]?.code, 'attestation-refused');
    const short = (a: string) => `${a.slice(0, 6)}…${a.slice(-4)}`;
    assert.equal(
      err.shortMessage,
      `0 of 3 needed partials: ${short(o0.address)} timed out after 1500 ms, ${short(o1.address)} sent an invalid partial, `
        + `${short(o2.address)} answered HTTP 403 attestation-refused: ecdsa: this node refuses everything today, `
        + `${short(o3.address)} sent an answer whose signature does not verify under its on-chain ecdsa signing key.`,
    );
    assert.ok(err.metaMessages.includes(`Operator ${o1.address}: sent an invalid partial (${o1.url})`), err.metaMessages.join('\n'));
    assert.match(err.details ?? '', /refused the attestation/);
    assert.equal(err.walk(), err, 'no cause: the faults are the explanation');
    for (const s of [w.appOwner.key.slice(2), w.appKey().slice(2)]) assert.ok(!err.message.toLowerCase().includes(s), 'no secret in the error');
  });

  test('too few valid partials: wrongly signed and unsigned answers are named as bad signatures', async () => {
    const [o0, o1] = w.ops as [World['ops'][0], World['ops'][0]];
    o0.behavior = 'bad-signature';
    o1.behavior = 'unsigned';
    await assert.rejects(client().requestAppKey({ appId: w.appId, ownerKey: w.appOwner.key }), (e: unknown) => {
      assert.ok(e instanceof NotEnoughPartialsError);
      assert.match(e.shortMessage, /^2 of 3 needed partials: 0x[0-9a-f]{4}…[0-9a-f]{4} sent an answer whose signature does not verify under its on-chain ecdsa signing key, 0x[0-9a-f]{4}…[0-9a-f]{4} sent an answer whose signature does not verify under its on-chain bn254 signing key\.$/);
      assert.deepEqual(e.faults.map((f) => f.kind), ['bad-signature', 'bad-signature']);
      return true;
    });
  });

  test('an operator serving a wrong public polynomial is rejected and named; another one serves it', async () => {
    const [o0, o1] = w.ops as [World['ops'][0], World['ops'][0]];
    o0.behavior = 'wrong-poly';
    const pk = await client().getPublicKey();
    assert.equal(pk.source, o1.address);
    assert.deepEqual(kinds(pk.faults), [`${o0.address}:wrong-polynomial`]);
    assert.match(pk.faults[0]?.reason ?? '', /served a public polynomial that hashes to 0x[0-9a-f]{64}, not the on-chain publicPolyHash/);
    assert.equal(pk.mpk, w.mpk);
    assert.equal(pk.publicPoly[0], w.mpk);
    assert.deepEqual(warnings, pk.faults);
    // The key release needs the same polynomial: it still works, with the warning.
    warnings = [];
    const r = await client().requestAppKey({ appId: w.appId, ownerKey: w.appOwner.key });
    assert.equal(r.appKey, w.appKey());
    assert.deepEqual(kinds(warnings), [`${o0.address}:wrong-polynomial`]);
  });

  test('no operator serves the right polynomial: the chain\'s copy is used, every operator is named', async () => {
    for (const op of w.ops) op.behavior = 'wrong-poly';
    const pk = await client().getPublicKey();
    assert.equal(pk.source, 'chain');
    assert.deepEqual(pk.faults.map((f) => f.operator), w.ops.map((o) => o.address));
  });

  test('and when the chain\'s copy is wrong too: PublicPolynomialError naming every operator', async () => {
    for (const op of w.ops) op.behavior = 'wrong-poly';
    const spoil = (v: VersionRecord | null) => (v ? { ...v, publicPoly: `${v.publicPoly.slice(0, -2)}00` as Hex } : v);
    const ledger = new Proxy(w.ledger, {
      get(target, prop) {
        if (prop === 'activeVersion') return async () => spoil(await target.activeVersion());
        if (prop === 'getVersion') return async (id: number) => spoil(await target.getVersion(id));
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    }) as LedgerReader;
    await assert.rejects(createKmsClient({ ledger }).getPublicKey(), (e: unknown) => {
      assert.ok(e instanceof PublicPolynomialError);
      assert.deepEqual(e.faults.map((f) => f.operator), w.ops.map((o) => o.address));
      assert.match(e.shortMessage, /^No operator served the public polynomial of version 1: /);
      return true;
    });
  });

  test('refusals the chain predicts are raised before anything is sent', async () => {
    const before = requests();
    const unknown = `0x${'77'.repeat(32)}` as Hex;
    await assert.rejects(client().requestAppKey({ appId: unknown, ownerKey: w.appOwner.key }), UnknownAppError);
    const jwtOnly = await w.createApp(['jwt']);
    await assert.rejects(client().requestAppKey({ appId: jwtOnly, ownerKey: w.appOwner.key }), (e: unknown) => {
      assert.ok(e instanceof AttestationMethodError);
      assert.match(e.message, /does not accept ecdsa attestations[\s\S]*Enabled methods: jwt[\s\S]*kms-admin set-methods 0x[0-9a-f]{64} --methods ecdsa,jwt/);
      return true;
    });
    await assert.rejects(client().requestAppKey({ appId: w.appId, ownerKey: w.stranger.key }), (e: unknown) => {
      assert.ok(e instanceof NotAppOwnerError);
      assert.equal(e.signer, w.stranger.address);
      assert.ok(!e.message.includes(w.stranger.key.slice(2)));
      return true;
    });
    await assert.rejects(requestAppKey(createKmsClient(), { appId: w.appId, ownerKey: w.appOwner.key }), OfflineClientError);
    const badKey = `0x${'ff'.repeat(32)}` as Hex; // above the curve order
    await assert.rejects(client().requestAppKey({ appId: w.appId, ownerKey: badKey }), (e: unknown) => {
      assert.ok(e instanceof InvalidParameterError);
      assert.ok(!e.message.includes('ff'.repeat(32)));
      return true;
    });
    await assert.rejects(client().requestAppKey({ appId: '0x1234', ownerKey: w.appOwner.key }), InvalidParameterError);
    await assert.rejects(client().requestAppKey({ appId: w.appId, ownerKey: w.appOwner.key, version: 99 }), UnknownVersionError);
    assert.equal(requests(), before, 'no operator was asked');
  });

  test('a jwt provider gets the eat_nonce of the whole request (route, app, response key, nonce, key version); refusals by every node are listed', async () => {
    const both = await w.createApp(['ecdsa', 'jwt']);
    const seen: AttestationRequest[] = [];
    const attestation = jwtAttestation((r) => {
      seen.push(r);
      return 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';
    });
    await assert.rejects(client().requestAppKey({ appId: both, attestation }), (e: unknown) => {
      assert.ok(e instanceof NotEnoughPartialsError);
      assert.equal(e.valid, 0);
      assert.deepEqual(e.faults.map((f) => [f.kind, f.status]), w.ops.map(() => ['http-error', 403]));
      return true;
    });
    assert.equal(seen.length, 1, 'one attestation per request, sent to every operator');
    const r = seen[0] as AttestationRequest;
    const domain = makeDomain({ chainId: w.ledger.chainId, registry: w.ledger.registry });
    assert.equal(r.route, '/app/sign');
    assert.equal(r.eatNonce, eatNonceHex(domain, { route: '/app/sign', appId: both, responseKey: r.responseKey, nonce: r.nonce }));
    assert.equal(r.appId, both);
    // getSecrets binds its own route, and a pinned version is bound too.
    await w.publishRelease(both, 'X=1');
    await client().getSecrets({ appId: both, attestation }).catch(() => undefined);
    const s = seen[1] as AttestationRequest;
    assert.equal(s.route, '/secrets');
    assert.equal(s.eatNonce, eatNonceHex(domain, { route: '/secrets', appId: both, responseKey: s.responseKey, nonce: s.nonce }));
    await client().requestAppKey({ appId: both, attestation, version: 1 }).catch(() => undefined);
    const v = seen[2] as AttestationRequest;
    assert.equal(v.eatNonce, eatNonceHex(domain, { route: '/app/sign', appId: both, responseKey: v.responseKey, nonce: v.nonce, version: 1 }));
    assert.match(r.nonce, /^0x[0-9a-f]{64}$/);
  });

  test('every request has a fresh response key and nonce', async () => {
    const both = await w.createApp(['jwt']);
    const seen: AttestationRequest[] = [];
    const attestation = jwtAttestation((r) => (seen.push(r), 'a.b.c'));
    for (let i = 0; i < 3; i++) await client().requestAppKey({ appId: both, attestation }).catch(() => undefined);
    assert.equal(new Set(seen.map((s) => s.responseKey)).size, 3);
    assert.equal(new Set(seen.map((s) => s.nonce)).size, 3);
  });

  test('getOperators lists the registry with holders and x-coordinates', async () => {
    const ops = await client().getOperators();
    assert.deepEqual(ops.map((o) => [o.address, o.socket, o.status, o.holder, o.sigKeyType]), w.ops.map((o) => [o.address, o.url, 'active', true, o.sigKeyType]));
    for (const o of ops) assert.equal(BigInt(o.x), operatorX(o.address));
  });

  test('encrypt: refuses an app id with no app on-chain, unless offline with an explicit MPK', async () => {
    const unknown = `0x${'42'.repeat(32)}` as Hex;
    await assert.rejects(client().encrypt({ appId: unknown, plaintext: 'x' }), (e: unknown) => {
      assert.ok(e instanceof UnknownAppError);
      assert.match(e.message, /No app 0x4242[0-9a-f]+ exists on this registry[\s\S]*kms-client encrypt --mpk/);
      return true;
    });
    const offline = createKmsClient();
    await assert.rejects(offline.encrypt({ appId: unknown, plaintext: 'x' }), OfflineClientError);
    const env = await offline.encrypt({ appId: unknown, plaintext: utf8.encode('to a future app'), mpk: w.mpk });
    assert.equal(text(await offline.decrypt({ appId: unknown, envelope: env, appKey: w.appKey(unknown) })), 'to a future app');
  });

  test('getSecrets: the latest release env, decrypted; an operator sealing a stale env is named', async () => {
    const app = await w.createApp(['ecdsa']);
    const before = requests();
    await assert.rejects(client().getSecrets({ appId: app, ownerKey: w.appOwner.key }), NoReleaseError);
    assert.equal(requests(), before, 'no release: no operator asked');
    await w.publishRelease(app, 'API_TOKEN=old\n');
    await w.publishRelease(app, 'API_TOKEN=new\n', 'REGION=eu');
    const op = w.ops[2];
    assert.ok(op);
    op.behavior = 'stale-env';
    const s = await client().getSecrets({ appId: app, ownerKey: w.appOwner.key });
    assert.equal(text(s.env), 'API_TOKEN=new\n');
    assert.equal(s.release.index, 1);
    assert.equal(s.release.publicEnv, 'REGION=eu');
    assert.equal(s.version, 1);
    assert.deepEqual(kinds(s.faults), [`${op.address}:wrong-release`]);
  });

  test('appMnemonic: the same 24 words online and offline', async () => {
    const online = await client().appMnemonic({ appId: w.appId, ownerKey: w.appOwner.key });
    const offline = await createKmsClient().appMnemonic({ appId: w.appId, appKey: w.appKey() });
    assert.equal(online.mnemonic, offline.mnemonic);
    assert.equal(online.mnemonic.split(' ').length, 24);
    assert.equal(online.mnemonic, mnemonicOf(Buffer.from(w.appKey().slice(2), 'hex')));
  });

  test('across a reshare: one version only, lagging operators named, an older version on request; same app key', async () => {
    const mnemonic = (await client().appMnemonic({ appId: w.appId, ownerKey: w.appOwner.key })).mnemonic;
    const v2 = await w.reshare();
    assert.equal(v2, 2);
    const lagging = w.ops[3];
    assert.ok(lagging);
    lagging.activeVersion = 1; // this node has not activated version 2 yet
    const r = await client().requestAppKey({ appId: w.appId, ownerKey: w.appOwner.key });
    assert.equal(r.version, 2);
    assert.equal(r.appKey, w.appKey(), 'the secret did not change, so neither did the app key');
    assert.deepEqual(kinds(r.faults), [`${lagging.address}:other-version`]);
    assert.equal(r.faults[0]?.version, 1);
    assert.match(r.faults[0]?.reason ?? '', /answered with key version 1 while the others used 2/);

    const pubkeyBefore = w.ops.reduce((n, o) => n + o.pubkeyRequests, 0);
    const old = await client().requestAppKey({ appId: w.appId, ownerKey: w.appOwner.key, version: 1 });
    assert.equal(old.version, 1);
    assert.equal(old.appKey, w.appKey());
    assert.deepEqual(old.faults, []);
    assert.ok(w.ops.reduce((n, o) => n + o.pubkeyRequests, 0) > pubkeyBefore, 'version 1\'s polynomial was fetched with /pubkey?version=1');
    assert.equal((await client().appMnemonic({ appId: w.appId, ownerKey: w.appOwner.key })).mnemonic, mnemonic);
    lagging.activeVersion = undefined;
  });

  test('caught mid-switchover (2 operators on each version, t = 3): asks again for the older version and gets the same key', async () => {
    const [a, b] = [w.ops[2], w.ops[3]];
    assert.ok(a && b);
    a.activeVersion = 1;
    b.activeVersion = 1;
    try {
      const before = w.ops.reduce((n, o) => n + o.releaseRequests, 0);
      const r = await client().requestAppKey({ appId: w.appId, ownerKey: w.appOwner.key });
      assert.equal(r.version, 1, 'the older version, which every holder can still sign with');
      assert.equal(r.appKey, w.appKey());
      assert.deepEqual(r.faults, []);
      assert.equal(w.ops.reduce((n, o) => n + o.releaseRequests, 0) - before, 8, 'one round to every holder, then one pinned round');
      // Pinned by the caller: one round, the version asked for.
      const mid = w.ops.reduce((n, o) => n + o.releaseRequests, 0);
      const pinned = await client().requestAppKey({ appId: w.appId, ownerKey: w.appOwner.key, version: 2 });
      assert.equal(pinned.version, 2);
      assert.equal(pinned.appKey, w.appKey());
      assert.equal(w.ops.reduce((n, o) => n + o.releaseRequests, 0) - mid, 4);
    } finally {
      a.activeVersion = undefined;
      b.activeVersion = undefined;
    }
  });

  test('an operator that is down is named as unreachable', async () => {
    await w.stop(0);
    const r = await client().requestAppKey({ appId: w.appId, ownerKey: w.appOwner.key });
    assert.equal(r.appKey, w.appKey());
    assert.equal(r.faults[0]?.kind, 'unreachable');
    assert.match(r.faults[0]?.reason ?? '', /could not be reached \((?:ECONNREFUSED|UND_ERR_SOCKET)\)/);
  });
});

// The same client against the node's real key-release handler (src/node/release/handler.ts),
// so the two sides of the wire format are held to each other, not only to the fake above.
describe('requestAppKey against the production key-release handler (three nodes, t = 2)', () => {
  let w: World;
  before(async () => {
    w = await buildWorld({ n: 3, seed: 'production-handler' });
    for (const op of w.ops) op.behavior = 'production';
  });
  after(async () => w?.close());

  test('app key, secrets and an older version through the real handler', async () => {
    await w.publishRelease(w.appId, 'DB_PASSWORD=hunter2\n', 'PORT=8080');
    const c = w.client();
    const r = await c.requestAppKey({ appId: w.appId, ownerKey: w.appOwner.key });
    assert.equal(r.appKey, w.appKey());
    assert.deepEqual(r.faults, []);
    assert.equal(r.partials.filter((p) => p.valid).length, 3);
    const s = await c.getSecrets({ appId: w.appId, ownerKey: w.appOwner.key });
    assert.equal(text(s.env), 'DB_PASSWORD=hunter2\n');
    assert.equal(s.release.publicEnv, 'PORT=8080');
    assert.deepEqual(s.faults, []);
    const v1 = await c.requestAppKey({ appId: w.appId, ownerKey: w.appOwner.key, version: 1 });
    assert.equal(v1.version, 1);
  });

  // Story (issue 12, finding 5): every operator sees each request it answers. Before requests
  // were bound to their route and only canonical signatures were accepted, one of them (or
  // anyone on the path) could send a modified copy to the other operators first — the same
  // body on /secrets, or the owner's signature in its high-s or v = 0/1 form — and those
  // operators then refused the genuine request with 409 nonce-reused.
  test('the attack: modified copies of a request (other route, other key version, high-s twin, flipped v) reach every operator first; the genuine request is still answered and its key verifies against the MPK', async () => {
    const seen: string[] = [];
    const observer: FetchFn = async (input, init) => {
      if (init.method === 'POST' && init.body !== undefined) {
        const body = JSON.parse(init.body) as KeyReleaseRequest & { attestation: { method: 'ecdsa'; signature: Hex; time: number } };
        const att = body.attestation;
        const otherRoute = input.endsWith('/app/sign') ? input.replace(/\/app\/sign$/, '/secrets') : input.replace(/\/secrets$/, '/app/sign');
        const copies: [string, unknown][] = [
          [otherRoute, body],
          [input, { ...body, version: 1 }],
          [input, { ...body, attestation: { ...att, signature: highSTwin(att.signature) } }],
          [input, { ...body, attestation: { ...att, signature: flippedV(att.signature) } }],
        ];
        for (const [url, copy] of copies) {
          const res = await fetch(url, { ...init, body: JSON.stringify(copy) });
          seen.push(`${res.status} ${((await res.json()) as { error?: { code?: string } }).error?.code ?? 'answered'}`);
        }
      }
      return fetch(input, init);
    };
    const r = await w.client({ fetch: observer }).requestAppKey({ appId: w.appId, ownerKey: w.appOwner.key });
    // The operators are asked concurrently: compare as multisets.
    assert.deepEqual(seen.sort(), w.ops.flatMap(() => ['403 attestation-bad-signature', '403 attestation-bad-signature', '403 not-app-owner', '403 not-app-owner']).sort());
    assert.deepEqual(r.faults, []);
    assert.equal(r.partials.filter((p) => p.valid).length, 3, 'every operator answered the genuine request');
    assert.equal(r.appKey, w.appKey());
    const mpk = bls.g2.decode(Buffer.from(w.mpk.slice(2), 'hex'));
    assert.ok(verifyAppKey(mpk, w.appId, Buffer.from(r.appKey.slice(2), 'hex')), 'the combined key verifies against the MPK');
  });

  // Story: fastify aborts request.signal once a POST body is read on a real socket, and the
  // route used to hand that signal to the handler, which then answered 503 to every request.
  test('with the route\'s own request signal over a real socket', async () => {
    for (const op of w.ops) op.behavior = 'production-raw';
    try {
      const r = await w.client().requestAppKey({ appId: w.appId, ownerKey: w.appOwner.key });
      assert.equal(r.appKey, w.appKey());
    } finally {
      for (const op of w.ops) op.behavior = 'production';
    }
  });

  test('the handler\'s refusals reach the developer with their codes', async () => {
    // An ecdsa provider that does not announce its signer skips the client's owner check, so
    // every node sees (and refuses) a signature by someone else.
    const stranger = ownerKeyAttestation(w.stranger.key);
    const attestation: AttestationProvider = { method: 'ecdsa', attest: (r) => stranger.attest(r) };
    await assert.rejects(w.client().requestAppKey({ appId: w.appId, attestation }), (e: unknown) => {
      assert.ok(e instanceof NotEnoughPartialsError);
      assert.deepEqual(e.faults.map((f) => [f.kind, f.status, f.code]), w.ops.map(() => ['http-error', 403, 'not-app-owner']));
      assert.match(e.shortMessage, /^0 of 2 needed partials: 0x[0-9a-f]{4}…[0-9a-f]{4} answered HTTP 403 not-app-owner: /);
      return true;
    });
  });
});
