// waitroom operator dashboard. Reads the gateway's last minutes of figures
// (GET /admin/history) so the charts are drawn at once, then polls GET
// /admin/rooms (same origin, so the browser sends the HTTP Basic
// credentials it was asked for), keeps the history per room in memory and
// draws it on canvases. Controls send PATCH /admin/rooms/{name} and POST
// /admin/rooms/{name}/admit and /reset. A room's state is the API's word
// for it (prequeue, queued, paused, closed), so the page and the API agree.
(function () {
  'use strict';

  var root = document.getElementById('dash');
  var ROOMS_URL = root.getAttribute('data-rooms-url');
  var POLL_MS = Number(root.getAttribute('data-poll-ms')) || 2000;
  var HISTORY_MS = (Number(root.getAttribute('data-history-minutes')) || 15) * 60000;
  var HISTORY_URL = root.getAttribute('data-history-url');
  var RATE_WINDOW_MS = 30000; // admitted-per-minute is measured over this window
  var COLORS = { waiting: '#1d4ed8', active: '#0f7a3a', rate: '#a23b00', limit: '#6b7280' };
  var TEXT = JSON.parse(root.getAttribute('data-text') || '{}'); // this page's language (dashboard_messages.go)
  var LOCALE = document.documentElement.lang || 'en';

  // t is the catalog's string for key with {name} filled in from vars.
  function t(key, vars) {
    var s = TEXT[key] || key;
    Object.keys(vars || {}).forEach(function (k) { s = s.split('{' + k + '}').join(String(vars[k])); });
    return s;
  }

  var history = {}; // room name -> [{t, waiting, active, admitted, rate}]
  var panels = {};  // room name -> {el, canvases, message, inputs}
  var latest = {};  // room name -> last room object

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') e.textContent = attrs[k];
      else e.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }

  function fmt(n) {
    if (n === null || n === undefined || n === '') return '–';
    var x = Number(n);
    if (!isFinite(x)) return '–';
    return x.toLocaleString(LOCALE, { maximumFractionDigits: 1 });
  }

  function setStatus(message, kind) {
    var s = document.getElementById('dash-status');
    s.textContent = message;
    s.setAttribute('data-kind', kind || 'ok');
  }

  // roomState is the room's state as the API says it.
  function roomState(r) {
    return ['prequeue', 'queued', 'paused', 'closed'].indexOf(r.state) >= 0 ? r.state : 'queued';
  }

  function record(r, now) {
    var h = history[r.name] || (history[r.name] = []);
    if (h.length && now <= h[h.length - 1].t) return;
    h.push({ t: now, waiting: Number(r.waiting) || 0, active: Number(r.active) || 0, admitted: Number(r.admitted_total) || 0,
      achieved: typeof r.achieved_per_minute === 'number' ? r.achieved_per_minute : null });
    while (h.length > 2 && now - h[0].t > HISTORY_MS) h.shift();
    // Admissions per minute over the last RATE_WINDOW_MS.
    var last = h[h.length - 1], from = last;
    for (var i = h.length - 1; i >= 0 && last.t - h[i].t <= RATE_WINDOW_MS; i--) from = h[i];
    // Admissions per minute: the gateway's own figure (last minute) when it
    // gives one, else measured here over the last RATE_WINDOW_MS.
    last.rate = last.achieved !== null ? last.achieved
      : last.t > from.t ? Math.max(0, (last.admitted - from.admitted) * 60000 / (last.t - from.t)) : 0;
  }

  function renderTable(rooms) {
    var body = document.querySelector('#rooms-table tbody');
    body.textContent = '';
    rooms.forEach(function (r) {
      var h = history[r.name], rate = h && h.length ? h[h.length - 1].rate : 0;
      var state = roomState(r);
      // data-label names each cell where a phone shows the row as a card.
      body.appendChild(el('tr', {}, [
        el('th', { scope: 'row' }, [el('a', { href: '#room-' + r.name, text: r.name })]),
        el('td', { 'data-label': t('col_state') }, [el('span', { class: 'tag ' + state, 'data-state': state, text: t('state_' + state) })]),
        el('td', { class: 'num', 'data-label': t('col_waiting'), text: fmt(r.waiting) }),
        el('td', { class: 'num', 'data-label': t('col_active'), text: fmt(r.active) }),
        el('td', { class: 'num', 'data-label': t('col_max_active'), text: fmt(r.max_active) }),
        el('td', { class: 'num', 'data-label': t('col_admitted'), text: fmt(r.admitted_total) }),
        el('td', { class: 'num', 'data-label': t('col_abandoned'), text: fmt(r.abandoned_total) }),
        el('td', { class: 'num', 'data-label': t('col_refused'), title: t('refused_title'), text: fmt(r.refused_total) }),
        el('td', { class: 'num', 'data-label': t('col_tolls'), title: t('tolls_title'),
          text: r.toll ? t('toll_on', { n: fmt(r.tolls_paid_total), s: r.toll_seconds }) : t('toll_off', { n: fmt(r.tolls_paid_total) }) }),
        el('td', { class: 'num', 'data-label': t('col_rate_set'), text: fmt(r.admit_per_minute) }),
        el('td', { class: 'num', 'data-label': t('col_rate_now'), text: fmt(rate) }),
        el('td', { 'data-label': t('col_mode'), text: r.mode || 'fifo' })
      ]));
    });
  }

  function figure(caption, keys) {
    var canvas = el('canvas', { role: 'img', 'aria-label': caption });
    var cap = el('figcaption', {}, [el('strong', { text: caption })].concat(keys.map(function (k) {
      var s = el('span', { class: 'key' + (k.dashed ? ' dashed' : ''), text: k.label });
      s.style.setProperty('--c', k.color);
      return s;
    })));
    return { fig: el('figure', {}, [cap, canvas]), canvas: canvas };
  }

  function numberForm(label, name, button, onSubmit, inputs) {
    var input = el('input', { type: 'number', min: '0', step: '1', name: name, required: '' });
    if (inputs) inputs[name] = input;
    var form = el('form', {}, [el('label', {}, [document.createTextNode(label), input]), el('button', { type: 'submit', text: button })]);
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var n = Number(input.value);
      if (!Number.isInteger(n) || n < 0) return;
      onSubmit(n);
      input.value = '';
    });
    return form;
  }

  function panel(name) {
    if (panels[name]) return panels[name];
    var p = {};
    var waiting = figure(t('chart_waiting'), [{ label: t('key_waiting'), color: COLORS.waiting }]);
    var active = figure(t('chart_active'), [{ label: t('key_active'), color: COLORS.active }, { label: t('key_max_active'), color: COLORS.limit, dashed: true }]);
    var rate = figure(t('chart_rate'), [{ label: t('key_achieved'), color: COLORS.rate }, { label: t('key_set_rate'), color: COLORS.limit, dashed: true }]);
    p.canvases = { waiting: waiting.canvas, active: active.canvas, rate: rate.canvas };
    p.message = el('p', { class: 'message', role: 'status' });
    p.pause = el('button', { type: 'button', text: t('pause') });
    p.close = el('button', { type: 'button', text: t('close') });
    p.pause.addEventListener('click', function () {
      var r = latest[name];
      send(name, 'PATCH', '', { paused: !(r && r.paused) });
    });
    p.close.addEventListener('click', function () {
      var r = latest[name];
      var closing = !(r && r.closed);
      if (closing && !window.confirm(t('confirm_close', { room: name }))) return;
      send(name, 'PATCH', '', { closed: closing });
    });
    p.reset = el('button', { type: 'button', text: t('reset'), title: t('reset_title') });
    p.reset.addEventListener('click', function () {
      if (!window.confirm(t('confirm_reset', { room: name }))) return;
      send(name, 'POST', '/reset', {});
    });
    p.inputs = {};
    var controls = el('div', { class: 'controls' }, [
      p.pause, p.close,
      numberForm(t('set_rate'), 'admit_per_minute', t('set'), function (n) { send(name, 'PATCH', '', { admit_per_minute: n }); }, p.inputs),
      numberForm(t('set_max_active'), 'max_active', t('set'), function (n) { send(name, 'PATCH', '', { max_active: n }); }, p.inputs),
      numberForm(t('admit_next'), 'count', t('admit'), function (n) { send(name, 'POST', '/admit', { count: n }); }),
      p.reset
    ]);
    p.el = el('section', { class: 'panel', id: 'room-' + name, 'aria-label': t('room_label', { room: name }) }, [
      el('h3', { text: name }),
      el('div', { class: 'charts' }, [waiting.fig, active.fig, rate.fig]),
      controls, p.message
    ]);
    document.getElementById('room-panels').appendChild(p.el);
    panels[name] = p;
    return p;
  }

  function send(name, method, suffix, body) {
    var p = panels[name];
    var what = method + ' ' + suffix + ' ' + JSON.stringify(body);
    p.message.textContent = t('sending', { what: what });
    p.message.removeAttribute('data-kind');
    fetch(ROOMS_URL + '/' + encodeURIComponent(name) + suffix, {
      method: method,
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body)
    }).then(function (res) {
      return res.text().then(function (t) {
        if (!res.ok) throw new Error(res.status + ' ' + (t || res.statusText));
        var summary = '';
        try {
          var out = JSON.parse(t);
          if (typeof out.admitted === 'number') summary = t('admitted_result', { n: out.admitted }) + (out.skipped ? t('skipped_result', { n: out.skipped }) : '');
        } catch (e) { /* not JSON: no summary */ }
        p.message.textContent = t('done', { t: new Date().toLocaleTimeString(LOCALE), what: what + summary });
        poll();
      });
    }).catch(function (err) {
      p.message.textContent = t('failed', { what: err.message });
      p.message.setAttribute('data-kind', 'error');
    });
  }

  // draw plots series of {key, color, dashed, values?} from the room's
  // history on a canvas sized for the screen's pixel ratio.
  function draw(canvas, points, series) {
    var ratio = window.devicePixelRatio || 1;
    var w = canvas.clientWidth, h = canvas.clientHeight;
    if (!w || !h) return;
    if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
      canvas.width = Math.round(w * ratio);
      canvas.height = Math.round(h * ratio);
    }
    var g = canvas.getContext('2d');
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, h);
    var left = 48, right = 8, top = 8, bottom = 20;
    // The time axis runs from the oldest point kept (at most HISTORY_MS ago)
    // to now, so a freshly opened dashboard is not a sliver at the right.
    var now = points.length ? points[points.length - 1].t : Date.now();
    var start = points.length ? Math.max(points[0].t, now - HISTORY_MS) : now - HISTORY_MS;
    var span = Math.max(now - start, POLL_MS * 2);
    start = now - span;
    var max = 1;
    series.forEach(function (s) {
      points.forEach(function (pt) { max = Math.max(max, Number(s.value(pt)) || 0); });
    });
    max = niceCeil(max * 1.1);
    function x(t) { return left + (w - left - right) * (t - start) / span; }
    function y(v) { return top + (h - top - bottom) * (1 - v / max); }

    g.font = '11px system-ui, sans-serif';
    g.fillStyle = '#4a4f63';
    g.strokeStyle = '#e2e6ee';
    g.lineWidth = 1;
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    [0, 0.5, 1].forEach(function (f) {
      var v = max * f, yy = Math.round(y(v)) + 0.5;
      g.beginPath(); g.moveTo(left, yy); g.lineTo(w - right, yy); g.stroke();
      g.fillText(fmt(v), left - 6, yy);
    });
    g.textAlign = 'left';
    g.textBaseline = 'bottom';
    g.fillText(ago(span), left, h - 2);
    g.textAlign = 'right';
    g.fillText(t('now'), w - right, h - 2);

    series.forEach(function (s) {
      g.strokeStyle = s.color;
      g.lineWidth = s.dashed ? 1.5 : 2;
      g.setLineDash(s.dashed ? [6, 4] : []);
      g.beginPath();
      var started = false;
      points.forEach(function (pt) {
        var v = s.value(pt);
        if (v === null || v === undefined || !isFinite(v)) return;
        if (!started) { g.moveTo(x(pt.t), y(v)); started = true; } else g.lineTo(x(pt.t), y(v));
      });
      g.stroke();
      if (!s.dashed && points.length < 20) {
        g.fillStyle = s.color;
        points.forEach(function (pt) {
          var v = s.value(pt);
          if (v === null || v === undefined || !isFinite(v)) return;
          g.beginPath(); g.arc(x(pt.t), y(v), 2.5, 0, 2 * Math.PI); g.fill();
        });
      }
    });
    g.setLineDash([]);
  }

  function ago(ms) {
    var s = Math.round(ms / 1000);
    return s < 120 ? t('seconds_ago', { n: s }) : t('minutes_ago', { n: Math.round(s / 60) });
  }

  function niceCeil(v) {
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var m = v / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  function renderPanel(r) {
    var p = panel(r.name), h = history[r.name] || [];
    var maxActive = Number(r.max_active), setRate = Number(r.admit_per_minute);
    p.pause.textContent = r.paused ? t('resume') : t('pause');
    p.pause.setAttribute('aria-pressed', r.paused ? 'true' : 'false');
    p.close.textContent = r.closed ? t('open') : t('close');
    p.close.setAttribute('aria-pressed', r.closed ? 'true' : 'false');
    // The current values show in the empty inputs.
    p.inputs.admit_per_minute.placeholder = fmt(r.admit_per_minute);
    p.inputs.max_active.placeholder = fmt(r.max_active);
    p.el.setAttribute('data-points', h.length); // samples drawn (history and polls)
    draw(p.canvases.waiting, h, [{ color: COLORS.waiting, value: function (pt) { return pt.waiting; } }]);
    draw(p.canvases.active, h, [
      { color: COLORS.active, value: function (pt) { return pt.active; } },
      { color: COLORS.limit, dashed: true, value: function () { return maxActive; } }
    ]);
    draw(p.canvases.rate, h, [
      { color: COLORS.rate, value: function (pt) { return pt.rate; } },
      { color: COLORS.limit, dashed: true, value: function () { return setRate; } }
    ]);
  }

  var inFlight = false, timer = 0, polls = 0;
  function poll() {
    clearTimeout(timer);
    timer = setTimeout(poll, POLL_MS);
    if (inFlight) return;
    inFlight = true;
    fetch(ROOMS_URL, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } })
      .then(function (res) {
        if (res.status === 401) throw new Error(t('not_signed_in'));
        if (!res.ok) throw new Error('GET ' + ROOMS_URL + ': ' + res.status);
        return res.json();
      })
      .then(function (data) {
        var rooms = (data && data.rooms) || [];
        var now = Date.now();
        rooms.sort(function (a, b) { return a.name < b.name ? -1 : 1; });
        rooms.forEach(function (r) { latest[r.name] = r; record(r, now); });
        root.setAttribute('data-polls', ++polls);
        renderTable(rooms);
        rooms.forEach(renderPanel);
        var at = new Date(now).toLocaleTimeString(LOCALE);
        setStatus(rooms.length === 1 ? t('one_room', { t: at }) : t('rooms_updated', { n: rooms.length, t: at }));
      })
      .catch(function (err) { setStatus(err.message, 'error'); })
      .then(function () { inFlight = false; });
  }

  window.addEventListener('resize', function () {
    Object.keys(latest).forEach(function (name) { renderPanel(latest[name]); });
  });

  // The charts start from the gateway's own last minutes of figures; the
  // polls then carry them on. Without them (an older gateway, an error)
  // the charts simply start empty.
  function loadHistory() {
    if (!HISTORY_URL) return Promise.resolve();
    return fetch(HISTORY_URL, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } })
      .then(function (res) { return res.ok ? res.json() : null; })
      .then(function (data) {
        var rooms = (data && data.rooms) || {};
        Object.keys(rooms).forEach(function (name) {
          (rooms[name] || []).forEach(function (p) {
            record({ name: name, waiting: p.waiting, active: p.active, admitted_total: p.admitted_total,
              achieved_per_minute: p.achieved_per_minute }, p.t);
          });
        });
      })
      .catch(function () {});
  }
  loadHistory().then(poll);
})();
