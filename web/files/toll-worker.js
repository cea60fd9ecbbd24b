// waitroom toll solver, run by queue.js as a Web Worker so the page stays
// responsive while it works. Plain ES2017, no dependencies, no build.
//
// The challenge is ALTCHA's: find the number n in [0, maxnumber] with
// hex(SHA-256(salt + n)) == challenge. The worker tries n = 0, 1, 2, … and
// posts {progress: tried/maxnumber} about every 100 ms, then {number, took,
// hashes} when found, or {error} when no number solves it.
//
// SHA-256 is computed here rather than with crypto.subtle: subtle needs a
// secure context (no plain-HTTP test sites) and a promise per hash, and a
// salt's whole 64-byte blocks are hashed once for every number tried.
'use strict';

var K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
]);
var IV = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
var W = new Int32Array(64);

// block runs the compression function on the 64 bytes of b at off, into H.
function block(H, b, off) {
  var i, x, y;
  for (i = 0; i < 16; i++) {
    var j = off + 4 * i;
    W[i] = (b[j] << 24) | (b[j + 1] << 16) | (b[j + 2] << 8) | b[j + 3];
  }
  for (i = 16; i < 64; i++) {
    x = W[i - 15]; y = W[i - 2];
    W[i] = (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) +
      (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[i - 16] + W[i - 7] | 0;
  }
  var a = H[0], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7], bb = H[1];
  for (i = 0; i < 64; i++) {
    var t1 = h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
      ((e & f) ^ (~e & g)) + K[i] + W[i] | 0;
    var t2 = (((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) +
      ((a & bb) ^ (a & c) ^ (bb & c)) | 0;
    h = g; g = f; f = e; e = d + t1 | 0; d = c; c = bb; bb = a; a = t1 + t2 | 0;
  }
  H[0] = H[0] + a | 0; H[1] = H[1] + bb | 0; H[2] = H[2] + c | 0; H[3] = H[3] + d | 0;
  H[4] = H[4] + e | 0; H[5] = H[5] + f | 0; H[6] = H[6] + g | 0; H[7] = H[7] + h | 0;
}

function bytes(s) {
  if (typeof TextEncoder === 'function') return new TextEncoder().encode(s);
  var out = new Uint8Array(s.length);
  for (var i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

// solver hashes salt + n for any n: the salt's whole blocks once (the
// midstate), the rest and n's digits per call.
function solver(salt) {
  var msg = bytes(salt);
  var whole = msg.length - msg.length % 64;
  var mid = new Int32Array(IV);
  for (var off = 0; off < whole; off += 64) block(mid, msg, off);
  var tail = msg.subarray(whole);
  var buf = new Uint8Array(192);
  var H = new Int32Array(8);
  return function (n) {
    var s = String(n), i;
    buf.fill(0);
    buf.set(tail);
    var len = tail.length;
    for (i = 0; i < s.length; i++) buf[len + i] = s.charCodeAt(i);
    len += s.length;
    buf[len] = 0x80;
    var blocks = len + 9 <= 64 ? 1 : len + 9 <= 128 ? 2 : 3;
    var bits = (msg.length + s.length) * 8;
    var end = blocks * 64;
    buf[end - 4] = bits >>> 24; buf[end - 3] = bits >>> 16; buf[end - 2] = bits >>> 8; buf[end - 1] = bits;
    H.set(mid);
    for (i = 0; i < blocks; i++) block(H, buf, 64 * i);
    return H;
  };
}

function words(hex) {
  var out = new Int32Array(8);
  for (var i = 0; i < 8; i++) out[i] = parseInt(hex.substr(8 * i, 8), 16) | 0;
  return out;
}

function solve(c) {
  var started = Date.now(), lastPost = started;
  if (c.algorithm !== 'SHA-256' || !/^[0-9a-f]{64}$/.test(c.challenge) || typeof c.salt !== 'string') {
    postMessage({ error: 'unsupported challenge' });
    return;
  }
  var want = words(c.challenge);
  var hash = solver(c.salt);
  var max = Math.max(1, Number(c.maxnumber) || 0);
  for (var n = 0; n <= max; n++) {
    var H = hash(n);
    if (H[0] === want[0] && H[1] === want[1] && H[2] === want[2] && H[3] === want[3] &&
        H[4] === want[4] && H[5] === want[5] && H[6] === want[6] && H[7] === want[7]) {
      postMessage({ number: n, took: Date.now() - started, hashes: n + 1 });
      return;
    }
    if ((n & 4095) === 0) {
      var now = Date.now();
      if (now - lastPost >= 100) {
        lastPost = now;
        postMessage({ progress: n / max, hashes: n, took: now - started });
      }
    }
  }
  postMessage({ error: 'no number solves the challenge' });
}

// measure hashes for ms milliseconds and report the rate (the docs' table
// of solve times comes from it).
function measure(ms) {
  var hash = solver('0123456789abcdef01234567?expires=1800000000&r=concert-42&v=0123456789abcdef01234567');
  var started = Date.now(), n = 0;
  while (Date.now() - started < ms) {
    for (var i = 0; i < 4096; i++) hash(n++);
  }
  postMessage({ rate: n * 1000 / (Date.now() - started) });
}

self.onmessage = function (ev) {
  var m = ev.data || {};
  if (m.measure) measure(Number(m.measure));
  else solve(m);
};
