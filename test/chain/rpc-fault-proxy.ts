/**
 * A JSON-RPC proxy in front of anvil for tests: it counts what passes, can delay every answer
 * (`delayMs`, the cluster harness's lagging operator), and injects one fault at a time into
 * the requests it lets through:
 *
 *   drop        closes the socket without an answer
 *   delay ms    answers ms later
 *   status n    answers HTTP n (a 5xx from a gateway), no JSON-RPC body
 *   stale n     a head n blocks old: `eth_blockNumber` and `eth_getBlockByNumber("latest")`
 *               answer for head − n
 *   lie-call    every `eth_call` result has its last byte changed
 *   lie-head    `eth_getBlockByNumber("latest")` answers the right block with a wrong hash
 *   hold-tx     a mempool that keeps transactions and never lets them be mined: every
 *               `eth_sendRawTransaction` is answered with its hash and kept here (and
 *               `eth_getTransactionByHash` shows it pending) until `release()` hands them
 *               to anvil, the newest per nonce (a replacement supersedes what it replaced),
 *               lowest nonce first
 *
 * `fault(f, { methods })` applies `f` only to requests that carry one of `methods` (a batch
 * counts if any of its calls does), and `fault(null)` lifts it. `hits` counts the requests
 * the current fault touched.
 */
import { createServer, type Server } from 'node:http';
import { keccak256, parseTransaction, type Hex } from 'viem';

export type Fault =
  | { readonly kind: 'drop' }
  | { readonly kind: 'delay'; readonly ms: number }
  | { readonly kind: 'status'; readonly status: number }
  | { readonly kind: 'stale'; readonly blocks: number }
  | { readonly kind: 'lie-call' }
  | { readonly kind: 'lie-head' }
  | { readonly kind: 'hold-tx' };

export interface RpcFaultProxy {
  readonly url: string;
  /** Delays every answer by this many ms after the upstream answered (0: none). */
  delayMs: number;
  /** HTTP requests received (a batch counts once). */
  readonly requests: number;
  /** JSON-RPC calls received, by method. */
  readonly calls: ReadonlyMap<string, number>;
  /** Requests the current fault touched. */
  readonly hits: number;
  fault(f: Fault | null, opts?: { readonly methods?: readonly string[] }): void;
  /** Hands what `hold-tx` kept to anvil (the newest per nonce, lowest nonce first) and forgets the rest; returns how many were kept. */
  release(): Promise<number>;
  close(): Promise<void>;
}

interface Call {
  id?: unknown;
  method?: string;
  params?: unknown[];
}
interface Answer {
  jsonrpc?: string;
  id?: unknown;
  result?: unknown;
  error?: unknown;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Changes the last hex digit of a 0x string ("0x" becomes "0x00"). */
function flip(hex: string): string {
  if (hex.length <= 2) return '0x00';
  const last = hex[hex.length - 1] === '0' ? '1' : '0';
  return `${hex.slice(0, -1)}${last}`;
}

const isLatestBlock = (c: Call) => c.method === 'eth_getBlockByNumber' && (c.params?.[0] === 'latest' || c.params?.[0] === 'pending');

export async function startRpcFaultProxy(target: string): Promise<RpcFaultProxy> {
  let current: { f: Fault; methods: readonly string[] | null } | null = null;
  const state = { delayMs: 0, requests: 0, hits: 0 };
  const calls = new Map<string, number>();
  /** hold-tx: hash → raw, in arrival order. */
  const held = new Map<string, Hex>();

  const upstream = async (body: string): Promise<{ status: number; text: string }> => {
    const res = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    return { status: res.status, text: await res.text() };
  };

  const server: Server = createServer((req, res) => {
    state.requests++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        try {
          const body = Buffer.concat(chunks).toString();
          const parsed = JSON.parse(body) as Call | Call[];
          const list = Array.isArray(parsed) ? parsed : [parsed];
          for (const c of list) if (typeof c.method === 'string') calls.set(c.method, (calls.get(c.method) ?? 0) + 1);
          const fault = current && (current.methods === null || list.some((c) => current?.methods?.includes(c.method ?? '') === true)) ? current.f : null;
          if (fault) state.hits++;
          if (fault?.kind === 'drop') {
            req.socket.destroy();
            return;
          }
          if (fault?.kind === 'status') {
            res.writeHead(fault.status, { 'content-type': 'text/plain' }).end('injected gateway error');
            return;
          }
          // hold-tx: the calls the held pool answers itself; the rest go upstream.
          const local = new Map<unknown, unknown>();
          if (fault?.kind === 'hold-tx') {
            for (const c of list) {
              const p0 = c.params?.[0];
              if (c.method === 'eth_sendRawTransaction' && typeof p0 === 'string') {
                const hash = keccak256(p0 as Hex);
                held.set(hash, p0 as Hex);
                local.set(c.id, hash);
              } else if (c.method === 'eth_getTransactionByHash' && typeof p0 === 'string' && held.has(p0.toLowerCase())) {
                local.set(c.id, { hash: p0, blockHash: null, blockNumber: null });
              }
            }
          }
          const forwarded = list.filter((c) => !local.has(c.id));
          if (local.size > 0) {
            const answers: Answer[] = list.filter((c) => local.has(c.id)).map((c) => ({ jsonrpc: '2.0', id: c.id, result: local.get(c.id) } as Answer));
            if (forwarded.length > 0) {
              const up = await upstream(JSON.stringify(forwarded));
              answers.push(...(JSON.parse(up.text) as Answer[]));
            }
            const ordered = list.map((c) => answers.find((a) => a.id === c.id));
            res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(Array.isArray(parsed) ? ordered : ordered[0]));
            return;
          }
          let send = body;
          let staleHead: bigint | null = null;
          if (fault?.kind === 'stale') {
            const head = JSON.parse((await upstream(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_blockNumber', params: [] }))).text) as Answer;
            const h = BigInt(head.result as string) - BigInt(fault.blocks);
            staleHead = h < 0n ? 0n : h;
            const rewritten = list.map((c) => (isLatestBlock(c) ? { ...c, params: [`0x${(staleHead as bigint).toString(16)}`, ...(c.params ?? []).slice(1)] } : c));
            send = JSON.stringify(Array.isArray(parsed) ? rewritten : rewritten[0]);
          }
          const up = await upstream(send);
          let text = up.text;
          if (fault && (fault.kind === 'stale' || fault.kind === 'lie-call' || fault.kind === 'lie-head') && up.status === 200) {
            const answers = JSON.parse(text) as Answer | Answer[];
            const alist = Array.isArray(answers) ? answers : [answers];
            for (const a of alist) {
              const call = list.find((c) => c.id === a.id);
              if (!call || a.result === undefined) continue;
              if (fault.kind === 'stale' && call.method === 'eth_blockNumber' && staleHead !== null) a.result = `0x${staleHead.toString(16)}`;
              if (fault.kind === 'lie-call' && call.method === 'eth_call' && typeof a.result === 'string') a.result = flip(a.result);
              if (fault.kind === 'lie-head' && isLatestBlock(call) && a.result && typeof a.result === 'object') {
                const b = a.result as { hash?: string };
                if (typeof b.hash === 'string') b.hash = flip(b.hash);
              }
            }
            text = JSON.stringify(answers);
          }
          const wait = (fault?.kind === 'delay' ? fault.ms : 0) + state.delayMs;
          if (wait > 0) await sleep(wait);
          if (!res.writableEnded && !res.destroyed) res.writeHead(up.status, { 'content-type': 'application/json' }).end(text);
        } catch {
          if (!res.headersSent && !res.destroyed) res.writeHead(502).end();
        }
      })();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(ms: number) {
      state.delayMs = ms;
    },
    get requests() {
      return state.requests;
    },
    get hits() {
      return state.hits;
    },
    calls,
    fault(f, opts = {}) {
      current = f === null ? null : { f, methods: opts.methods ?? null };
      state.hits = 0;
    },
    async release() {
      const raws = [...held.values()];
      held.clear();
      const byNonce = new Map<number, Hex>();
      for (const raw of raws) byNonce.set(parseTransaction(raw).nonce ?? 0, raw);
      for (const [, raw] of [...byNonce].sort(([a], [b]) => a - b)) {
        await upstream(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_sendRawTransaction', params: [raw] }));
      }
      return raws.length;
    },
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
