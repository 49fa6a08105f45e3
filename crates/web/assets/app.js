// wirewatch dashboard: one page, routes in the URL's fragment (#/live,
// #/host/IP, #/process/NAME, #/history, #/alerts, #/forecast/IFACE).
//
// Safety rule of this file: every value that comes from the API (addresses,
// process names, alert text, interface names) reaches the DOM as text:
// through h() below, which only ever makes text nodes and attributes; no
// string is ever parsed as HTML. The page's Content-Security-Policy
// allows no inline script or style.
'use strict';

(function () {
  const view = document.getElementById('view');
  const statusLine = document.getElementById('status');
  const BYS = ['pair', 'host', 'process', 'port'];
  const WINDOWS = ['2s', '10s', '40s'];
  const RANGES = ['1h', '6h', '24h', '7d', '30d'];
  const HISTORY_BYS = ['host', 'local', 'remote', 'pair', 'process', 'port', 'iface'];
  const SEVERITIES = ['low', 'medium', 'high', 'critical'];
  const HOST_KEYS = ['src', 'dst', 'addr', 'client', 'host', 'server', 'ip'];

  // ------------------------------------------------------------ DOM helpers

  /** An element with properties and children; strings become text nodes. */
  function h(tag, props, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'data') for (const [dk, dv] of Object.entries(v)) e.dataset[dk] = String(dv);
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, String(v));
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return e;
  }

  /** A link to another page of the dashboard; `parts` are encoded. */
  function link(text, page, ...parts) {
    const path = [page, ...parts.map(encodeURIComponent)].join('/');
    return h('a', { href: '#/' + path }, text);
  }

  /**
   * An address as a link to its page: its host name (from reverse DNS,
   * `*_name` in the API) when known, with the address on a second line
   * and as the tooltip; else the address.
   */
  function hostLink(ip, name) {
    if (!ip) return h('span', { class: 'muted' }, '–');
    if (!name) return link(ip, 'host', ip);
    return h('span', { class: 'host', title: ip }, link(name, 'host', ip), h('span', { class: 'addr muted' }, ip));
  }

  /** An address as plain text: "name (address)" when the name is known. */
  function hostText(ip, name) {
    return name ? name + ' (' + ip + ')' : ip || '';
  }

  function processLink(p) {
    if (!p || !p.name) return h('span', { class: 'muted' }, '(no process)');
    return h('span', null, link(p.name, 'process', p.name), p.pid ? ' ' + p.pid : '');
  }

  /** "not available: <error>" for a part of a page whose endpoint failed. */
  function unavailable(what, res) {
    return h('p', { class: 'unavailable', data: { unavailable: what } },
      'not available: ' + res.error + ' (' + what + ')');
  }

  function replace(el, ...kids) {
    el.replaceChildren(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false));
  }

  // --------------------------------------------------------------- numbers

  const UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];

  function fmtBytes(n) {
    if (n === null || n === undefined || Number.isNaN(n)) return '–';
    let i = 0;
    let v = Number(n);
    while (Math.abs(v) >= 1000 && i < UNITS.length - 1) { v /= 1000; i++; }
    const digits = i === 0 ? 0 : Math.abs(v) < 10 ? 2 : Math.abs(v) < 100 ? 1 : 0;
    return v.toFixed(digits) + ' ' + UNITS[i];
  }

  function fmtRate(n) { return fmtBytes(n) + '/s'; }

  function fmtBits(n) {
    if (n === null || n === undefined) return '–';
    return fmtBytes(n).replace(/B$/, 'bit') + '/s';
  }

  function fmtCount(n) { return n === null || n === undefined ? '–' : Number(n).toLocaleString('en'); }

  function fmtMs(n) { return n === null || n === undefined ? '–' : Number(n).toFixed(1) + ' ms'; }

  function fmtTime(epochS) {
    if (!epochS) return '–';
    return new Date(epochS * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  }

  function epoch(iso) { return Date.parse(iso) / 1000; }

  /** A number cell: formatted text, the exact value in data-value and title. */
  function num(value, fmt, cls) {
    return h('td', { class: cls || null, title: value === null || value === undefined ? null : fmtCount(value), data: { value: value === null || value === undefined ? '' : value } }, fmt(value));
  }

  // ------------------------------------------------------------------- API

  /** GET a JSON endpoint: {data} or {error, status}. */
  async function api(path) {
    let r;
    try {
      r = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store' });
    } catch (e) {
      return { status: 0, error: 'network error: ' + e.message };
    }
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    if (!r.ok) return { status: r.status, error: (body && body.error) || 'HTTP ' + r.status };
    if (body === null) return { status: r.status, error: 'the answer is not JSON' };
    return { status: r.status, data: body };
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') q.set(k, v);
    const s = q.toString();
    return s ? '?' + s : '';
  }

  function setStatus(text) { statusLine.textContent = text; }

  /** The run's state and time in the status line, once (the live page keeps it current). */
  async function showStatus() {
    const r = await api('/api/v1/status');
    if (r.error) setStatus('status not available: ' + r.error);
    else if (document.body.dataset.page !== 'live') setStatus(r.data.mode + ' ' + r.data.state + (r.data.time ? ' · ' + fmtTime(r.data.time) : ''));
  }

  function ready(what) { document.body.dataset.ready = what; }

  // ---------------------------------------------------------------- charts

  function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

  const PALETTE = ['#4263eb', '#e8590c', '#2f9e44', '#ae3ec9', '#1098ad', '#f08c00', '#e64980', '#5c7cfa'];

  function axes(yFmt) {
    const stroke = css('--muted');
    const grid = { stroke: css('--line'), width: 1 };
    return [
      { stroke, grid, ticks: grid },
      { stroke, grid, ticks: grid, size: 90, values: (u, vals) => vals.map(yFmt) },
    ];
  }

  /** A uPlot chart in `el` that follows the element's width; returns a stop function. */
  function chart(el, opts, data) {
    if (typeof window.uPlot !== 'function') {
      replace(el, unavailable('chart', { error: 'the chart library did not load' }));
      return () => {};
    }
    const height = opts.height || 220;
    const width = () => Math.max(240, el.clientWidth || 600);
    const u = new window.uPlot(Object.assign({ width: width(), height }, opts), data, el);
    const resize = () => u.setSize({ width: width(), height });
    window.addEventListener('resize', resize);
    return () => { window.removeEventListener('resize', resize); u.destroy(); };
  }

  // ----------------------------------------------------------- top tables

  function entityCells(by, e) {
    if (by === 'host') return [h('td', { class: 'l who src', data: { addr: e.src || '' } }, hostLink(e.src, e.src_name))];
    if (by === 'process') return [h('td', { class: 'l who' }, processLink(e.process))];
    const ports = e.protocol ? [e.protocol, e.src_port !== null ? ' ' + e.src_port : '', e.dst_port !== null ? ' → ' + e.dst_port : ''].join('') : '';
    if (by === 'port') {
      return [h('td', { class: 'l who' }, ports || '–', ' ', h('span', { class: 'muted' }, hostText(e.src, e.src_name), e.dst ? ' ⇄ ' + hostText(e.dst, e.dst_name) : ''))];
    }
    return [
      h('td', { class: 'l who src', data: { addr: e.src || '' } }, hostLink(e.src, e.src_name)),
      h('td', { class: 'l who dst', data: { addr: e.dst || '' } }, hostLink(e.dst, e.dst_name)),
      h('td', { class: 'l wide' }, ports || '–'),
      h('td', { class: 'l wide' }, processLink(e.process)),
    ];
  }

  function entityHeads(by) {
    if (by === 'pair') return [h('th', { class: 'l' }, 'source'), h('th', { class: 'l' }, 'destination'), h('th', { class: 'l wide' }, 'protocol, ports'), h('th', { class: 'l wide' }, 'process')];
    return [h('th', { class: 'l' }, by)];
  }

  /**
   * An entry's TCP health cells (--tcp): its smoothed RTT, and its
   * retransmitted segments sent / received (the sum in data-value).
   */
  function tcpCells(e) {
    const t = e.tcp;
    if (!t) return [num(null, fmtMs, 'tcp rtt'), num(null, fmtCount, 'tcp retrans')];
    const r = t.retransmissions || [0, 0];
    return [
      num(t.rtt_ms ? t.rtt_ms.smoothed : null, fmtMs, 'tcp rtt'),
      h('td', { class: 'tcp retrans', title: '↑ sent ' + fmtCount(r[0]) + ', ↓ received ' + fmtCount(r[1]), data: { value: r[0] + r[1] } },
        fmtCount(r[0]) + ' / ' + fmtCount(r[1])),
    ];
  }

  /** The top table: every window's rates sent and received, the bytes, and the TCP health when entries carry it. */
  function topTable(by, win, entries) {
    const cls = (w) => (w === win ? null : 'wide');
    const tcp = entries.some((e) => e.tcp);
    const head = h('tr', null, entityHeads(by),
      WINDOWS.map((w) => [h('th', { class: cls(w) }, '↑ ' + w), h('th', { class: cls(w) }, '↓ ' + w)]),
      h('th', { class: 'wide' }, 'bytes ↑'), h('th', { class: 'wide' }, 'bytes ↓'),
      tcp ? [h('th', { class: 'tcp', title: 'smoothed round-trip time (--tcp)' }, 'RTT'), h('th', { class: 'tcp', title: 'retransmitted segments sent / received (--tcp)' }, 'retrans ↑/↓')] : null);
    const rows = entries.map((e) => h('tr', { class: 'entry' }, entityCells(by, e),
      WINDOWS.map((w) => [
        num(e.src_to_dst['rate_' + w + '_bytes_per_s'], fmtRate, 'sent ' + (cls(w) || '')),
        num(e.dst_to_src['rate_' + w + '_bytes_per_s'], fmtRate, 'recv ' + (cls(w) || '')),
      ]),
      num(e.src_to_dst.bytes, fmtBytes, 'wide sent bytes-sent'),
      num(e.dst_to_src.bytes, fmtBytes, 'wide recv bytes-received'),
      tcp ? tcpCells(e) : null));
    if (!rows.length) rows.push(h('tr', null, h('td', { class: 'l muted', colspan: 12 }, 'no traffic in this window')));
    return h('div', { class: 'tablewrap' }, h('table', { class: 'toptable', data: { by, window: win } }, h('thead', null, head), h('tbody', null, rows)));
  }

  function buttons(current, values, onPick, label) {
    return h('span', { class: 'controls' }, label ? h('label', null, label) : null,
      values.map((v) => h('button', { type: 'button', class: v === current ? 'on' : null, data: { value: v }, onclick: () => onPick(v) }, v)));
  }

  /** Sets one parameter of the current route and navigates. */
  function navParam(route, key, value) {
    const p = new URLSearchParams(route.params);
    p.set(key, value);
    location.hash = '#/' + route.path + '?' + p.toString();
  }

  // ------------------------------------------------------------ interfaces

  function ifaceCards(ifaces, decodeErrors) {
    const cards = (ifaces || []).map((i) => h('div', { class: 'card iface', data: { name: i.name } },
      h('div', { class: 'k' }, i.name, ' · ', i.state || 'file'),
      h('div', { class: 'v' }, h('span', { class: 'sent' }, '↑ ' + fmtBytes(i.transmit_bytes)), '  ', h('span', { class: 'recv' }, '↓ ' + fmtBytes(i.receive_bytes))),
      h('div', { class: 'k' }, 'kernel drops: ', i.kernel_dropped === null || i.kernel_dropped === undefined ? '– (not a live capture)' : fmtCount(i.kernel_dropped))));
    const errs = Object.entries(decodeErrors || {}).filter(([, n]) => n > 0);
    const total = errs.reduce((s, [, n]) => s + n, 0);
    cards.push(h('div', { class: 'card', data: { decodeErrors: total } },
      h('div', { class: 'k' }, 'decode errors'),
      h('div', { class: 'v' }, fmtCount(total)),
      h('div', { class: 'k' }, errs.map(([r, n]) => r + ' ' + fmtCount(n)).join(', ') || 'none')));
    return cards;
  }

  function totalsCards(t) {
    if (!t) return [];
    const sent = t.sent_bytes_per_s || t.sent_rates_bytes_per_s || [];
    const recv = t.received_bytes_per_s || t.received_rates_bytes_per_s || [];
    return WINDOWS.map((w, i) => h('div', { class: 'card' }, h('div', { class: 'k' }, 'all traffic, ' + w),
      h('div', { class: 'v' }, h('span', { class: 'sent' }, '↑ ' + fmtRate(sent[i])), '  ', h('span', { class: 'recv' }, '↓ ' + fmtRate(recv[i])))));
  }

  // ------------------------------------------------------------ TCP health

  /**
   * The run's TCP health (--tcp; the `tcp` object of /api/v1/status and
   * of the stream's snapshots): counter cards and the handshake RTT
   * histogram, one meter per bucket. Nothing without --tcp.
   */
  function tcpHealth(t) {
    if (!t) return [];
    const pct = t.segments ? ' (' + (100 * t.retransmissions / t.segments).toFixed(2) + ' %)' : '';
    const card = (k, v, key) => h('div', { class: 'card', data: { tcp: key } }, h('div', { class: 'k' }, k), h('div', { class: 'v', data: { value: v } }, fmtCount(v)));
    const rtt = t.handshake_rtt_ms || {};
    const cards = h('div', { class: 'cards' },
      card('connections analysed', t.connections, 'connections'),
      h('div', { class: 'card', data: { tcp: 'retransmissions' } }, h('div', { class: 'k' }, 'retransmissions'),
        h('div', { class: 'v', data: { value: t.retransmissions } }, fmtCount(t.retransmissions) + pct)),
      card('out of order', t.out_of_order, 'out_of_order'),
      card('duplicate ACKs', t.duplicate_acks, 'duplicate_acks'),
      card('zero window', t.zero_window, 'zero_window'),
      h('div', { class: 'card', data: { tcp: 'handshake' } }, h('div', { class: 'k' }, 'handshake RTT p50 / p95'),
        h('div', { class: 'v' }, fmtMs(rtt.p50) + ' / ' + fmtMs(rtt.p95))));
    return [cards, h('div', { class: 'histograms' },
      rttHistogram('handshake', 'handshake RTTs (' + fmtCount(t.handshakes) + ')', t.handshake_rtt_buckets),
      rttHistogram('smoothed', 'smoothed RTTs, one per connection direction (' + fmtCount(t.rtt_count) + ')', t.rtt_buckets))];
  }

  /** An RTT histogram: one row per bucket of /metrics' histogram, a meter and the count. */
  function rttHistogram(name, title, buckets) {
    const list = buckets || [];
    const most = Math.max(1, ...list.map((b) => b.count));
    let lower = 0;
    const rows = list.map((b) => {
      const label = b.le_ms === null ? '> ' + lower + ' ms' : lower + '–' + b.le_ms + ' ms';
      lower = b.le_ms === null ? lower : b.le_ms;
      return h('tr', { class: 'bucket', data: { count: b.count } }, h('td', { class: 'l' }, label),
        h('td', { class: 'l bar' }, h('meter', { min: 0, max: most, value: b.count, title: fmtCount(b.count) })),
        h('td', null, fmtCount(b.count)));
    });
    return h('div', { class: 'panel', data: { histogram: name } }, h('div', { class: 'k muted' }, title),
      h('table', { class: 'rtt-histogram' }, h('tbody', null, rows)));
  }

  // ------------------------------------------------------------- live page

  /** The interface total's sparkline in `el`, its points in `numbersEl`. */
  function sparkChart(el, numbersEl) {
    let stop = null;
    let last = '';
    return {
      set(points) {
        const key = JSON.stringify(points);
        if (key === last) return;
        last = key;
        const data = [points.map((p) => p[0]), points.map((p) => p[1]), points.map((p) => p[2])];
        // Kept open across updates when the reader opened it.
        const open = !!numbersEl.querySelector('details[open]');
        replace(numbersEl, numbersTable('numbers: 2 s rates', data[0], [{ name: 'sent', values: data[1] }, { name: 'received', values: data[2] }], fmtRate));
        if (open) numbersEl.firstChild.open = true;
        if (stop) stop();
        stop = chart(el, {
          height: 140,
          legend: { show: true },
          // One point: show the minute before it rather than years around it.
          scales: { x: data[0].length > 1 ? { time: true } : { time: true, range: [data[0][0] - 60, data[0][0] + 1] } },
          axes: axes((v) => fmtRate(v)),
          series: [{}, { label: 'sent', stroke: css('--sent'), width: 2, value: (u, v) => fmtRate(v) },
            { label: 'received', stroke: css('--recv'), width: 2, value: (u, v) => fmtRate(v) }],
        }, data);
      },
      stop() { if (stop) stop(); },
    };
  }

  /** Alert cards; those in `fresh` (arrived over the live stream) marked new. */
  function alertList(alerts, fresh) {
    if (!alerts.length) return [h('p', { class: 'muted' }, 'no alerts')];
    return alerts.map((a) => alertCard(a, fresh && fresh.has(a)));
  }

  function livePage(route, root) {
    const by = BYS.includes(route.params.get('by')) ? route.params.get('by') : 'pair';
    const win = WINDOWS.includes(route.params.get('window')) ? route.params.get('window') : '2s';
    const parts = {
      mode: h('p', { class: 'muted', id: 'live-mode' }),
      ifaces: h('div', { class: 'cards', id: 'ifaces' }),
      totals: h('div', { class: 'cards', id: 'totals' }),
      spark: h('div', { class: 'chart', id: 'spark' }),
      sparkNumbers: h('div', { id: 'spark-numbers' }),
      top: h('div', { id: 'top' }, h('p', { class: 'muted' }, 'waiting for the first snapshot…')),
      tcp: h('div', { id: 'tcp-health' }),
      alerts: h('div', { id: 'live-alerts' }),
      responses: h('div', { id: 'live-responses' }),
    };
    replace(root,
      h('h2', null, 'Interfaces'), parts.ifaces,
      h('h2', null, 'Interface total'), parts.totals, h('div', { class: 'panel' }, parts.spark, parts.sparkNumbers),
      h('h2', null, 'Top talkers'),
      h('div', { class: 'controls' }, buttons(by, BYS, (v) => navParam(route, 'by', v), 'by'), buttons(win, WINDOWS, (v) => navParam(route, 'window', v), 'sorted by')),
      parts.top, parts.mode, parts.tcp,
      h('h2', null, 'Recent alerts ', link('(all)', 'alerts')), parts.alerts,
      h('h2', null, 'Responses'), parts.responses);
    const spark = sparkChart(parts.spark, parts.sparkNumbers);
    const sparkPoints = [];
    let recent = [];
    const fresh = new Set();
    const timers = [];
    let source = null;
    // Where the numbers come from: 'events' (the stream) or 'polling'.
    const feed = (how) => { document.body.dataset.feed = how; };

    const showTop = (entries, state, time) => {
      replace(parts.top, topTable(by, win, entries || []));
      const how = document.body.dataset.feed === 'events' ? 'live stream' : 'polling';
      setStatus((state || '?') + (time ? ' · ' + fmtTime(time) : '') + ' · ' + how);
      document.body.dataset.state = state || '';
      ready('live');
    };
    const showIfaces = (d) => replace(parts.ifaces, ifaceCards(d.interfaces, d.decode_errors));
    const showTcp = (t) => replace(parts.tcp, t ? [h('h2', null, 'TCP health'), tcpHealth(t)] : []);
    const pollTcp = async () => {
      const r = await api('/api/v1/status');
      if (!r.error) showTcp(r.data.tcp);
    };
    const pollIfaces = async () => {
      const r = await api('/api/v1/interfaces');
      if (r.error) replace(parts.ifaces, unavailable('/api/v1/interfaces', r));
      else showIfaces(r.data);
    };
    const pollTop = async () => {
      const r = await api('/api/v1/top' + query({ by, window: win, limit: 10 }));
      if (r.error) { replace(parts.top, unavailable('/api/v1/top', r)); return; }
      const d = r.data;
      replace(parts.totals, totalsCards(d.totals));
      if (d.totals && d.at) {
        const p = [d.at, d.totals.sent_rates_bytes_per_s[0], d.totals.received_rates_bytes_per_s[0]];
        if (!sparkPoints.length || sparkPoints[sparkPoints.length - 1][0] !== p[0]) sparkPoints.push(p);
        if (sparkPoints.length > 60) sparkPoints.shift();
        spark.set(sparkPoints);
      }
      showTop(d.entries, d.state, d.at);
    };
    const poll = () => {
      feed('polling');
      parts.mode.textContent = 'The live stream (/api/v1/events) is not available: polling /api/v1/top every 2 s.';
      pollTop();
      pollIfaces();
      pollTcp();
      timers.push(setInterval(() => { pollTop(); pollIfaces(); pollTcp(); }, 2000));
    };
    let responses = [];
    const showResponses = () => replace(parts.responses, responseList(responses));
    const loadResponses = async () => {
      const r = await api('/api/v1/responses?limit=5');
      if (r.error) { replace(parts.responses, unavailable('/api/v1/responses', r)); return; }
      responses = r.data.responses || [];
      showResponses();
    };
    const loadAlerts = async () => {
      const r = await api('/api/v1/alerts?limit=5');
      if (r.error) { replace(parts.alerts, unavailable('/api/v1/alerts', r)); return; }
      // Those that came over the stream meanwhile are in the answer too.
      recent = r.data.alerts || [];
      fresh.clear();
      replace(parts.alerts, alertList(recent));
    };

    if (typeof window.EventSource === 'function') {
      source = new EventSource('/api/v1/events');
      let opened = false;
      source.addEventListener('open', () => {
        opened = true;
        feed('events');
        parts.mode.textContent = 'Live: updated by the server every second (/api/v1/events).';
      });
      source.addEventListener('snapshot', (ev) => {
        const s = JSON.parse(ev.data);
        if (s.interfaces) showIfaces({ interfaces: s.interfaces, decode_errors: s.decode_errors || {} });
        replace(parts.totals, totalsCards(s.totals));
        if (Array.isArray(s.spark)) spark.set(s.spark);
        showTcp(s.tcp);
        const views = s.top && s.top[by];
        showTop(views ? views[win] : [], s.state, s.time);
      });
      source.addEventListener('alert', (ev) => {
        const a = JSON.parse(ev.data);
        fresh.add(a);
        recent = [a, ...recent].slice(0, 5);
        replace(parts.alerts, alertList(recent, fresh));
      });
      source.addEventListener('response', (ev) => {
        responses = [JSON.parse(ev.data), ...responses].slice(0, 5);
        showResponses();
      });
      source.addEventListener('error', () => {
        if (source.readyState === EventSource.CLOSED && !opened) { source.close(); source = null; poll(); }
      });
      // Decode errors are not in the snapshot: read them now and then.
      timers.push(setInterval(() => { if (source) pollIfaces(); }, 5000));
      pollIfaces();
    } else {
      poll();
    }
    loadAlerts();
    loadResponses();
    return () => { if (source) source.close(); timers.forEach(clearInterval); spark.stop(); };
  }

  // ------------------------------------------------------------- alerts

  function entityLinks(entity) {
    if (!entity) return [];
    const out = [];
    for (const [k, v] of Object.entries(entity)) {
      if (k === 'type' || v === null || typeof v === 'object') continue;
      const value = String(v);
      let node = value;
      if (HOST_KEYS.includes(k)) node = link(value, 'host', value);
      else if (k === 'process' || (entity.type === 'process' && k === 'name')) node = link(value, 'process', value);
      out.push(h('span', { class: 'entity', data: { key: k } }, k + ' ', node, ' '));
    }
    return out;
  }

  function evidence(ev) {
    if (!ev) return null;
    const rows = [];
    if (ev.observed !== undefined) rows.push(['observed', fmtNum(ev.observed) + (ev.unit ? ' ' + ev.unit : '')]);
    if (ev.threshold !== undefined) rows.push(['threshold', fmtNum(ev.threshold)]);
    if (ev.score !== undefined) rows.push(['score', fmtNum(ev.score)]);
    for (const c of ev.contributors || []) rows.push([c.feature, fmtNum(c.value)]);
    return h('dl', { class: 'evidence' }, rows.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
  }

  function fmtNum(v) {
    if (typeof v !== 'number') return String(v);
    return Number.isInteger(v) ? fmtCount(v) : String(Math.round(v * 1000) / 1000);
  }

  /** The responder's decisions: "blocked … until 14:05 UTC", "would block … (dry-run)". */
  function responseList(list) {
    if (!list.length) return [h('p', { class: 'muted' }, 'no responses (--respond is off, or no alert matched its policy)')];
    return list.map((r) => h('div', { class: 'panel response', data: { outcome: r.outcome || '' } },
      h('span', { class: 'badge' }, r.outcome || '?'), ' ', h('span', { class: 'muted' }, r.time || ''), ' ', r.line || ''));
  }

  /** One alert; `isNew`: it arrived while the page was open. */
  function alertCard(a, isNew) {
    const sev = SEVERITIES.includes(a.severity) ? a.severity : 'low';
    return h('div', { class: 'panel alert ' + sev + (isNew ? ' new' : ''), data: { kind: a.kind || '' } },
      h('div', null, isNew ? [h('span', { class: 'badge' }, 'new'), ' '] : null, h('span', { class: 'sev sev-' + sev }, a.severity || '?'), ' ', h('b', null, a.kind || '?'), ' ',
        h('span', { class: 'muted' }, a.time || ''), a.suppressed ? h('span', { class: 'muted' }, ' (+' + a.suppressed + ' suppressed)') : null),
      h('div', { class: 'entities' }, entityLinks(a.entity)),
      h('p', { class: 'summary' }, a.summary || ''),
      evidence(a.evidence),
      a.action ? h('p', { class: 'action' }, h('b', null, 'Suggested action: '), a.action) : null);
  }

  function alertsPage(route, root) {
    const p = route.params;
    const f = { kind: p.get('kind') || '', severity: p.get('severity') || '', entity: p.get('entity') || '' };
    const kind = h('input', { name: 'kind', value: f.kind, placeholder: 'kind (syn_flood…)', size: 16 });
    const severity = h('select', { name: 'severity' }, h('option', { value: '' }, 'any severity'),
      SEVERITIES.map((s) => h('option', { value: s, selected: s === f.severity ? 'selected' : null }, s + ' and above')));
    const entity = h('input', { name: 'entity', value: f.entity, placeholder: 'entity (address, name…)', size: 20 });
    const apply = (ev) => {
      ev.preventDefault();
      const q = new URLSearchParams();
      if (kind.value) q.set('kind', kind.value);
      if (severity.value) q.set('severity', severity.value);
      if (entity.value) q.set('entity', entity.value);
      location.hash = '#/alerts?' + q.toString();
    };
    const list = h('div', { id: 'alerts' }, h('p', { class: 'muted' }, 'loading…'));
    replace(root, h('h2', null, 'Alerts'),
      h('form', { class: 'controls', onsubmit: apply }, kind, severity, entity, h('button', { type: 'submit' }, 'filter')),
      list);
    (async () => {
      const r = await api('/api/v1/alerts' + query(Object.assign({ limit: 200 }, f)));
      if (r.error) replace(list, unavailable('/api/v1/alerts', r));
      else {
        const alerts = r.data.alerts || [];
        replace(list, h('p', { class: 'muted' }, alerts.length + ' alert(s)' + (r.data.dropped ? ', ' + r.data.dropped + ' older ones dropped from the list' : '')), alertList(alerts));
      }
      ready('alerts');
    })();
    return () => {};
  }

  // ------------------------------------------------------------- history

  function seriesTimes(line) { return line.points.map((pt) => epoch(pt.ts)); }

  /**
   * The bands of a stacked chart, bytes per bucket: each line, then
   * "other", which is `copies` × the total minus the lines. A flow counts
   * for each entity it has: by host both its ends (copies 2), by local,
   * remote, pair, process, port or interface one (copies 1).
   */
  function stackBands(lines, total, copies) {
    const bands = lines.map((l) => ({ name: l.name, bytes: l.points.map((pt) => pt.bytes) }));
    if (total) {
      const other = total.points.map((pt, i) => Math.max(0, copies * pt.bytes - bands.reduce((s, b) => s + (b.bytes[i] || 0), 0)));
      bands.push({ name: 'other', bytes: other, other: true });
    }
    return bands;
  }

  /** The numbers behind a chart, one row per time, in a disclosure under it. */
  function numbersTable(caption, x, columns, fmt) {
    const head = h('tr', null, h('th', { class: 'l' }, 'time'), columns.map((c) => h('th', { data: { name: c.name } }, c.name)));
    const rows = x.map((t, i) => h('tr', null, h('td', { class: 'l' }, fmtTime(t)), columns.map((c) => num(c.values[i], fmt))));
    return h('details', { class: 'numbers' }, h('summary', null, caption),
      h('div', { class: 'tablewrap' }, h('table', { class: 'chart-numbers' }, h('thead', null, head), h('tbody', null, rows))));
  }

  /**
   * Stacked areas in `el` (bits/s; each band drawn as the running sum, the
   * last band on top) and the bytes of each band per bucket in `numbersEl`.
   */
  function stackedChart(el, numbersEl, bands, x, step) {
    const own = bands.map((b) => b.bytes.map((v) => (v * 8) / step));
    const names = bands.map((b) => b.name);
    const colors = bands.map((b, i) => (b.other ? css('--other') : PALETTE[i % PALETTE.length]));
    // Series k (drawn later, so on top) is the sum of bands 0..k; draw from the largest sum down.
    const cum = own.map((_, k) => x.map((__, i) => own.slice(0, k + 1).reduce((s, o) => s + (o[i] || 0), 0)));
    const order = names.map((_, k) => names.length - 1 - k);
    replace(numbersEl, numbersTable('numbers: bytes per ' + step + ' s', x, bands.map((b) => ({ name: b.name, values: b.bytes })), fmtBytes));
    return chart(el, {
      height: 260,
      scales: { x: { time: true } },
      axes: axes(fmtBits),
      series: [{}].concat(order.map((k) => ({
        label: names[k], stroke: colors[k], fill: colors[k], width: 1, points: { show: false },
        value: (u, v, si, idx) => (idx === null ? '–' : fmtBits(own[k][idx])),
      }))),
    }, [x].concat(order.map((k) => cum[k])));
  }

  function rangeNote(d) {
    const bits = [];
    if (d.from || d.until) bits.push('from ' + (d.from || '?') + ' until ' + (d.until || '?'));
    if (d.step_seconds) bits.push('step ' + d.step_seconds + ' s');
    if (d.resolutions) bits.push('resolutions ' + d.resolutions.join(', '));
    if (d.covered) bits.push('covered ' + JSON.stringify(d.covered));
    return bits.join(' · ');
  }

  function notesList(notes) {
    if (!notes || !notes.length) return null;
    return h('ul', { class: 'notes' }, notes.map((n) => h('li', null, typeof n === 'string' ? n : JSON.stringify(n))));
  }

  /** A history key as a link to its page; merged or unknown ones ("(merged)") as text. */
  function historyKey(key, by) {
    if (/^\(/.test(key)) return key;
    if (by === 'host' || by === 'local' || by === 'remote') return hostLink(key);
    return by === 'process' ? link(key, 'process', key) : key;
  }

  /** The top table of the history; `subject` (a host's own line on its page) left out. */
  function historyTopTable(d, by, subject) {
    const entries = (d.entries || []).filter((e) => e.key !== subject);
    const rows = entries.map((e) => h('tr', { class: 'entry', data: { key: e.key } },
      h('td', { class: 'l who' }, historyKey(e.key, by)),
      num(e.bytes, fmtBytes, 'bytes'), num(e.bytes_out, fmtBytes, 'sent out'), num(e.bytes_in, fmtBytes, 'recv in'),
      num((e.packets_in || 0) + (e.packets_out || 0), fmtCount, 'wide')));
    if (!rows.length) rows.push(h('tr', null, h('td', { class: 'l muted', colspan: 5 }, 'nothing recorded in this range')));
    const others = subject === undefined ? d.entities : Math.max(0, d.entities - 1);
    return h('div', { class: 'tablewrap' }, h('table', { class: 'history-top', data: { by } },
      h('thead', null, h('tr', null, h('th', { class: 'l' }, subject === undefined ? by : 'peer'), h('th', null, 'bytes'), h('th', null, 'out'), h('th', null, 'in'), h('th', { class: 'wide' }, 'packets'))),
      h('tbody', null, rows)),
    h('p', { class: 'muted' }, fmtCount(others) + ' ' + (subject === undefined ? by + ' entities' : 'peers') + ' in all'));
  }

  /** Lines of the stacked chart and rows of the top table. */
  const CHART_LINES = 5;
  const TOP_ROWS = 10;

  /**
   * Series (one stacked chart with "other") and top (one table) of the
   * history for `filter`, grouped by `by`. `subject`: the entity whose page
   * this is, left out of both (by host, its own line is all its traffic);
   * `copies`: how many entities of `by` each flow counts for.
   */
  function historyParts(root, filter, by, since, stops, subject, copies) {
    const chartEl = h('div', { class: 'chart stacked' });
    const numbersEl = h('div');
    const covered = h('p', { class: 'muted range' });
    const topEl = h('div', null, h('p', { class: 'muted' }, 'loading…'));
    replace(root, h('div', { class: 'panel' }, chartEl, covered, numbersEl), topEl);
    const base = Object.assign({ since }, filter);
    const extra = subject === undefined ? 0 : 1;
    return (async () => {
      const [series, total, top] = await Promise.all([
        api('/api/v1/history/series' + query(Object.assign({ by, limit: CHART_LINES + extra }, base))),
        api('/api/v1/history/series' + query(base)),
        api('/api/v1/history/top' + query(Object.assign({ by, limit: TOP_ROWS + extra }, base))),
      ]);
      if (series.error || total.error) {
        replace(chartEl, unavailable('/api/v1/history/series', series.error ? series : total));
      } else if (!(total.data.lines || []).length) {
        replace(chartEl, h('p', { class: 'muted' }, 'no traffic recorded in this range'));
      } else {
        const line = total.data.lines[0];
        const lines = (series.data.lines || []).filter((l) => l.name !== subject).slice(0, CHART_LINES);
        const bands = stackBands(lines, line, copies);
        stops.push(stackedChart(chartEl, numbersEl, bands, seriesTimes(line), series.data.step_seconds || 60));
        const twice = copies > 1 ? ' · each flow counts for both its ' + by + 's: the bands add up to ' + copies + '× the traffic' : '';
        replace(covered, rangeNote(series.data) + twice, notesList(series.data.notes));
      }
      replace(topEl, top.error ? unavailable('/api/v1/history/top', top) : historyTopTable(top.data, by, subject));
    })();
  }

  function historyPage(route, root) {
    const by = HISTORY_BYS.includes(route.params.get('by')) ? route.params.get('by') : 'host';
    const since = route.params.get('since') || '24h';
    const body = h('div');
    replace(root, h('h2', null, 'History'),
      h('div', { class: 'controls' }, buttons(since, RANGES, (v) => navParam(route, 'since', v), 'last'), buttons(by, HISTORY_BYS, (v) => navParam(route, 'by', v), 'by')),
      body);
    const stops = [];
    historyParts(body, {}, by, since, stops, undefined, by === 'host' ? 2 : 1).then(() => ready('history'));
    return () => stops.forEach((s) => s());
  }

  // ------------------------------------------------------------- drill-down

  function portsTable(ports) {
    const rows = (ports || []).map((p) => h('tr', null, h('td', { class: 'l' }, (p.protocol || '') + ' ' + p.port),
      num(p.sent_bytes, fmtBytes, 'sent'), num(p.received_bytes, fmtBytes, 'recv')));
    if (!rows.length) rows.push(h('tr', null, h('td', { class: 'l muted', colspan: 3 }, 'none')));
    return h('div', { class: 'tablewrap' }, h('table', { class: 'ports' },
      h('thead', null, h('tr', null, h('th', { class: 'l' }, 'port'), h('th', null, 'sent'), h('th', null, 'received'))),
      h('tbody', null, rows)));
  }

  function entityPage(kind, route, root) {
    const name = route.arg;
    const win = WINDOWS.includes(route.params.get('window')) ? route.params.get('window') : '40s';
    const since = route.params.get('since') || '24h';
    const live = h('div', null, h('p', { class: 'muted' }, 'loading…'));
    const hist = h('div');
    const title = h('h2', { class: 'entity-title' }, kind + ' ', h('span', { class: 'name' }, name));
    replace(root, title,
      h('div', { class: 'controls' }, buttons(win, WINDOWS, (v) => navParam(route, 'window', v), 'window')),
      live,
      h('h2', null, 'History'), h('div', { class: 'controls' }, buttons(since, RANGES, (v) => navParam(route, 'since', v), 'last')), hist);
    const stops = [];
    const filter = kind === 'host' ? { host: name } : { process: name };
    // A host's peers: every host of its flows but itself; a process's: the remote ends.
    const peersBy = kind === 'host' ? 'host' : 'remote';
    (async () => {
      const r = await api('/api/v1/' + kind + '/' + encodeURIComponent(name) + query({ window: win }));
      if (r.error) replace(live, unavailable('/api/v1/' + kind + '/…', r));
      else {
        if (r.data.host_name) title.append(' ', h('span', { class: 'host-name' }, r.data.host_name));
        replace(live, h('h2', null, 'Peers (live, ' + win + ')'), topTable('pair', win, r.data.peers || []),
          h('h2', null, 'Ports'), portsTable(r.data.ports),
          h('h2', null, 'Alerts'), alertList(r.data.alerts || []));
      }
      await historyParts(hist, filter, peersBy, since, stops, kind === 'host' ? name : undefined, 1);
      ready(kind);
    })();
    return () => stops.forEach((s) => s());
  }

  // ------------------------------------------------------------- forecast

  /** The forecast endpoint's keys the page passes on from its URL, with their defaults. */
  const FORECAST_KEYS = { step: '5m', horizon: '24h', history: '28d', until: 'now', capacity: 'none', method: 'auto' };

  /**
   * History, forecast, the 95 % and 80 % bands and the capacity line in
   * `el` (bit/s), and the same numbers in `numbersEl`.
   */
  function forecastChart(el, numbersEl, d, dir, histPoints) {
    const pts = dir.points || [];
    const fx = pts.map((p) => epoch(p.time));
    const start = fx.length ? fx[0] : Infinity;
    const past = histPoints.filter((p) => p[0] < start);
    const hx = past.map((p) => p[0]);
    const x = hx.concat(fx);
    const later = (vals) => new Array(hx.length).fill(null).concat(vals);
    const key = (k) => later(pts.map((p) => (p[k] === undefined ? null : p[k])));
    const cols = [
      { name: 'history', values: past.map((p) => p[1]).concat(new Array(fx.length).fill(null)), s: { stroke: css('--fg'), width: 1.5 } },
      { name: 'forecast', values: key('forecast'), s: { stroke: css('--accent'), width: 2, dash: [6, 4] } },
    ];
    const bands = [];
    for (const level of [95, 80]) {
      if (!pts.some((p) => p['upper' + level] !== undefined)) continue;
      const color = css(level === 95 ? '--band95' : '--band80');
      cols.push({ name: 'upper ' + level + ' %', values: key('upper' + level), s: { stroke: color, width: 1 } },
        { name: 'lower ' + level + ' %', values: key('lower' + level), s: { stroke: color, width: 1 } });
      // Series 0 is the time: column i is series i + 1.
      bands.push({ series: [cols.length - 1, cols.length], fill: color });
    }
    if (d.capacity && d.capacity.bits_per_sec) {
      cols.push({ name: 'capacity', values: x.map(() => d.capacity.bits_per_sec), s: { stroke: css('--high'), width: 1.5, dash: [2, 3] } });
    }
    replace(numbersEl, numbersTable('numbers: bit/s per ' + d.step_secs + ' s', x, cols, fmtBits));
    const series = [{}].concat(cols.map((c) => Object.assign({ label: c.name, value: (u, v) => fmtBits(v), points: { show: false } }, c.s)));
    return chart(el, { height: 280, scales: { x: { time: true } }, axes: axes(fmtBits), series, bands }, [x].concat(cols.map((c) => c.values)));
  }

  /** The history the forecast learned from, as [time, bit/s] at its step. */
  async function forecastHistory(d, iface, inbound) {
    const hist = d.history || {};
    if (!hist.from || !hist.to) return { points: [] };
    const step = d.step_secs || 300;
    const r = await api('/api/v1/history/series' + query({ since: hist.from, until: hist.to, step: Math.max(1, Math.round(step / 60)) + 'm', iface }));
    if (r.error) return r;
    const line = (r.data.lines || [])[0];
    return { points: line ? line.points.map((p) => [epoch(p.ts), ((inbound ? p.bytes_in : p.bytes_out) * 8) / step]) : [] };
  }

  /** The form of the forecast's parameters (empty: the endpoint's default). */
  function forecastForm(route, params) {
    const inputs = Object.entries(FORECAST_KEYS).map(([k, dflt]) => h('input', { name: k, value: params[k], placeholder: dflt, size: 6 }));
    const apply = (ev) => {
      ev.preventDefault();
      const q = new URLSearchParams(route.params);
      for (const i of inputs) { if (i.value) q.set(i.name, i.value); else q.delete(i.name); }
      location.hash = '#/' + route.path + '?' + q.toString();
    };
    return h('form', { class: 'controls', onsubmit: apply }, inputs.map((i) => h('label', null, i.name + ' ', i)), h('button', { type: 'submit' }, 'forecast'));
  }

  function forecastPage(route, root) {
    const iface = route.arg || '';
    const dirName = route.params.get('direction') || 'inbound';
    const params = {};
    for (const k of Object.keys(FORECAST_KEYS)) params[k] = route.params.get(k) || '';
    const picker = h('div', { class: 'controls' });
    const body = h('div', null, h('p', { class: 'muted' }, 'loading…'));
    replace(root, h('h2', null, 'Forecast ', h('span', { class: 'name' }, iface || '(all interfaces)')), picker,
      buttons(dirName, ['inbound', 'outbound'], (v) => navParam(route, 'direction', v), 'direction'), forecastForm(route, params), body);
    const stops = [];
    (async () => {
      const ifs = await api('/api/v1/interfaces');
      if (!ifs.error) {
        replace(picker, h('label', null, 'interface'), link('all', 'forecast'),
          (ifs.data.interfaces || []).map((i) => [' ', link(i.name, 'forecast', i.name)]));
      }
      const r = await api('/api/v1/forecast' + query(Object.assign({ iface }, params)));
      if (r.error) { replace(body, unavailable('/api/v1/forecast', r)); ready('forecast'); return; }
      const d = r.data;
      const dir = (d.directions || []).find((x) => x.direction === dirName) || (d.directions || [])[0];
      if (!dir) { replace(body, h('p', { class: 'muted' }, 'no forecast')); ready('forecast'); return; }
      const hist = await forecastHistory(d, iface, dir.direction === 'inbound');
      const chartEl = h('div', { class: 'chart forecast' });
      const numbersEl = h('div');
      replace(body, h('div', { class: 'panel' }, chartEl, numbersEl),
        hist.error ? unavailable('/api/v1/history/series', hist) : null,
        h('p', { class: 'muted' }, (d.entity || '') + ' · ' + dir.direction + ' · model ' + dir.model + ' · step ' + d.step_secs + ' s · ' + d.horizon_steps + ' steps ahead' +
          (d.capacity ? ' · capacity ' + fmtBits(d.capacity.bits_per_sec) + ' (' + d.capacity.from + ')' : ' · no capacity known')),
        notesList((d.notes || []).concat(dir.notes || [])),
        (d.alerts || []).length ? [h('h2', null, 'Capacity warnings'), (d.alerts || []).map((a) => (a.summary ? alertCard(a) : h('p', null, JSON.stringify(a))))] : null);
      stops.push(forecastChart(chartEl, numbersEl, d, dir, hist.points || []));
      ready('forecast');
    })();
    return () => stops.forEach((s) => s());
  }

  // ---------------------------------------------------------------- router

  function parseHash() {
    const raw = location.hash.replace(/^#\/?/, '');
    const at = raw.indexOf('?');
    const path = at < 0 ? raw : raw.slice(0, at);
    const segs = path.split('/');
    let arg = segs.slice(1).join('/');
    try { arg = decodeURIComponent(arg); } catch (e) { /* keep it as typed */ }
    return { page: segs[0] || 'live', path, arg, params: new URLSearchParams(at < 0 ? '' : raw.slice(at + 1)) };
  }

  const PAGES = {
    live: livePage,
    history: historyPage,
    alerts: alertsPage,
    forecast: forecastPage,
    host: (route, root) => entityPage('host', route, root),
    process: (route, root) => entityPage('process', route, root),
  };

  let stopPage = () => {};

  function render() {
    stopPage();
    const route = parseHash();
    const page = PAGES[route.page] ? route.page : 'live';
    if (page !== route.page) route.path = 'live';
    delete document.body.dataset.ready;
    document.body.dataset.page = page;
    for (const a of document.querySelectorAll('nav a')) a.classList.toggle('on', a.dataset.page === page);
    if (page !== 'live') showStatus();
    stopPage = PAGES[page](route, view) || (() => {});
  }

  window.addEventListener('hashchange', render);
  // Charts take their colours when drawn: draw again when the scheme changes.
  if (window.matchMedia) window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', render);
  render();
})();
