#!/usr/bin/env node
// examples/webapp: the reference stack's Node app, standard library only.
//
// Routes:
//   GET /health        liveness: 200 while serving, 503 once draining
//   GET /health/deep   every dependency in config.json (files that must be readable, URLs that
//                      must answer 2xx); 200 {"status":"ok",...} or 503 naming the failed check
//   GET /version       {"version", "pid", "worker"}; version = the VERSION file of this release
//   GET /              a greeting (every config.json "failEvery"-th one a 500, when set)
//
// Binding (docs/man/cutover-supervise.md):
//   LISTEN_FDS=1 and LISTEN_PID = our pid: serve the supervisor's socket on fd 3 (listen: mode);
//   otherwise PORT (ports: mode; worker i gets PORT+i from the supervisor) on HOST (127.0.0.1).
//
// Drain contract, on SIGTERM or SIGINT:
//   1. stop accepting (close our copy of the listening socket; the other workers keep theirs);
//   2. let the requests in flight finish;
//   3. answer whatever still arrives on an open connection with `Connection: close`;
//   4. close idle keep-alive connections only after DRAIN_GRACE_MS (>= 1000), so a client that
//      was already sending gets its answer instead of a reset;
//   5. exit 0 once no connection is left.
'use strict';

const fs = require('fs');
const http = require('http');
const net = require('net');
const path = require('path');

const HERE = __dirname;
const VERSION = readVersion();
const CONFIG = readConfig();
const GRACE_MS = Math.max(1000, Number(process.env.DRAIN_GRACE_MS || 1000));
const CHECK_TIMEOUT_MS = Number(process.env.DEEP_CHECK_TIMEOUT_MS || 2000);
// config.json "failEvery": N > 0 makes every Nth `GET /` of a worker answer 500: a bug that
// /health, /health/deep and /version do not see (the demo's bad release; 0 or absent: none).
const FAIL_EVERY = Math.max(0, Number(CONFIG.failEvery || 0));
let rootRequests = 0;

let draining = false;
const sockets = new Set();

function log(msg) {
    process.stdout.write(`webapp pid=${process.pid} version=${VERSION} ${msg}\n`);
}

function readVersion() {
    try {
        return fs.readFileSync(path.join(HERE, 'VERSION'), 'utf8').trim();
    } catch (e) {
        return 'unknown';
    }
}

// config.json: {"dependencies": {"NAME": {"file": "relative/or/absolute"} | {"url": "http://…"}}}
// UPSTREAM_URL in the environment adds the dependency "upstream" (the URL must answer 2xx).
function readConfig() {
    let conf = { dependencies: {} };
    const file = path.join(HERE, 'config.json');
    if (fs.existsSync(file))
        conf = JSON.parse(fs.readFileSync(file, 'utf8'));  // a broken config must not boot
    conf.dependencies = conf.dependencies || {};
    if (process.env.UPSTREAM_URL)
        conf.dependencies.upstream = { url: process.env.UPSTREAM_URL };
    return conf;
}

function checkFile(spec) {
    const p = path.resolve(HERE, spec.file);
    return fs.promises.access(p, fs.constants.R_OK).then(
        () => ({ ok: true, detail: p }),
        (e) => ({ ok: false, detail: `${p}: ${e.code}` }));
}

function checkUrl(spec) {
    return new Promise((resolve) => {
        const req = http.get(spec.url, { timeout: CHECK_TIMEOUT_MS, agent: false }, (res) => {
            res.resume();
            const ok = res.statusCode >= 200 && res.statusCode < 300;
            resolve({ ok, detail: `${spec.url}: ${res.statusCode}` });
        });
        req.on('timeout', () => req.destroy(new Error(`no answer in ${CHECK_TIMEOUT_MS} ms`)));
        req.on('error', (e) => resolve({ ok: false, detail: `${spec.url}: ${e.code || e.message}` }));
    });
}

async function deepHealth() {
    const names = Object.keys(CONFIG.dependencies);
    const results = await Promise.all(names.map((n) => {
        const spec = CONFIG.dependencies[n];
        if (spec.file)
            return checkFile(spec);
        if (spec.url)
            return checkUrl(spec);
        return Promise.resolve({ ok: false, detail: 'neither file nor url' });
    }));
    const checks = {};
    let ok = !draining;
    names.forEach((n, i) => {
        checks[n] = results[i];
        ok = ok && results[i].ok;
    });
    return { status: ok ? 'ok' : 'failing', version: VERSION, draining, checks };
}

function send(res, status, body, type) {
    const data = typeof body === 'string' ? body : JSON.stringify(body) + '\n';
    res.statusCode = status;
    res.setHeader('Content-Type', type || 'application/json');
    res.setHeader('Content-Length', Buffer.byteLength(data));
    if (draining)
        res.setHeader('Connection', 'close');  // contract step 3
    res.end(data);
}

async function handle(req, res) {
    const url = req.url.split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD')
        return send(res, 405, { error: 'method not allowed' });
    switch (url) {
    case '/health':
        return draining ? send(res, 503, 'draining\n', 'text/plain') : send(res, 200, 'ok\n', 'text/plain');
    case '/health/deep': {
        const r = await deepHealth();
        return send(res, r.status === 'ok' ? 200 : 503, r);
    }
    case '/version':
        return send(res, 200, { version: VERSION, pid: process.pid,
                                worker: Number(process.env.CUTOVER_WORKER_INDEX || 0) });
    case '/':
        if (FAIL_EVERY > 0 && ++rootRequests % FAIL_EVERY === 0)
            return send(res, 500, `error from webapp ${VERSION}\n`, 'text/plain');
        return send(res, 200, `hello from webapp ${VERSION}\n`, 'text/plain');
    default:
        return send(res, 404, { error: 'not found', path: url });
    }
}

const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
        log(`error: ${e.stack || e}`);
        if (!res.headersSent)
            send(res, 500, { error: 'internal' });
    });
});
// Longer than nginx's upstream keepalive_timeout (60 s): the proxy, not the app, closes idle
// upstream connections, so it never sends a request on a connection the app is closing.
server.keepAliveTimeout = 65000;
server.headersTimeout = 66000;
server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => {
        sockets.delete(s);
        if (draining && sockets.size === 0)
            finish();
    });
});

function finish() {
    log('drained, exiting');
    process.exit(0);
}

function drain(signal) {
    if (draining)
        return;
    draining = true;
    log(`${signal}: draining ${sockets.size} connection(s)`);
    // Step 1: net.Server's close only stops accepting. (http.Server.close would also close idle
    // keep-alive connections at once, which step 4 forbids.)
    net.Server.prototype.close.call(server);
    if (sockets.size === 0)
        return finish();
    // Step 4: after the grace, close connections with no request in progress; the busy ones
    // close after their response (Connection: close). Repeat for stragglers.
    setTimeout(function sweep() {
        server.closeIdleConnections();
        if (sockets.size > 0)
            setTimeout(sweep, 100).unref();
    }, GRACE_MS).unref();
}

process.on('SIGTERM', () => drain('SIGTERM'));
process.on('SIGINT', () => drain('SIGINT'));

function listenTarget() {
    const fds = Number(process.env.LISTEN_FDS || 0);
    if (fds >= 1 && Number(process.env.LISTEN_PID) === process.pid)
        return { fd: 3 };  // SD_LISTEN_FDS_START
    const port = Number(process.env.PORT || 0);
    if (!port) {
        process.stderr.write('webapp: set PORT or run under `cutover supervise` (LISTEN_FDS)\n');
        process.exit(2);
    }
    return { port, host: process.env.HOST || '127.0.0.1' };
}

const target = listenTarget();
server.listen(target, () => {
    log(`listening on ${target.fd !== undefined ? 'fd 3' : `${target.host}:${target.port}`}`);
});
server.on('error', (e) => {
    log(`listen failed: ${e.message}`);
    process.exit(1);
});
