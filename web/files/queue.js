// waitroom queue page. Follows the visitor's status and takes them to the
// site once admitted. Live updates come over a WebSocket; while it is down
// the page polls the status API. Plain ES2017, no dependencies, no build.
//
// Everything the script needs is in <script id="wr-config"> (JSON): the
// first status, the URLs, and every string in the page's language.
(function () {
  'use strict';

  var configElement = document.getElementById('wr-config');
  if (!configElement) return;
  var cfg = JSON.parse(configElement.textContent);
  var text = cfg.text || {};
  var locale = cfg.lang === 'ko' ? 'ko-KR' : 'en-US';

  var POLL_MIN_MS = 2000, POLL_MAX_MS = 5000; // polling interval, picked at random in between
  var POLL_TIMEOUT_MS = 10000; // a poll that has not answered by then is given up
  var BACKOFF_BASE_MS = 500, BACKOFF_MAX_MS = 30000;
  var SILENT_SOCKET_MS = 10000; // the server pushes every second; this much silence means a dead socket
  var ANNOUNCE_EVERY_MS = 30000; // screen readers hear a new position at most this often
  var STATES = ['prequeue', 'queued', 'paused', 'closed', 'admitted', 'toll', 'limited'];
  var ICONS = { prequeue: '\u25F7', queued: '\u25B6', paused: '\u275A\u275A', closed: '\u25A0', admitted: '\u2713', toll: '\u25D4', limited: '\u29D6' };
  var TOLL_TRIES = 3; // challenges solved in a row without getting a place before pausing

  var page = document.getElementById('wr-page');
  var socket = null, failures = 0;
  var retryTimer = 0, pollTimer = 0, silenceTimer = 0, countdownTimer = 0;
  var polling = false;
  var leaving = false;
  var worker = null, tollSolution = '', tollTries = 0, askTimer = 0;
  var firstPosition = loadFirstPosition();
  var announced = { state: page.getAttribute('data-state'), at: Date.now() };

  function $(id) { return document.getElementById(id); }

  function setText(id, value) {
    var el = $(id);
    if (el && el.textContent !== value) el.textContent = value;
  }

  // show shows or hides an element a page may not have (an operator's own
  // queue.html from before the toll).
  function show(id, on) {
    var el = $(id);
    if (el) el.hidden = !on;
  }

  function fill(s, values) {
    return String(s || '').replace(/\{(\w+)\}/g, function (m, k) { return k in values ? values[k] : m; });
  }

  function int(v) {
    var n = Number(v);
    return isFinite(n) ? Math.floor(n) : 0;
  }

  function fmt(n) { return int(n).toLocaleString(locale); }

  function etaText(state, seconds) {
    seconds = Number(seconds);
    if (state === 'paused') return text.eta_paused;
    if (!isFinite(seconds) || seconds < 0 || state === 'closed') return text.eta_unknown;
    if (seconds < 60) return text.eta_soon;
    var minutes = Math.ceil(seconds / 60);
    if (minutes < 60) return fill(text.eta_minutes, { n: minutes });
    return fill(text.eta_hours, { h: Math.floor(minutes / 60), m: minutes % 60 });
  }

  // The progress bar runs from the first position this tab saw (kept in
  // sessionStorage, so a reload does not restart it) to admission.
  function storageKey() { return 'waitroom:first:' + cfg.room; }

  function loadFirstPosition() {
    try { return int(sessionStorage.getItem(storageKey())); } catch (e) { return 0; }
  }

  function saveFirstPosition(n) {
    firstPosition = n;
    try { sessionStorage.setItem(storageKey(), String(n)); } catch (e) { /* private mode */ }
  }

  // Admission is the last step: from position p of a first-seen P the bar
  // stands at (P - p + 1) / (P + 1), so the front of the line is not "0%".
  function progress(position) {
    return 100 * (firstPosition - position + 1) / (firstPosition + 1);
  }

  function setProgress(percent) {
    percent = Math.max(0, Math.min(100, Math.round(percent)));
    var label = fill(text.progress_value, { n: percent });
    var bar = $('wr-progress');
    bar.setAttribute('aria-valuenow', String(percent));
    bar.setAttribute('aria-valuetext', label);
    $('wr-progress-fill').style.width = percent + '%';
    setText('wr-progress-text', label);
  }

  // Polite announcements: at once when the state changes, otherwise at most
  // every ANNOUNCE_EVERY_MS while the position moves.
  function announce(state, position) {
    var now = Date.now();
    var message;
    if (state !== announced.state) {
      message = state === 'queued' && position > 0 ? fill(text.announce, { n: fmt(position) }) : text['heading_' + state];
    } else if (state === 'queued' && position > 0 && position !== announced.position && now - announced.at >= ANNOUNCE_EVERY_MS) {
      message = fill(text.announce, { n: fmt(position) });
    }
    if (!message) return;
    announced = { state: state, position: position, at: now };
    $('wr-live').textContent = message;
  }

  function countdown(opensAt) {
    clearInterval(countdownTimer);
    var at = opensAt ? new Date(opensAt) : null;
    if (!at || isNaN(at.getTime())) {
      setText('wr-opens-at', '');
      return;
    }
    setText('wr-opens-at', fill(text.opens_at, {
      t: at.toLocaleString(locale, { dateStyle: 'medium', timeStyle: 'short' })
    }));
    function tick() {
      var left = Math.max(0, Math.floor((at.getTime() - Date.now()) / 1000));
      var el = $('wr-countdown-value').firstElementChild || $('wr-countdown-value');
      if (left === 0) {
        el.textContent = text.opening;
        clearInterval(countdownTimer);
        return;
      }
      var d = Math.floor(left / 86400), h = Math.floor(left / 3600) % 24;
      var m = Math.floor(left / 60) % 60, s = left % 60;
      var clock = [h, m, s].map(function (x) { return x < 10 ? '0' + x : String(x); }).join(':');
      el.textContent = d > 0 ? fill(text.days, { n: d }) + ' ' + clock : clock;
    }
    tick();
    countdownTimer = setInterval(tick, 1000);
  }

  function render(s) {
    var state = STATES.indexOf(s.state) >= 0 ? s.state : 'queued';
    var position = int(s.position);
    var inLine = position > 0 && (state === 'queued' || state === 'paused' || state === 'closed' || state === 'toll');

    page.setAttribute('data-state', state);
    setText('wr-badge-icon', ICONS[state]);
    setText('wr-badge-text', text['state_' + state]);
    setText('wr-heading', text['heading_' + state]);
    setText('wr-lead', text['lead_' + state + '_' + s.reason] || text['lead_' + state]);
    show('wr-toll', state === 'toll');
    show('wr-retry', state === 'limited');
    document.title = text['heading_' + state] + ' \u00B7 ' + text.title;

    $('wr-line').hidden = !inLine;
    $('wr-fact-ahead').hidden = !inLine;
    $('wr-fact-eta').hidden = !inLine;
    $('wr-facts').hidden = state === 'admitted';
    $('wr-countdown').hidden = state !== 'prequeue';

    if (inLine) {
      if (!firstPosition || position > firstPosition) saveFirstPosition(position);
      setText('wr-position', fmt(position));
      setText('wr-ahead', fmt(position - 1));
      setText('wr-eta', etaText(state, s.eta_seconds));
    }
    setProgress(state === 'admitted' ? 100 : inLine ? progress(position) : 0);
    $('wr-fact-ticket').hidden = !(int(s.ticket) > 0);
    setText('wr-ticket', int(s.ticket) > 0 ? '#' + fmt(s.ticket) : '\u2013');
    setText('wr-waiting', fmt(Math.max(0, int(s.waiting))));
    if (state === 'prequeue') countdown(s.opens_at); else clearInterval(countdownTimer);
    announce(state, position);
  }

  // Only ever navigate on this site, whatever the config says.
  function returnTarget() {
    try {
      var u = new URL(cfg.return_url || '/', location.href);
      if (u.origin === location.origin) return u.href;
    } catch (e) { /* fall through */ }
    return location.href;
  }

  function leave() {
    if (leaving) return;
    leaving = true;
    try { sessionStorage.removeItem(storageKey()); } catch (e) { /* private mode */ }
    stopLive();
    stopWorker();
    clearTimeout(askTimer);
    clearInterval(countdownTimer);
    location.replace(returnTarget());
  }

  // stopLive stops following the status (socket, polling, reconnects).
  function stopLive() {
    clearTimeout(retryTimer);
    stopPolling();
    clearTimeout(silenceTimer);
    if (socket) { socket.onclose = null; socket.close(1000); socket = null; }
  }

  function refusedState(state) { return state === 'toll' || state === 'limited'; }

  function apply(s) {
    if (leaving || !s || typeof s !== 'object' || typeof s.state !== 'string') return;
    if (s.state === 'admitted') {
      render(s);
      leave();
      return;
    }
    if (refusedState(s.state)) {
      // No place (any more, e.g. an admission that lapsed): stop following
      // and ask for one.
      stopLive();
      refused(s);
      return;
    }
    if (STATES.indexOf(s.state) < 0) {
      // The gateway no longer knows this visitor (e.g. skipped as abandoned):
      // loading the page again joins the line afresh.
      leave();
      return;
    }
    render(s);
  }

  function setConnection(kind) {
    var el = $('wr-conn');
    el.hidden = false; // hidden until the script runs: without it, the <noscript> note says it all
    el.setAttribute('data-conn', kind);
    setText('wr-conn-text', text['conn_' + kind]);
  }

  function wsURL() {
    var u = new URL(cfg.ws_url, location.href);
    u.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    u.host = location.host;
    return u.href;
  }

  function connect() {
    if (leaving) return;
    var ws;
    try {
      ws = new WebSocket(wsURL());
    } catch (e) {
      failed();
      return;
    }
    socket = ws;
    ws.onopen = function () {
      failures = 0;
      stopPolling();
      setConnection('live');
      heard(ws);
    };
    ws.onmessage = function (ev) {
      heard(ws);
      var s;
      try { s = JSON.parse(ev.data); } catch (e) { return; }
      apply(s);
    };
    ws.onclose = function () {
      if (socket !== ws) return;
      socket = null;
      clearTimeout(silenceTimer);
      failed();
    };
  }

  // A socket that goes quiet (a proxy dropped it without a close) is
  // abandoned rather than waited on.
  function heard(ws) {
    clearTimeout(silenceTimer);
    silenceTimer = setTimeout(function () {
      if (socket !== ws) return;
      ws.onclose = null;
      ws.close();
      socket = null;
      failed();
    }, SILENT_SOCKET_MS);
  }

  // Reconnect with exponential backoff and jitter (so a crowd whose gateway
  // restarted does not come back in one wave), polling in the meantime.
  function failed() {
    if (leaving) return;
    failures++;
    startPolling();
    var ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * Math.pow(2, failures));
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, ceiling / 2 + Math.random() * ceiling / 2);
  }

  function startPolling() {
    if (polling || leaving) return;
    polling = true;
    setConnection('polling');
    poll();
  }

  function stopPolling() {
    polling = false;
    clearTimeout(pollTimer);
    pollTimer = 0;
  }

  // Each poll schedules the next when its answer (or failure) arrives, from
  // the network task, not from a timer: Chrome throttles a chain of timers
  // that set timers to one wake-up a minute once a tab has been hidden for
  // a while (intensive wake-up throttling), which is as long as a room's
  // abandon_after, and the visitor would lose their place. A timer set from
  // a fetch's answer starts a new chain each time.
  function poll() {
    pollTimer = 0;
    if (!polling) return;
    var ctl = typeof AbortController === 'function' ? new AbortController() : null;
    var giveUp = setTimeout(function () { if (ctl) ctl.abort(); }, POLL_TIMEOUT_MS);
    function next() {
      clearTimeout(giveUp);
      if (polling && !pollTimer) pollTimer = setTimeout(poll, POLL_MIN_MS + Math.random() * (POLL_MAX_MS - POLL_MIN_MS));
    }
    fetch(cfg.status_url, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' }, signal: ctl ? ctl.signal : undefined })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (polling) setConnection('polling');
        apply(s);
        next();
      })
      .catch(function () {
        if (polling) setConnection('retry');
        next();
      });
  }

  // A join the room did not grant: pay the toll, or wait out the limit,
  // then ask again (askPlace); the answer decides what comes next.
  function refused(s) {
    render(s);
    clearTimeout(askTimer);
    if (s.state === 'limited') {
      waitOut(Math.max(1, int(s.retry_after) || 5)); // a solved toll is kept for then
      return;
    }
    tollSolution = '';
    if (tollTries >= TOLL_TRIES) {
      // Paid and still asked to pay: let a slow clock or a busy gateway
      // settle before the next round.
      tollTries = 0;
      tollState(0, text.toll_failed);
      askTimer = setTimeout(askPlace, 10000 + Math.random() * 5000);
      return;
    }
    tollTries++;
    pay(s.challenge);
  }

  // pay solves the challenge in a Web Worker (toll-worker.js), showing its
  // progress, then asks for the place with the solution.
  function pay(c) {
    stopWorker();
    if (!c || typeof c !== 'object') {
      // A pushed "toll" carries no challenge: the status API has one.
      askTimer = setTimeout(askPlace, 500);
      return;
    }
    var w;
    try {
      w = new Worker(cfg.toll_worker_url);
    } catch (e) {
      tollFailed();
      return;
    }
    worker = w;
    tollState(0);
    w.onmessage = function (ev) {
      if (worker !== w) return;
      var m = ev.data || {};
      if (typeof m.number === 'number') {
        stopWorker();
        tollSolution = btoa(JSON.stringify({
          algorithm: c.algorithm, challenge: c.challenge, number: m.number, salt: c.salt, signature: c.signature
        }));
        tollState(100, text.toll_done);
        askPlace();
      } else if (typeof m.progress === 'number') {
        tollState(100 * m.progress);
      } else {
        stopWorker();
        tollFailed();
      }
    };
    w.onerror = function () {
      if (worker !== w) return;
      stopWorker();
      tollFailed();
    };
    w.postMessage(c);
  }

  function stopWorker() {
    if (worker) { worker.terminate(); worker = null; }
  }

  function tollFailed() {
    tollState(0, text.toll_failed);
    askTimer = setTimeout(askPlace, 10000 + Math.random() * 5000);
  }

  function tollState(percent, label) {
    percent = Math.max(0, Math.min(100, Math.floor(percent)));
    var words = label || fill(text.toll_progress, { n: percent });
    var bar = $('wr-toll-progress'), barFill = $('wr-toll-fill');
    if (bar) {
      bar.setAttribute('aria-valuenow', String(percent));
      bar.setAttribute('aria-valuetext', words);
    }
    if (barFill) barFill.style.width = percent + '%';
    setText('wr-toll-text', words);
  }

  // waitOut counts down a per-network limit's Retry-After, then asks again.
  function waitOut(seconds) {
    var until = Date.now() + seconds * 1000;
    (function tick() {
      var left = Math.ceil((until - Date.now()) / 1000);
      if (left <= 0) {
        askPlace();
        return;
      }
      setText('wr-retry', fill(text.retry_in, { n: fmt(left) }));
      askTimer = setTimeout(tick, Math.min(1000, until - Date.now()));
    })();
  }

  // askPlace asks for a place with one status call, carrying the solved
  // toll if there is one: 200 is a place (or admission), 429 a refusal.
  function askPlace() {
    clearTimeout(askTimer);
    if (leaving) return;
    var headers = { Accept: 'application/json' };
    if (tollSolution) headers['Waitroom-Toll'] = tollSolution;
    fetch(cfg.status_url, { credentials: 'same-origin', cache: 'no-store', headers: headers })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (!s || typeof s.state !== 'string') throw new Error('no status');
        if (refusedState(s.state)) {
          refused(s);
          return;
        }
        tollSolution = '';
        tollTries = 0;
        apply(s);
        if (!leaving) start();
      })
      .catch(function () {
        setConnection('retry');
        askTimer = setTimeout(askPlace, 3000 + Math.random() * 2000);
      });
  }

  function start() {
    if ('WebSocket' in window && cfg.ws_url) {
      setConnection('connecting');
      connect();
    } else {
      startPolling();
    }
  }

  // Leaving the page closes the socket cleanly; coming back to it from the
  // browser's back/forward cache opens a new one.
  window.addEventListener('pagehide', function () {
    stopLive();
    stopWorker();
    clearTimeout(askTimer);
  });
  window.addEventListener('pageshow', function (ev) {
    if (!ev.persisted || leaving) return;
    if (refusedState(page.getAttribute('data-state'))) askPlace(); else start();
  });

  // The server's state wins over the one inside the inlined status.
  var first = Object.assign({}, cfg.status || {}, { state: page.getAttribute('data-state') });
  if (refusedState(first.state)) {
    refused(first);
    return;
  }
  render(first);
  if (first.state === 'admitted') leave(); else start();
})();
