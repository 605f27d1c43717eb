/**
 * @module
 * The network status page (issue 15, item 4): one self-contained HTML document served at `/`
 * on the operations listener. Inline CSS and JavaScript, no asset from anywhere (it works on a
 * machine without internet access), read-only (it only GETs). Every 5 s it polls four JSON
 * endpoints of the same listener and redraws:
 *
 *   /healthz          this node's health (200, or 503 with the reason)
 *   /status           what this node is doing (session, versions, chain view, balance)
 *   /status/network   the network as this node reads it on the chain (network-view.ts)
 *   /status/doctor    the doctor's verdict, if one is wired in (doctor-verdict.ts)
 *
 * Escaping: every value is put into the page with `textContent` or `createTextNode`, never as
 * markup (no innerHTML, no attribute built from data). Operator socket URLs are chain data any
 * registered operator chooses: a hostile one must show up as text. The Content-Security-Policy
 * (`PAGE_CSP`) is the second wall: only this script and this style run (by hash), requests go
 * only to this origin, and nothing may frame the page.
 */
import { createHash } from 'node:crypto';

const STYLE = `
:root { color-scheme: light; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --muted: #57606a; --line: #d0d7de; --bg2: #f6f8fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1f2328; background: #fff; }
header { padding: 12px 20px; border-bottom: 1px solid var(--line); background: var(--bg2); display: flex; flex-wrap: wrap; gap: 8px 24px; align-items: baseline; }
header h1 { font-size: 18px; margin: 0; }
main { padding: 12px 20px 40px; display: grid; gap: 16px; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); }
section { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; min-width: 0; }
section.wide { grid-column: 1 / -1; }
h2 { font-size: 15px; margin: 0 0 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px 4px 0; border-bottom: 1px solid var(--line); vertical-align: top; overflow-wrap: break-word; }
th { color: var(--muted); font-weight: 600; font-size: 12px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 3px 12px; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; min-width: 0; overflow-wrap: break-word; }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; overflow-wrap: anywhere; }
.ok { color: var(--ok); font-weight: 600; }
.warn { color: var(--warn); font-weight: 600; }
.bad { color: var(--bad); font-weight: 600; }
.muted { color: var(--muted); }
.chip { display: inline-block; border: 1px solid var(--line); border-radius: 10px; padding: 0 6px; margin: 0 4px 2px 0; font-size: 12px; white-space: nowrap; }
.banner { grid-column: 1 / -1; border-radius: 6px; padding: 8px 12px; background: #ffebe9; border: 1px solid #ff818266; }
.hidden { display: none; }
`;

const SCRIPT = `
'use strict';
(function () {
  var POLL_MS = 5000;
  var $ = function (id) { return document.getElementById(id); };
  /* Every node of the page is built here: text only, never markup. */
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function row(cells, header) {
    var tr = el('tr');
    cells.forEach(function (c) {
      var td = el(header ? 'th' : 'td');
      if (c instanceof Node) td.appendChild(c); else td.textContent = c === null || c === undefined ? '' : String(c);
      tr.appendChild(td);
    });
    return tr;
  }
  function table(head, rows) {
    var t = el('table');
    var th = el('thead'); th.appendChild(row(head, true)); t.appendChild(th);
    var tb = el('tbody'); rows.forEach(function (r) { tb.appendChild(r); }); t.appendChild(tb);
    return t;
  }
  function short(a) { return typeof a === 'string' && a.length > 14 ? a.slice(0, 8) + '\\u2026' + a.slice(-4) : String(a); }
  function addr(a, field) { var s = el('span', 'mono', a); if (field) s.setAttribute('data-field', field); s.title = a; return s; }
  function when(t) { return t === null || t === undefined ? '\\u2013' : new Date(t * 1000).toISOString().replace('T', ' ').replace('.000Z', ' UTC'); }
  function ago(now, t) {
    if (t === null || t === undefined) return '';
    var s = now - t;
    if (s < 0) return 'in ' + dur(-s);
    return dur(s) + ' ago';
  }
  function dur(s) {
    if (s === null || s === undefined) return '\\u2013';
    if (s < 120) return s + ' s';
    if (s < 7200) return Math.round(s / 60) + ' min';
    return Math.round(s / 3600) + ' h';
  }
  function dl(pairs) {
    var d = el('dl');
    pairs.forEach(function (p) {
      d.appendChild(el('dt', null, p[0]));
      var dd = el('dd');
      if (p[2]) dd.setAttribute('data-field', p[2]);
      if (p[1] instanceof Node) dd.appendChild(p[1]); else dd.textContent = p[1] === null || p[1] === undefined ? '\\u2013' : String(p[1]);
      d.appendChild(dd);
    });
    return d;
  }
  function verdict(cls, text) { return el('span', cls, text); }
  function mark(v) { return v === true ? '\\u2713' : v === false ? '\\u2717' : '\\u00b7'; }

  function getJson(path) {
    return fetch(path, { cache: 'no-store', headers: { accept: 'application/json' } }).then(function (res) {
      return res.json().then(function (body) { return { status: res.status, body: body }; }, function () { return { status: res.status, body: null }; });
    });
  }

  function renderNode(health, status, net) {
    var box = clear($('node'));
    var h = health && health.status === 200 ? verdict('ok', 'healthy')
      : verdict('bad', 'unhealthy: ' + (health && health.body && health.body.error ? health.body.error.message : 'no answer'));
    var s = status && status.status === 200 ? status.body : null;
    var pairs = [['health', h, 'health'], ['operator', s ? addr(s.operator) : null]];
    if (s) {
      pairs.push(['active version held', s.activeVersion === null ? 'none' : s.activeVersion, 'node-version']);
      pairs.push(['session', s.session ? ('#' + s.session.id + ' ' + s.session.kind + ', ' + s.session.phase + (s.session.dealer ? ', dealer ' + s.session.dealer : '') + (s.session.recipient ? ', recipient ' + s.session.recipient : '')) : 'none']);
      if (s.chainView) pairs.push(['chain view', s.chainView.ok ? verdict('ok', 'consistent (' + s.chainView.providers.length + ' RPC provider' + (s.chainView.providers.length === 1 ? '' : 's') + ')') : verdict('bad', s.chainView.message || s.chainView.reason || 'inconsistent')]);
      if (s.balance) pairs.push(['balance', s.balance.topUpWei === null ? verdict('ok', s.balance.roundsLeft + ' rounds (want ' + s.balance.roundsWanted + ')') : verdict('bad', s.balance.roundsLeft + ' rounds, want ' + s.balance.roundsWanted + ': top up ' + s.balance.topUpWei + ' wei')]);
      if (s.protocol) {
        var pv = s.protocol, spoken = pv.speaks.min === pv.speaks.max ? String(pv.speaks.min) : pv.speaks.min + '\u2013' + pv.speaks.max;
        pairs.push(['protocol', pv.verdict === 'ok' ? verdict('ok', 'sessions require ' + pv.required + ', this node speaks ' + spoken)
          : verdict('bad', (pv.refusedSession ? pv.refusedSession.message : pv.message) || ('requires ' + pv.required + ', speaks ' + spoken)), 'protocol']);
      }
      if (s.finality) pairs.push(['finality', s.finality]);
      pairs.push(['last error', s.lastError ? s.lastError.message + ' (' + when(s.lastError.at) + ')' : 'none']);
    }
    if (net && net.activeShareMissing) pairs.push(['active share', verdict('bad', 'MISSING: this operator holds a share of version ' + net.activeVersion.id + ' on-chain, its store has none'), 'share-missing']);
    if (net && net.lastClosedSession) {
      var m = net.lastClosedSession.missed;
      pairs.push(['last closed session', m.length === 0 ? verdict('ok', '#' + net.lastClosedSession.id + ': every submission made') : verdict('bad', '#' + net.lastClosedSession.id + ': missed ' + m.join(', ')), 'last-session']);
    }
    box.appendChild(dl(pairs));
  }

  function renderDoctor(doc) {
    var box = clear($('doctor'));
    if (!doc || doc.status !== 200 || !doc.body) { box.appendChild(el('p', 'muted', 'the doctor\\'s verdict could not be read')); return; }
    if (!doc.body.available) { box.appendChild(el('p', 'muted', doc.body.reason)); return; }
    var v = doc.body.verdict;
    box.appendChild(el('p', v.ok ? 'ok' : 'bad', (v.ok ? 'nothing fails' : 'something fails') + ' (checked ' + when(v.checkedAt) + ')'));
    box.appendChild(table(['check', 'status', 'finding', 'fix'], v.checks.map(function (c) {
      var tr = row([c.id, verdict(c.status === 'pass' ? 'ok' : c.status === 'warn' ? 'warn' : 'bad', c.status), c.message, c.fix || '']);
      tr.setAttribute('data-check', c.id);
      return tr;
    })));
  }

  function renderKey(n) {
    var box = clear($('key'));
    var v = n.activeVersion;
    box.appendChild(dl([
      ['master public key', n.mpk === null ? 'none yet (genesis has not completed)' : addr(n.mpk), 'mpk'],
      ['active version', v ? v.id : 'none', 'version'],
      ['threshold', v ? v.threshold : '\\u2013', 'threshold'],
      ['holders', v ? v.holders.length : '\\u2013', 'holders'],
      ['completed', v ? when(v.completedAt) + ' (' + ago(n.chainTime, v.completedAt) + ')' : '\\u2013'],
      ['polynomial hash', v ? addr(v.publicPolyHash) : '\\u2013'],
      ['chain id', n.chainId],
      ['registry', addr(n.registry)],
      ['chain time', when(n.chainTime), 'chain-time'],
    ]));
  }

  function renderOperators(n) {
    var box = clear($('operators'));
    box.appendChild(table(['', 'address', 'socket URL (from the chain)', 'status', 'holder', 'last sessions: deal ack confirm'], n.operators.map(function (o) {
      var parts = el('span');
      o.sessions.forEach(function (p) {
        parts.appendChild(el('span', 'chip' + (p.dealt === false || p.acked === false || p.confirmed === false ? ' bad' : ''), '#' + p.session + ' ' + mark(p.dealt) + mark(p.acked) + mark(p.confirmed)));
      });
      var tr = row([o.self ? 'this node' : '', addr(o.address, 'operator-address'), el('span', 'mono', o.socket), o.status, o.holder ? 'yes' : 'no', parts]);
      tr.setAttribute('data-operator', o.address);
      tr.children[2].setAttribute('data-field', 'operator-socket');
      return tr;
    })));
    box.appendChild(el('p', 'muted', '\\u2713 submitted, \\u2717 missed (window closed without it), \\u00b7 no such duty or window still open'));
  }

  function renderSessions(n) {
    var box = clear($('sessions'));
    if (n.sessions.length === 0) { box.appendChild(el('p', 'muted', 'no session yet')); return; }
    box.appendChild(table(['session', 'kind', 'outcome', 'phase', 'opened', 'duration', 'deals / acks / confirms', 'did not submit'], n.sessions.map(function (s) {
      var missing = el('span');
      ['deal', 'ack', 'confirm'].forEach(function (k) {
        var who = s.missing[k];
        if (who === null) return;
        who.forEach(function (a) {
          var chip = el('span', 'chip bad', k + ' ' + short(a));
          chip.title = a;
          chip.setAttribute('data-missing', k + ':' + a);
          missing.appendChild(chip);
        });
      });
      if (!missing.firstChild) missing.textContent = s.phase === 'closed' ? 'nobody' : '(window open)';
      var outcome = el('span', s.outcome === 'completed' ? 'ok' : s.outcome === 'failed' ? 'bad' : 'warn', s.outcome);
      var tr = row(['#' + s.id, s.kind, outcome, s.phase, when(s.openedAt), dur(s.durationSeconds), s.deals + ' / ' + s.acks + ' / ' + s.confirms + ' (t ' + s.tNew + ', quorum ' + s.quorum + ')', missing]);
      tr.setAttribute('data-session', String(s.id));
      tr.children[2].setAttribute('data-field', 'session-outcome');
      return tr;
    })));
  }

  function renderGovernance(n) {
    var box = clear($('governance'));
    var g = n.governance;
    box.appendChild(dl([
      ['owner', addr(g.owner)],
      ['interval', g.interval + ' s (deal ' + g.dealWindow + ' s, ack ' + g.ackWindow + ' s, confirm ' + g.confirmWindow + ' s)'],
      ['threshold override', g.thresholdOverride === 0 ? 'none (ceil(2n/3))' : g.thresholdOverride],
      ['churn cap', g.churnCap === 0 ? 'default' : g.churnCap],
      ['protocol version', g.protocolVersion],
      ['governance delay', g.governanceDelay + ' s'],
    ]));
    var q = el('div');
    q.setAttribute('data-field', 'queued');
    if (n.queued.length === 0) q.appendChild(el('p', 'muted', 'no change queued'));
    else q.appendChild(table(['queued change', 'what', 'takes effect'], n.queued.map(function (c) {
      return row([c.kind, c.change, c.effectiveAt === null ? 'when accepted' : when(c.effectiveAt) + ' (' + ago(n.chainTime, c.effectiveAt) + ')']);
    })));
    box.appendChild(q);
  }

  var last = null;
  function poll() {
    Promise.all([getJson('/healthz'), getJson('/status'), getJson('/status/network'), getJson('/status/doctor')]).then(function (r) {
      var health = r[0], status = r[1], network = r[2], doctor = r[3];
      var net = network.status === 200 ? network.body : null;
      renderNode(health, status, net);
      renderDoctor(doctor);
      if (net) {
        last = net;
        renderKey(net); renderOperators(net); renderSessions(net); renderGovernance(net);
        $('who').textContent = 'as seen by ' + net.operator;
        document.body.setAttribute('data-chain-time', String(net.chainTime));
      }
      var banner = $('banner');
      var problem = net === null ? 'the network view is not available: ' + (network.body && network.body.error ? network.body.error.message : 'HTTP ' + network.status)
        : net.readError ? 'the last chain read failed (' + net.readError + '); showing the view read ' + when(net.readAt) : '';
      banner.textContent = problem;
      banner.className = problem ? 'banner' : 'banner hidden';
      $('updated').textContent = 'updated ' + new Date().toISOString().slice(11, 19) + ' UTC';
      document.body.setAttribute('data-loaded', 'true');
    }, function (e) {
      var banner = $('banner');
      banner.textContent = 'the node does not answer (' + (e && e.message ? e.message : 'network error') + ')' + (last ? '; showing the last view' : '');
      banner.className = 'banner';
    }).then(function () { setTimeout(poll, POLL_MS); });
  }
  poll();
})();
`;

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('base64');

/**
 * Only this page's own script and style (by hash), requests only to this origin, no framing,
 * no form, no base URL, no plugin.
 */
export const PAGE_CSP = [
  "default-src 'none'",
  `script-src 'sha256-${sha256(SCRIPT)}'`,
  `style-src 'sha256-${sha256(STYLE)}'`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>eigenx-kms network status</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>eigenx-kms network status</h1><span id="who" class="mono"></span><span id="updated" class="muted">loading…</span></header>
<main>
<div id="banner" class="banner hidden" role="alert"></div>
<noscript><div class="banner">This page needs JavaScript to load the node's status (from /status, /status/network, /status/doctor on this listener).</div></noscript>
<section><h2>This node</h2><div id="node"></div></section>
<section><h2>Doctor</h2><div id="doctor"></div></section>
<section><h2>Key</h2><div id="key"></div></section>
<section><h2>Governance</h2><div id="governance"></div></section>
<section class="wide"><h2>Operators</h2><div id="operators"></div></section>
<section class="wide"><h2>Sessions</h2><div id="sessions"></div></section>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
