// The visitor journey of surge, for operators who already use k6:
// open the protected event page, wait in the queue (polling the status API,
// as the queue page does when its WebSocket is unavailable), reload once
// admitted (which sets the pass cookie) and buy one ticket.
//
//   k6 run -e TARGET=http://127.0.0.1:8080 -e EVENT=1 -e ROOM=default \
//          -e VUS=1000 -e MAX_WAIT=600 deploy/k6/journey.js
//
// Each VU is one visitor with its own cookie jar (k6 gives every VU one), and
// runs the journey once. Only send this at a site you operate.
import http from 'k6/http';
import { check, sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';

const TARGET = (__ENV.TARGET || 'http://127.0.0.1:8080').replace(/\/$/, '');
const EVENT = __ENV.EVENT || '1';
const ROOM = __ENV.ROOM || 'default';
const POLL_SECONDS = Number(__ENV.POLL || 2);
const MAX_WAIT = Number(__ENV.MAX_WAIT || 600); // seconds a visitor waits before giving up

export const options = {
  scenarios: {
    crowd: {
      executor: 'per-vu-iterations', // everyone arrives at once, like a sale opening
      vus: Number(__ENV.VUS || 100),
      iterations: 1,
      maxDuration: `${MAX_WAIT + 120}s`,
    },
  },
  thresholds: {
    'http_req_failed{kind:order}': ['rate<0.01'],
    'http_req_duration{kind:order}': ['p(95)<1500'],
    wr_wait_seconds: ['p(95)<' + MAX_WAIT],
  },
};

const waitSeconds = new Trend('wr_wait_seconds');
const bought = new Counter('wr_bought');
const soldOut = new Counter('wr_sold_out');
const gaveUp = new Counter('wr_gave_up');

const html = { headers: { Accept: 'text/html' }, redirects: 0 };

export default function () {
  const start = Date.now();
  const page = `${TARGET}/events/${EVENT}`;

  // 1. The protected page: the origin's page at once, or the queue page.
  let res = http.get(page, Object.assign({ tags: { kind: 'page' } }, html));
  check(res, { 'page answered': (r) => r.status === 200 });
  if (res.status !== 200) return;

  if (res.headers['Waitroom-State']) {
    // 2. Queued: poll the status API until admitted.
    let admitted = false;
    while ((Date.now() - start) / 1000 < MAX_WAIT) {
      sleep(POLL_SECONDS);
      const st = http.get(`${TARGET}/_waitroom/api/status?room=${ROOM}`, {
        headers: { Accept: 'application/json' },
        tags: { kind: 'status' },
        redirects: 0,
      });
      if (st.status !== 200) continue;
      const state = st.json('state');
      if (state === 'admitted') { admitted = true; break; }
      if (state === 'closed') break;
    }
    if (!admitted) { gaveUp.add(1); return; }
    waitSeconds.add((Date.now() - start) / 1000);

    // 3. Reload: the gateway sets the pass cookie and proxies to the origin.
    res = http.get(page, Object.assign({ tags: { kind: 'page_admitted' } }, html));
    check(res, { 'let in after admission': (r) => r.status === 200 && !r.headers['Waitroom-State'] });
  } else {
    waitSeconds.add(0);
  }

  // 4. Buy. The pass travels in the cookie; the gateway hands it to the origin.
  res = http.post(`${TARGET}/api/events/${EVENT}/orders`, JSON.stringify({ quantity: 1 }), {
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    tags: { kind: 'order' },
    redirects: 0,
    responseCallback: http.expectedStatuses(201, 409),
  });
  if (res.status === 201) bought.add(1);
  else if (res.status === 409 && res.json('error') === 'sold_out') soldOut.add(1);
  check(res, { 'order confirmed or sold out': (r) => r.status === 201 || r.status === 409 });
}
