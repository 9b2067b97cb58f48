#!/usr/bin/python3
"""cutover test backend: a small HTTP/1.1 origin that tests can steer.

    backend.py --port P [--host 127.0.0.1] [--name N]

Python 3 standard library only (asyncio). One process, one event loop; keep-alive, pipelining
(answered in order), HTTP/1.0 (closes unless the client asked for keep-alive), request bodies by
Content-Length or chunked.

Every answer carries `X-Backend: NAME`. A request with `Expect: 100-continue` and a body gets
`HTTP/1.1 100 Continue` before its body is read. Routes:

  GET  /health            200 "ok"; 500 when told {"health": "fail"} (counted, see /_control)
  any  /echo              200 JSON: name, method, target, path, query, version, headers (as
                          received, in order, [[name, value], ...]), body_bytes, body_sha256, peer
  POST /sink              reads the body without keeping it: JSON {"bytes": N} (+ "sha256"
                          with ?sha256=1); works for Content-Length and chunked bodies
  GET  /ws                RFC 6455 handshake, then echoes every data frame (masked client
                          frames required), answers ping with pong and close with close
  POST /_control          JSON body, any of: {"health": "fail"|"ok", "reset": bool,
                          "status": N|null, "delay": seconds, "health_delay": seconds,
                          "release": KEY}; answers the state below
  GET  /_control          {"name", "requests", "inflight", "held", "health_ok", ...}
  anything else           200 "NAME\\n"

Query parameters, on any route except /_control and /ws:
  delay=S      wait S seconds (float) before answering
  hold=KEY     do not answer until told {"release": KEY} (or HOLD_MAX_S passed: then 500
               "hold expired"); a release that comes first lets the request through at once.
               Tests that need a request in flight use this rather than a delay, which races
               with whatever the test does meanwhile; /_control's "held" lists waiting keys
  status=N     answer with status N (body "NAME N\\n"; no body for 1xx/204/304/HEAD)
  cl=N         with status 204/304: also send "Content-Length: N" (and no body), as some
               origins do; a proxy must not wait for that body
  reset=1      reset the connection (RST, SO_LINGER 0) before sending any byte
  chunked=N    answer with a chunked body of N chunks "chunk I\\n"
  size=N       answer with an N-byte body (bytes cycle through a-z)
  close=1      answer with Connection: close and close
  raw=NAME     send a malformed answer and close: cl_te, double_cl, garbage, obs_fold,
               bad_chunk, short_body (see RAW_RESPONSES)
"""
import argparse
import asyncio
import base64
import hashlib
import json
import os
import signal
import socket
import struct
import sys
from urllib.parse import parse_qs, urlsplit

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEAD = 256 * 1024
READ_SIZE = 256 * 1024
HOLD_MAX_S = 60.0  # every hold is bounded: a test that forgets to release still ends
REASONS = {
    100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created", 204: "No Content",
    304: "Not Modified", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
    413: "Payload Too Large", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}
ALPHABET = bytes(range(ord("a"), ord("z") + 1))
# ?raw=NAME: a malformed answer, then close (what a broken or hostile target sends).
RAW_RESPONSES = {
    "cl_te": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"0\r\n\r\n",
    "double_cl": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "garbage": b"HELLO THERE\r\n\r\n",
    "obs_fold": b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
    "bad_chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "short_body": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this",
}


class BadRequest(Exception):
    pass


class State:
    """What /_control sets and reports. Counters are monotonic for the process's life."""

    def __init__(self, name):
        self.name = name
        self.health = "ok"
        self.reset = False
        self.status = None
        self.delay = 0.0
        self.health_delay = 0.0
        self.requests = 0          # every request except /health and /_control
        self.inflight = 0          # requests received and not yet answered (same scope)
        self.health_ok = 0
        self.health_fail = 0
        self.connections = 0       # currently open client connections
        self.connections_total = 0
        self.ws_sessions = 0
        self.gates = {}            # hold KEY -> asyncio.Event, set by {"release": KEY}
        self.held = {}             # hold KEY -> requests waiting on it now

    def gate(self, key):
        if key not in self.gates:
            self.gates[key] = asyncio.Event()
        return self.gates[key]

    def report(self):
        return {
            "name": self.name, "pid": os.getpid(), "health": self.health, "reset": self.reset,
            "status": self.status, "delay": self.delay, "health_delay": self.health_delay,
            "requests": self.requests,
            "inflight": self.inflight, "health_ok": self.health_ok,
            "health_fail": self.health_fail, "connections": self.connections,
            "connections_total": self.connections_total, "ws_sessions": self.ws_sessions,
            "held": sorted(k for k, n in self.held.items() if n > 0),
        }


class Request:
    __slots__ = ("method", "target", "path", "query", "version", "headers", "keep_alive",
                 "framing", "length")

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def header_tokens(self, name):
        out = []
        for k, v in self.headers:
            if k.lower() == name:
                out.extend(t.strip().lower() for t in v.split(",") if t.strip())
        return out


def parse_head(raw):
    """Parses a request head (without the final CRLF CRLF). Strict enough for tests."""
    try:
        text = raw.decode("latin-1")
    except UnicodeDecodeError as e:  # latin-1 never fails; kept for clarity
        raise BadRequest(str(e))
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest("bad request line")
    req = Request()
    req.method, req.target, version = parts
    req.version = version[5:]
    if req.version not in ("1.0", "1.1"):
        raise BadRequest("bad version")
    req.headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest("bad header line")
        req.headers.append((name, value.strip()))
    u = urlsplit(req.target)
    req.path = u.path or "/"
    req.query = {k: v[-1] for k, v in parse_qs(u.query, keep_blank_values=True).items()}
    conn = req.header_tokens("connection")
    if req.version == "1.1":
        req.keep_alive = "close" not in conn
    else:
        req.keep_alive = "keep-alive" in conn
    te = req.header_tokens("transfer-encoding")
    cl = req.header("content-length")
    if te:
        if te[-1] != "chunked":
            raise BadRequest("unsupported transfer-encoding")
        req.framing, req.length = "chunked", 0
    elif cl is not None:
        if not cl.isdigit():
            raise BadRequest("bad content-length")
        req.framing, req.length = "length", int(cl)
    else:
        req.framing, req.length = "none", 0
    return req


class Conn:
    """One client connection: reads requests in order and answers each before the next."""

    def __init__(self, state, reader, writer):
        self.st = state
        self.r = reader
        self.w = writer

    async def run(self):
        st = self.st
        st.connections += 1
        st.connections_total += 1
        try:
            while True:
                try:
                    head = await self.r.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                except asyncio.LimitOverrunError:
                    await self.simple(400, b"head too large\n", close=True)
                    return
                try:
                    req = parse_head(head[:-4])
                except BadRequest as e:
                    await self.simple(400, (str(e) + "\n").encode(), close=True)
                    return
                keep = await self.dispatch(req)
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, BadRequest):
            return
        finally:
            st.connections -= 1
            if not self.w.is_closing():
                self.w.close()

    # ---- bodies -------------------------------------------------------------------------

    async def body_chunks(self, req):
        """Yields the decoded request body in slices; never holds more than READ_SIZE."""
        if req.framing == "length":
            left = req.length
            while left > 0:
                data = await self.r.read(min(left, READ_SIZE))
                if not data:
                    raise asyncio.IncompleteReadError(b"", left)
                left -= len(data)
                yield data
        elif req.framing == "chunked":
            while True:
                line = await self.r.readuntil(b"\r\n")
                size_text = line[:-2].split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise BadRequest("bad chunk size")
                if size == 0:
                    while (await self.r.readuntil(b"\r\n")) != b"\r\n":
                        pass  # trailers: read and drop
                    return
                left = size
                while left > 0:
                    data = await self.r.read(min(left, READ_SIZE))
                    if not data:
                        raise asyncio.IncompleteReadError(b"", left)
                    left -= len(data)
                    yield data
                if await self.r.readexactly(2) != b"\r\n":
                    raise BadRequest("bad chunk end")

    async def read_body(self, req, hasher=None):
        if req.framing != "none" and "100-continue" in req.header_tokens("expect"):
            # As origins do: invite the body (RFC 9110 §10.1.1), once per request.
            req.headers = [(k, v) for k, v in req.headers if k.lower() != "expect"]
            self.w.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await self.w.drain()
        n = 0
        async for data in self.body_chunks(req):
            n += len(data)
            if hasher is not None:
                hasher.update(data)
        return n

    # ---- answers ------------------------------------------------------------------------

    def head_bytes(self, status, headers, close):
        out = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\n",
               f"X-Backend: {self.st.name}\r\n"]
        for k, v in headers:
            out.append(f"{k}: {v}\r\n")
        if close:
            out.append("Connection: close\r\n")
        out.append("\r\n")
        return "".join(out).encode("latin-1")

    async def simple(self, status, body, close=False, ctype="text/plain", extra=(), head_only=False):
        headers = [("Content-Type", ctype)]
        headers.extend(extra)
        if status >= 200 and status not in (204, 304):
            headers.append(("Content-Length", str(len(body))))
        else:
            body = b""
        data = self.head_bytes(status, headers, close)
        if not head_only:
            data += body
        self.w.write(data)
        await self.w.drain()
        if close:
            self.w.close()

    def reset(self):
        sock = self.w.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.w.transport.abort()

    # ---- routes -------------------------------------------------------------------------

    async def dispatch(self, req):
        """Answers one request; returns whether the connection stays open."""
        st = self.st
        if req.path == "/_control":
            return await self.control(req)
        if req.path == "/health":
            await self.read_body(req)
            if st.health_delay > 0:
                await asyncio.sleep(st.health_delay)
            if st.health == "ok":
                st.health_ok += 1
                await self.simple(200, b"ok\n", close=not req.keep_alive,
                                  head_only=req.method == "HEAD")
            else:
                st.health_fail += 1
                await self.simple(500, b"unhealthy\n", close=not req.keep_alive,
                                  head_only=req.method == "HEAD")
            return req.keep_alive
        if req.path == "/ws" and "websocket" in req.header_tokens("upgrade"):
            await self.websocket(req)
            return False
        st.requests += 1
        st.inflight += 1
        try:
            return await self.serve(req)
        finally:
            st.inflight -= 1

    async def serve(self, req):
        st, q = self.st, req.query
        if st.reset or q.get("reset") == "1":
            self.reset()
            return False
        if q.get("raw") in RAW_RESPONSES:
            await self.read_body(req)
            self.w.write(RAW_RESPONSES[q["raw"]])
            await self.w.drain()
            self.w.close()
            return False
        delay = float(q.get("delay", st.delay or 0))
        status = int(q.get("status", st.status or 200))
        close = not req.keep_alive or q.get("close") == "1"
        head_only = req.method == "HEAD"

        hasher = hashlib.sha256() if (req.path in ("/sink", "/echo")) else None
        nbytes = await self.read_body(req, hasher)
        if delay > 0:
            await asyncio.sleep(delay)
        if "hold" in q:
            key = q["hold"]
            st.held[key] = st.held.get(key, 0) + 1
            try:
                await asyncio.wait_for(st.gate(key).wait(), HOLD_MAX_S)
            except asyncio.TimeoutError:
                await self.simple(500, f"{st.name} hold expired\n".encode(), close)
                return not close
            finally:
                st.held[key] -= 1

        if req.path == "/echo":
            body = json.dumps({
                "name": st.name, "method": req.method, "target": req.target, "path": req.path,
                "query": q, "version": req.version, "headers": req.headers,
                "body_bytes": nbytes, "body_sha256": hasher.hexdigest(),
                "peer": "%s:%d" % self.w.get_extra_info("peername")[:2],
            }).encode() + b"\n"
            await self.simple(status, body, close, "application/json", head_only=head_only)
        elif req.path == "/sink":
            out = {"name": st.name, "bytes": nbytes}
            if q.get("sha256") == "1":
                out["sha256"] = hasher.hexdigest()
            await self.simple(status, json.dumps(out).encode() + b"\n", close,
                              "application/json", head_only=head_only)
        elif "chunked" in q:
            await self.chunked(int(q["chunked"]), status, close, head_only)
        elif "size" in q:
            await self.sized(int(q["size"]), status, close, head_only)
        elif status in (204, 304) or status < 200:
            extra = [("Content-Length", q["cl"])] if "cl" in q else []
            self.w.write(self.head_bytes(status, extra, close))
            await self.w.drain()
        elif status != 200:
            await self.simple(status, f"{st.name} {status}\n".encode(), close, head_only=head_only)
        else:
            await self.simple(200, (st.name + "\n").encode(), close, head_only=head_only)
        return not close

    async def chunked(self, n, status, close, head_only):
        self.w.write(self.head_bytes(status, [("Content-Type", "text/plain"),
                                              ("Transfer-Encoding", "chunked")], close))
        if not head_only:
            for i in range(n):
                piece = f"chunk {i}\n".encode()
                self.w.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                await self.w.drain()
            self.w.write(b"0\r\n\r\n")
        await self.w.drain()

    async def sized(self, size, status, close, head_only):
        self.w.write(self.head_bytes(status, [("Content-Type", "application/octet-stream"),
                                              ("Content-Length", str(size))], close))
        if not head_only:
            block = ALPHABET * (65536 // len(ALPHABET) + 1)
            block = block[:65520]  # a multiple of 26, so the cycle stays aligned
            left = size
            while left > 0:
                piece = block[:min(left, len(block))]
                self.w.write(piece)
                left -= len(piece)
                await self.w.drain()
        await self.w.drain()

    async def control(self, req):
        st = self.st
        if req.method == "POST":
            chunks = [c async for c in self.body_chunks(req)]
            try:
                cmd = json.loads(b"".join(chunks) or b"{}")
                if "health" in cmd:
                    if cmd["health"] not in ("ok", "fail"):
                        raise ValueError("health must be ok or fail")
                    st.health = cmd["health"]
                if "reset" in cmd:
                    st.reset = bool(cmd["reset"])
                if "status" in cmd:
                    st.status = None if cmd["status"] is None else int(cmd["status"])
                if "delay" in cmd:
                    st.delay = float(cmd["delay"] or 0)
                if "health_delay" in cmd:
                    st.health_delay = float(cmd["health_delay"] or 0)
                if "release" in cmd:
                    st.gate(str(cmd["release"])).set()
            except (ValueError, TypeError, AttributeError) as e:
                await self.simple(400, json.dumps({"error": str(e)}).encode(), not req.keep_alive,
                                  "application/json")
                return req.keep_alive
        else:
            await self.read_body(req)
        await self.simple(200, json.dumps(st.report()).encode() + b"\n", not req.keep_alive,
                          "application/json")
        return req.keep_alive

    # ---- WebSocket (RFC 6455) -----------------------------------------------------------

    async def websocket(self, req):
        key = req.header("sec-websocket-key")
        if not key or req.header("sec-websocket-version") != "13" or req.method != "GET":
            await self.simple(400, b"bad websocket handshake\n", close=True)
            return
        accept = base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()
        self.st.ws_sessions += 1
        self.w.write(self.head_bytes(101, [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                           ("Sec-WebSocket-Accept", accept)], False))
        await self.w.drain()
        while True:
            try:
                b0, b1 = await self.r.readexactly(2)
            except asyncio.IncompleteReadError:
                return
            fin_op, masked, n = b0, b1 & 0x80, b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", await self.r.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await self.r.readexactly(8))[0]
            if not masked:
                self.w.write(ws_frame(0x8, struct.pack("!H", 1002) + b"unmasked frame"))
                await self.w.drain()
                return
            mask = await self.r.readexactly(4)
            payload = ws_unmask(await self.r.readexactly(n), mask)
            op = fin_op & 0x0F
            if op == 0x8:
                self.w.write(ws_frame(0x8, payload[:2]))
                await self.w.drain()
                return
            if op == 0x9:
                self.w.write(ws_frame(0xA, payload))
            elif op == 0xA:
                continue
            else:
                self.w.write(bytes([fin_op]) + ws_length(len(payload)) + payload)
            await self.w.drain()


def ws_length(n, mask_bit=0):
    if n < 126:
        return bytes([mask_bit | n])
    if n < 65536:
        return bytes([mask_bit | 126]) + struct.pack("!H", n)
    return bytes([mask_bit | 127]) + struct.pack("!Q", n)


def ws_frame(op, payload, fin=True):
    return bytes([(0x80 if fin else 0) | op]) + ws_length(len(payload)) + payload


def ws_unmask(data, mask):
    if not data:
        return data
    m = int.from_bytes((mask * (len(data) // 4 + 1))[:len(data)], "big")
    return (int.from_bytes(data, "big") ^ m).to_bytes(len(data), "big")


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--name", default=None)
    args = ap.parse_args()
    state = State(args.name or f"backend-{args.port}")

    async def on_client(reader, writer):
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await Conn(state, reader, writer).run()

    server = await asyncio.start_server(on_client, args.host, args.port, limit=MAX_HEAD,
                                        backlog=1024, reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"backend {state.name} listening on {args.host}:{args.port}", flush=True)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
