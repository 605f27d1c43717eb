// The node:http fetch used for plain-http RPC URLs (src/chain/http-fetch.ts): what viem's
// transport relies on — status, headers, body, JSON-RPC through viem, aborts — and that
// anything else goes to the global fetch.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPublicClient, http } from 'viem';
import { rpcFetch } from '../../src/chain/http-fetch.ts';

describe('rpcFetch over node:http', () => {
  let server: Server;
  let base = '';
  const seen: { method?: string; headers: IncomingMessage['headers']; body: string }[] = [];
  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        seen.push({ method: req.method, headers: req.headers, body });
        if (req.url === '/slow') return; // never answers
        if (req.url === '/teapot') {
          res.writeHead(418, 'I am a teapot', { 'content-type': 'text/plain', 'x-a': ['1', '2'] });
          res.end('short and stout');
          return;
        }
        const msg = JSON.parse(body) as { id: number; method: string };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: msg.method === 'eth_chainId' ? '0x7a69' : '0x2a' }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('sends method, headers and body; returns status, status text, every header and the body', async () => {
    const r = await rpcFetch(`${base}/teapot`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-b': 'yes' }, body: '{"a":1}' });
    assert.equal(r.status, 418);
    assert.equal(r.statusText, 'I am a teapot');
    assert.equal(r.ok, false);
    assert.equal(r.headers.get('content-type'), 'text/plain');
    assert.equal(r.headers.get('x-a'), '1, 2');
    assert.equal(await r.text(), 'short and stout');
    const last = seen.at(-1);
    assert.equal(last?.method, 'POST');
    assert.equal(last?.headers['x-b'], 'yes');
    assert.equal(last?.body, '{"a":1}');
  });

  it('carries viem JSON-RPC calls', async () => {
    const client = createPublicClient({ transport: http(base, { fetchFn: rpcFetch }) });
    assert.equal(await client.getBlockNumber({ cacheTime: 0 }), 42n);
    assert.equal(await client.getChainId(), 31337);
  });

  it('an abort (viem\'s timeout) rejects the request and frees it', async () => {
    const ctl = new AbortController();
    const p = rpcFetch(`${base}/slow`, { method: 'POST', body: '{}', signal: ctl.signal });
    setTimeout(() => ctl.abort(new Error('took too long')), 50);
    await assert.rejects(p, /took too long/);
    await assert.rejects(rpcFetch(`${base}/slow`, { signal: AbortSignal.abort(new Error('already')) }), /already/);
    const client = createPublicClient({ transport: http(`${base}/slow`, { fetchFn: rpcFetch, timeout: 100, retryCount: 0 }) });
    await assert.rejects(client.getBlockNumber({ cacheTime: 0 }), /timed out/);
  });

  it('a refused connection rejects', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    await assert.rejects(rpcFetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: '{}' }), /ECONNREFUSED/);
  });

  it('other schemes go to the global fetch', async () => {
    const before = seen.length;
    await assert.rejects(rpcFetch('https://127.0.0.1:1/', { method: 'POST', body: '{}' }), /fetch failed/);
    assert.equal(seen.length, before);
  });
});
