// Chapter 12: the page of the HTML export: its style and its script, written out
// around the trace's JSON by HTMLExport. Plain ES2017 and CSS, nothing fetched.
//
// The script: reads the JSON, draws the stage timeline (widths by time, or by event
// count for a normalised trace), keeps `shown` (the indexes that pass the filters) and
// draws only the list rows in view; clicking a row (or j/k, arrows) selects an event
// and fills the details panel, and for a packet event the hop view. Errors in the
// script are caught and written to <body data-errors>, which the tests read.

enum HTMLPage {
    static func head(title: String) -> String {
        #"""
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
        <title>vitro trace: \#(title)</title>
        <script>
        window.addEventListener('error', function (e) {
          var b = document.body || document.documentElement;
          b.setAttribute('data-errors', (b.getAttribute('data-errors') || '') + (e.message || 'error') + ';');
        });
        </script>
        <style>
        :root { --fg:#1d2330; --dim:#6b7385; --bg:#fbfbfd; --line:#dde1ea; --sel:#dbe7ff; --err:#b3261e; --nat:#ffe08a;
          --pull:#8e7cc3; --unpack:#6fa8dc; --rootfs:#93c47d; --namespaces:#76a5af; --cgroups:#f6b26b; --network:#e06666; --exec:#c27ba0; --none:#b7b7b7; }
        * { box-sizing: border-box; }
        body { margin:0; font:13px/1.4 system-ui, sans-serif; color:var(--fg); background:var(--bg); }
        header { padding:8px 14px; border-bottom:1px solid var(--line); display:flex; gap:16px; align-items:baseline; flex-wrap:wrap; }
        header h1 { font-size:15px; margin:0; }
        header .meta { color:var(--dim); font-family:ui-monospace, monospace; font-size:12px; }
        #timeline { display:flex; height:34px; margin:10px 14px 4px; border-radius:4px; overflow:hidden; border:1px solid var(--line); }
        .stage-seg { display:flex; align-items:center; justify-content:center; min-width:84px; color:#fff; font-weight:600; font-size:12px;
          cursor:pointer; white-space:nowrap; overflow:hidden; text-overflow:ellipsis; padding:0 4px; border-right:1px solid #fff; }
        .stage-seg.failed { outline:3px solid var(--err); outline-offset:-3px; }
        .stage-seg.active { box-shadow: inset 0 -5px 0 rgba(0,0,0,.45); }
        #legend { margin:0 14px 8px; color:var(--dim); font-size:12px; }
        #filters { display:flex; gap:10px; padding:6px 14px; flex-wrap:wrap; align-items:center; border-top:1px solid var(--line); border-bottom:1px solid var(--line); }
        #filters select, #filters input[type=text] { font:inherit; padding:2px 4px; }
        #count { color:var(--dim); margin-left:auto; }
        main { display:grid; grid-template-columns: minmax(360px, 1.1fr) minmax(320px, 1fr); height: calc(100vh - 150px); min-height:320px; }
        #list { position:relative; overflow-y:auto; border-right:1px solid var(--line); font-family:ui-monospace, monospace; font-size:12px; }
        #spacer { position:relative; }
        .row { position:absolute; left:0; right:0; height:20px; line-height:20px; padding:0 8px; white-space:nowrap; overflow:hidden; text-overflow:ellipsis; cursor:pointer; border-bottom:1px solid #f0f1f5; }
        .row:hover { background:#f1f4fb; }
        .row.sel { background:var(--sel); }
        .row.err { color:var(--err); }
        .row .seq { display:inline-block; width:56px; color:var(--dim); }
        .row .stg { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:6px; vertical-align:-1px; }
        .row.begin { font-weight:700; }
        #details { overflow-y:auto; padding:10px 14px; }
        #details h2 { font-size:15px; margin:0 0 4px; font-family:ui-monospace, monospace; }
        #details .kind { color:var(--dim); margin-bottom:8px; }
        #details table { border-collapse:collapse; width:100%; margin:6px 0; }
        #details td { border-bottom:1px solid var(--line); padding:3px 6px; vertical-align:top; font-family:ui-monospace, monospace; font-size:12px; word-break:break-all; }
        #details td.k { color:var(--dim); width:1%; white-space:nowrap; word-break:normal; }
        .flag { display:inline-block; background:#eef1f7; border:1px solid var(--line); border-radius:3px; padding:0 4px; margin:1px 2px 1px 0; }
        .failed { color:var(--err); font-weight:600; }
        pre.shell { background:#1d2330; color:#e8eaf0; padding:8px; border-radius:4px; white-space:pre-wrap; word-break:break-all; }
        .why { background:#f3f6ee; border-left:3px solid #93c47d; padding:6px 8px; }
        #hops { margin-top:12px; }
        .topo { display:flex; align-items:center; gap:0; margin:8px 0; flex-wrap:wrap; }
        .box { border:2px solid var(--line); border-radius:6px; padding:4px 8px; min-width:92px; text-align:center; background:#fff; }
        .box .r { font-weight:600; } .box .i { font-family:ui-monospace, monospace; font-size:11px; color:var(--dim); }
        .box.here { border-color:#2a6df4; background:#e8f0ff; box-shadow:0 0 0 2px #2a6df4 inset; }
        .box.unused { opacity:.45; }
        .wire { width:28px; height:2px; background:#9aa3b5; } .wire.veth { height:4px; }
        .hopwrap { overflow-x:auto; }
        table.hops { width:auto; }
        #details table.hops td, table.hops th { font-family:ui-monospace, monospace; font-size:12px; padding:2px 6px; border-bottom:1px solid var(--line); text-align:left; white-space:nowrap; word-break:normal; }
        table.hops tr.here { background:var(--sel); }
        .nat { background:var(--nat); font-weight:700; }
        .muted { color:var(--dim); }
        </style>
        </head>
        <body>
        <header><h1>vitro trace</h1><span class="meta" id="meta"></span></header>
        <div id="timeline" role="list" aria-label="stages"></div>
        <div id="legend"></div>

        """#
    }

    static let body = #"""
        <div id="filters">
          <label>stage <select id="f-stage"><option value="*">all</option></select></label>
          <label>group <select id="f-group"><option value="*">all</option></select></label>
          <label>text <input id="f-text" type="text" placeholder="call, path, errno..." size="22"></label>
          <label><input id="f-errors" type="checkbox"> errors only</label>
          <label><input id="f-packets" type="checkbox"> packets only</label>
          <span id="count"></span>
        </div>
        <main>
          <div id="list" tabindex="0"><div id="spacer"></div></div>
          <div id="details"><p class="muted">Select an event.</p></div>
        </main>
        <script>
        (function () {
          'use strict';
          var data = JSON.parse(document.getElementById('trace-data').textContent);
          var events = data.events;
          var ROW = 20;
          var stageOrder = ['pull', 'unpack', 'rootfs', 'namespaces', 'cgroups', 'network', 'exec', ''];
          var errnos = { EPERM:'operation not permitted', ENOENT:'no such file or directory', EEXIST:'file exists', EBUSY:'device or resource busy',
            EACCES:'permission denied', EINVAL:'invalid argument', ENODEV:'no such device', EADDRINUSE:'address already in use',
            ENOSPC:'no space left on device', ENOTDIR:'not a directory', ECONNREFUSED:'connection refused', ENETUNREACH:'network is unreachable',
            EADDRNOTAVAIL:'cannot assign requested address', ENOEXEC:'exec format error', ESRCH:'no such process', EROFS:'read-only file system' };
          var $ = function (id) { return document.getElementById(id); };
          function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; }
          function failed(e) { return !!e.errno || (e.ph === 'E' && e.args && e.args.error !== undefined); }
          function stageName(s) { return s === '' ? '(outside the stages)' : s; }
          function label(e) {
            var a = e.args || {}, vals = Object.keys(a).slice(0, 3).map(function (k) { return String(a[k]).replace(/\n/g, ' '); }).join(' ');
            if (e.ph === 'B') return '== ' + e.name + ': ' + (a.title || '');
            if (e.ph === 'E') return '== end of ' + e.name + (a.error !== undefined ? ': FAILED ' + a.error : '');
            if (e.group === 'packet') return '~~ hop ' + a.hop + ' ' + a.netns + '/' + a['interface'] + ' ' + (a.direction || '') + ' ' + a.src + ' > ' + a.dst;
            if (e.ph === 'i') return '-- ' + e.name + ' ' + vals;
            return e.name + ' ' + vals + (e.errno ? ' = -1 ' + e.errno : (e.ret !== undefined ? ' = ' + e.ret : ''));
          }
          function ms(ns) { return (ns / 1e6).toFixed(3) + ' ms'; }
          function tsNs(e) { return Math.round(e.ts * 1000); }

          // Header.
          $('meta').textContent = data.title + (data.argv.length ? '  $ ' + data.argv.join(' ') : '') + '  ' + events.length + ' events' + (data.timeless ? ' (normalised: no times)' : '');

          // Stages: order, extent, failure.
          var stages = [], info = {};
          events.forEach(function (e, i) {
            var s = e.stage;
            if (!info[s]) { info[s] = { stage: s, first: i, count: 0, start: tsNs(e), end: tsNs(e), failed: false }; stages.push(s); }
            var x = info[s]; x.count++;
            x.start = Math.min(x.start, tsNs(e)); x.end = Math.max(x.end, tsNs(e) + Math.round((e.dur || 0) * 1000));
            if (e.ph === 'E' && e.args && e.args.error !== undefined) x.failed = true;
          });
          stages.sort(function (a, b) { return stageOrder.indexOf(a) - stageOrder.indexOf(b); });
          var timeline = $('timeline');
          stages.forEach(function (s) {
            var x = info[s], w = data.timeless ? x.count : Math.max(x.end - x.start, 1);
            var seg = el('div', 'stage-seg' + (x.failed ? ' failed' : ''), stageName(s));
            seg.setAttribute('role', 'listitem');
            seg.setAttribute('data-stage', s);
            seg.style.flex = String(w) + ' 1 0';
            seg.style.background = 'var(--' + (s || 'none') + ')';
            seg.title = stageName(s) + (data.stageTitles[s] ? ': ' + data.stageTitles[s] : '') + ' - ' + x.count + ' events' + (data.timeless ? '' : ', ' + ms(x.end - x.start)) + (x.failed ? ' - FAILED' : '');
            seg.addEventListener('click', function () { $('f-stage').value = (state.stage === s ? '*' : s); applyFilters(); });
            timeline.appendChild(seg);
          });
          $('legend').textContent = 'stages: ' + stages.map(function (s) { return stageName(s) + ' (' + info[s].count + ')'; }).join(' \u2192 ') + (data.timeless ? '   widths by number of events' : '   widths by time');

          // Filter choices.
          var groups = [];
          events.forEach(function (e) { if (groups.indexOf(e.group) < 0) groups.push(e.group); });
          stages.forEach(function (s) { var o = el('option', null, stageName(s)); o.value = s; $('f-stage').appendChild(o); });
          groups.sort().forEach(function (g) { var o = el('option', null, g); o.value = g; $('f-group').appendChild(o); });

          // Packets: hops grouped into packets (by args.packet, else by growing hop numbers).
          var packetOf = {}, auto = 0, lastHop = Infinity;
          events.forEach(function (e, i) {
            if (e.group !== 'packet') return;
            var a = e.args || {}, p = a.packet;
            if (p === undefined) { if (Number(a.hop) <= lastHop) auto++; p = 'auto' + auto; }
            lastHop = Number(a.hop);
            packetOf[i] = String(p);
          });
          var bridges = {}, veths = {};
          events.forEach(function (e) {
            var a = e.args || {};
            if (e.name === 'RTM_NEWLINK' && a.kind === 'bridge') bridges[a.ifname] = 1;
            if (e.name === 'RTM_NEWLINK' && a.kind === 'veth') veths[a.ifname] = 1;
            if (e.name === 'address' && a.bridge) bridges[a.bridge] = 1;
          });
          function isVeth(a) { return a.kind === 'veth' || !!veths[a['interface']] || /^(vx|veth)/.test(String(a['interface'])); }
          // Same rules as PacketPath.role: kind, the trace's links, the usual names, then
          // the place in the path (a host interface next to a veth hop is the bridge).
          function role(a, i) {
            if (['host', 'bridge', 'veth', 'container'].indexOf(a.kind) >= 0) return a.kind;
            if (a.netns !== 'host') return 'container';
            var n = String(a['interface']);
            if (bridges[n] || /^(vitro|br|docker)/.test(n)) return 'bridge';
            if (isVeth(a)) return 'veth';
            for (var k in packetOf) {
              var b = events[k].args;
              if (packetOf[k] === packetOf[i] && b.netns === 'host' && isVeth(b) && Math.abs(Number(b.hop) - Number(a.hop)) === 1) return 'bridge';
            }
            return 'host';
          }

          // The filtered list.
          var state = { stage: '*', group: '*', text: '', errors: false, packets: false, shown: [], selected: -1 };
          function searchable(e) {
            var s = (e.name + ' ' + e.group + ' ' + e.stage + ' ' + (e.errno || '') + ' ' + (e.why || '') + ' ' + (e.shell || ''));
            var a = e.args || {};
            for (var k in a) s += ' ' + k + '=' + a[k];
            return s.toLowerCase();
          }
          function applyFilters() {
            state.stage = $('f-stage').value; state.group = $('f-group').value;
            state.text = $('f-text').value.trim().toLowerCase(); state.errors = $('f-errors').checked; state.packets = $('f-packets').checked;
            var shown = [];
            for (var i = 0; i < events.length; i++) {
              var e = events[i];
              if (state.stage !== '*' && e.stage !== state.stage) continue;
              if (state.group !== '*' && e.group !== state.group) continue;
              if (state.errors && !failed(e)) continue;
              if (state.packets && e.group !== 'packet') continue;
              if (state.text && searchable(e).indexOf(state.text) < 0) continue;
              shown.push(i);
            }
            state.shown = shown;
            Array.prototype.forEach.call(document.querySelectorAll('.stage-seg'), function (s) { s.classList.toggle('active', s.getAttribute('data-stage') === state.stage); });
            $('count').textContent = shown.length + ' of ' + events.length + ' events';
            $('spacer').style.height = (shown.length * ROW) + 'px';
            $('list').scrollTop = 0;
            draw();
            if (shown.length && shown.indexOf(state.selected) < 0) select(shown[0]);
          }
          ['f-stage', 'f-group', 'f-errors', 'f-packets'].forEach(function (id) { $(id).addEventListener('change', applyFilters); });
          $('f-text').addEventListener('input', applyFilters);

          // Only the rows in view exist.
          var list = $('list'), spacer = $('spacer');
          function draw() {
            var first = Math.max(0, Math.floor(list.scrollTop / ROW) - 5);
            var last = Math.min(state.shown.length, first + Math.ceil((list.clientHeight || 600) / ROW) + 10);
            spacer.textContent = '';
            for (var n = first; n < last; n++) {
              var i = state.shown[n], e = events[i];
              var r = el('div', 'row' + (failed(e) ? ' err' : '') + (e.ph === 'B' ? ' begin' : '') + (i === state.selected ? ' sel' : ''));
              r.style.top = (n * ROW) + 'px';
              r.setAttribute('data-index', String(i));
              var dot = el('span', 'stg'); dot.style.background = 'var(--' + (e.stage || 'none') + ')';
              r.appendChild(dot);
              r.appendChild(el('span', 'seq', '#' + e.seq));
              r.appendChild(document.createTextNode(label(e)));
              spacer.appendChild(r);
            }
          }
          list.addEventListener('scroll', draw);
          window.addEventListener('resize', draw);
          spacer.addEventListener('click', function (ev) {
            var r = ev.target.closest('.row'); if (r) select(Number(r.getAttribute('data-index')));
          });
          list.addEventListener('keydown', function (ev) {
            var n = state.shown.indexOf(state.selected);
            if (ev.key === 'ArrowDown' || ev.key === 'j') n++; else if (ev.key === 'ArrowUp' || ev.key === 'k') n--; else return;
            ev.preventDefault();
            n = Math.max(0, Math.min(state.shown.length - 1, n));
            select(state.shown[n]);
            var top = n * ROW;
            if (top < list.scrollTop || top + ROW > list.scrollTop + list.clientHeight) list.scrollTop = top - list.clientHeight / 3;
          });

          // Details.
          function row(t, k, v) { var tr = el('tr'); tr.appendChild(el('td', 'k', k)); var td = el('td'); if (typeof v === 'string') td.textContent = v; else td.appendChild(v); tr.appendChild(td); t.appendChild(tr); }
          function select(i) {
            state.selected = i;
            draw();
            var e = events[i], d = $('details');
            d.textContent = '';
            if (!e) return;
            d.appendChild(el('h2', null, '#' + e.seq + ' ' + e.name));
            var kind = { X: 'kernel call', B: 'stage begins', E: 'stage ends', i: e.group === 'packet' ? 'packet seen' : 'note', M: 'header' }[e.ph];
            d.appendChild(el('div', 'kind', kind + ' \u00b7 group ' + e.group + ' \u00b7 stage ' + stageName(e.stage) + ' \u00b7 pid ' + e.pid +
              (data.timeless ? '' : ' \u00b7 at ' + ms(tsNs(e) - Number(data.start) / 1) + (e.dur !== undefined ? ' \u00b7 took ' + ms(e.dur * 1000) : ''))));
            if (e.group === 'packet') d.appendChild(hopView(i));
            if (e.errno) d.appendChild(el('p', 'failed', 'FAILED: ret ' + (e.ret === undefined ? -1 : e.ret) + ', errno ' + e.errno + (errnos[e.errno] ? ' (' + errnos[e.errno] + ')' : '')));
            else if (e.ret !== undefined) d.appendChild(el('p', null, 'ret ' + e.ret));
            if (e.ph === 'E' && e.args && e.args.error !== undefined) d.appendChild(el('p', 'failed', 'the stage failed: ' + e.args.error));
            var a = e.args || {}, keys = Object.keys(a);
            if (keys.length) {
              var t = el('table', 'args');
              keys.forEach(function (k) {
                var v = a[k];
                if (typeof v === 'string' && /flags$/.test(k) && v.indexOf('|') >= 0 || (typeof v === 'string' && /^[A-Z][A-Z0-9_]+(\|[A-Z][A-Z0-9_]+)+$/.test(v))) {
                  var span = el('span'); v.split('|').forEach(function (f) { span.appendChild(el('span', 'flag', f)); }); row(t, k, span);
                } else if (Array.isArray(v)) {
                  row(t, k, JSON.stringify(v));
                } else row(t, k, String(v));
              });
              d.appendChild(el('h3', null, 'args'));
              d.appendChild(t);
            }
            if (e.why) { d.appendChild(el('h3', null, 'why')); d.appendChild(el('div', 'why', e.why)); }
            if (e.shell) { d.appendChild(el('h3', null, 'shell')); d.appendChild(el('pre', 'shell', '$ ' + e.shell)); }
            if (e.code) { d.appendChild(el('h3', null, 'code')); d.appendChild(el('code', null, e.code)); }
          }

          // The packet's hops and where it is.
          function hopView(i) {
            var box = el('div'); box.id = 'hops';
            var p = packetOf[i], hops = [];
            for (var k in packetOf) if (packetOf[k] === p) hops.push(Number(k));
            hops.sort(function (x, y) { return (Number(events[x].args.hop) - Number(events[y].args.hop)) || (x - y); });
            box.appendChild(el('h3', null, 'packet path'));
            var names = {}; hops.forEach(function (h) { var a = events[h].args, r = role(a, h); if (!names[r]) names[r] = a['interface']; });
            var here = role(events[i].args, i), topo = el('div', 'topo');
            ['host', 'bridge', 'veth', 'container'].forEach(function (r, n) {
              if (n) topo.appendChild(el('div', 'wire' + (r === 'container' ? ' veth' : '')));
              var b = el('div', 'box' + (r === here ? ' here' : '') + (names[r] ? '' : ' unused'));
              b.setAttribute('data-role', r);
              b.appendChild(el('div', 'r', r)); b.appendChild(el('div', 'i', names[r] || '-'));
              topo.appendChild(b);
            });
            box.appendChild(topo);
            var t = el('table', 'hops'), head = el('tr');
            ['hop', 'where', 'dir', 'src', 'dst', 'rule'].forEach(function (h) { head.appendChild(el('th', null, h)); });
            t.appendChild(head);
            hops.forEach(function (h) {
              var a = events[h].args, tr = el('tr', h === i ? 'here' : '');
              tr.appendChild(el('td', null, String(a.hop)));
              tr.appendChild(el('td', null, a.netns + '/' + a['interface']));
              tr.appendChild(el('td', null, a.direction || ''));
              [['src', 'nat_src'], ['dst', 'nat_dst']].forEach(function (f) {
                var td = el('td');
                if (a[f[1]] !== undefined) { td.appendChild(document.createTextNode(a[f[0]] + ' \u2192 ')); td.appendChild(el('span', 'nat', a[f[1]])); }
                else td.textContent = a[f[0]];
                tr.appendChild(td);
              });
              tr.appendChild(el('td', 'muted', a.rule || ''));
              t.appendChild(tr);
            });
            var wrap = el('div', 'hopwrap'); wrap.appendChild(t); box.appendChild(wrap);
            box.appendChild(el('p', 'muted', 'highlighted: fields a NAT rule rewrote at that hop'));
            return box;
          }

          applyFilters();
          var firstError = -1;
          for (var i = 0; i < events.length; i++) if (failed(events[i])) { firstError = i; break; }
          if (events.length) select(firstError >= 0 ? firstError : 0);
          document.body.setAttribute('data-ready', String(events.length));
        })();
        </script>
        </body>
        </html>

        """#
}
