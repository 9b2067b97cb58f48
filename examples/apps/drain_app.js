// A small Node HTTP app for cutover supervise (and, for comparison, PM2 cluster mode).
//
// Binding: LISTEN_FDS=1 with LISTEN_PID == our pid → serve the inherited socket on fd 3
// (cutover listen: mode); otherwise listen on PORT (cutover ports: mode, or PM2 cluster mode,
// where the cluster master owns the socket).
// Readiness: GET /health answers 200 once listening (cutover ready: {http: /health}); under PM2,
// process.send('ready') for wait_ready.
// Drain on SIGTERM/SIGINT, per DRAIN:
//   gentle (default) — cutover's drain contract: stop accepting, finish in-flight requests,
//       answer requests that still arrive with `Connection: close`, close idle keep-alive
//       sockets only after a 1 s grace, exit when none is left;
//   typical — what most apps do: server.close() (Node >= 19 closes idle keep-alive sockets at
//       once, racing clients that are sending) and exit when it calls back.
// BOOT_DELAY_MS delays the listen (a slow-booting version).
// APP_CONFIG=FILE: a JSON file read at each start ({"drain", "boot_delay_ms", "tag"}), the way a
// deployment changes what the next start runs (a new version on disk).
'use strict';
const fs = require('fs');
const http = require('http');

let fileConf = {};
try {
  if (process.env.APP_CONFIG) fileConf = JSON.parse(fs.readFileSync(process.env.APP_CONFIG, 'utf8'));
} catch (e) { /* no file: defaults */ }
const drainMode = fileConf.drain || process.env.DRAIN || 'gentle';
const bootDelay = parseInt(fileConf.boot_delay_ms || process.env.BOOT_DELAY_MS || '0', 10);
const tag = fileConf.tag || process.env.APP_TAG || 'v1';
let draining = false;
let ready = false;
const sockets = new Map(); // socket -> number of requests in flight

const server = http.createServer((req, res) => {
  const s = req.socket;
  sockets.set(s, (sockets.get(s) || 0) + 1);
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = req.url === '/health' ? (ready ? 'ok\n' : 'booting\n')
      : `ok pid=${process.pid} tag=${tag}\n`;
    if (draining) res.setHeader('Connection', 'close');
    res.writeHead(req.url === '/health' && !ready ? 503 : 200,
      {'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body)});
    res.end(body, () => {
      sockets.set(s, sockets.get(s) - 1);
      if (draining && drainMode === 'gentle') s.end();
    });
  });
});
server.keepAliveTimeout = 65000;
server.on('connection', (s) => {
  sockets.set(s, 0);
  s.on('close', () => sockets.delete(s));
});

function listen() {
  const inherited = process.env.LISTEN_FDS === '1' &&
    process.env.LISTEN_PID === String(process.pid);
  const onListening = () => {
    ready = true;
    if (process.send) process.send('ready');
    console.log(`listening pid=${process.pid} tag=${tag}`);
  };
  if (inherited) server.listen({fd: 3}, onListening);
  else server.listen(parseInt(process.env.PORT, 10), '127.0.0.1', onListening);
}

function drainGently() {
  // stop accepting without Node's closeIdleConnections(): idle sockets get a grace first
  server.closeIdleConnections = () => {};
  server.close();
  setTimeout(() => {
    for (const [s, inflight] of sockets) if (inflight === 0) s.end();
  }, 1000);
  const t = setInterval(() => {
    if (sockets.size === 0) { clearInterval(t); process.exit(0); }
  }, 50);
}

function onSignal() {
  if (draining) return;
  draining = true;
  if (drainMode === 'typical') server.close(() => process.exit(0));
  else drainGently();
}
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);
process.on('message', (m) => { if (m === 'shutdown') onSignal(); });

setTimeout(listen, bootDelay);
