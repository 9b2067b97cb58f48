#!/usr/bin/env python3
"""A small HTTP/1.1 app that follows cutover's drain contract (docs/man/cutover-supervise.md).

Binding:
  * LISTEN_FDS=1 and LISTEN_PID == our pid: serve the inherited socket on fd 3 (listen: mode);
  * otherwise PORT (ports: mode), on 127.0.0.1.
Readiness: answers GET /health with 200 once booted, and sends READY=1 to NOTIFY_SOCKET.
Drain contract, on SIGTERM or SIGINT:
  1. stop accepting (close our copy of the listening socket; other workers keep it open);
  2. finish the requests in flight;
  3. answer every request that still arrives on an open connection with `Connection: close`;
  4. close idle keep-alive connections after a grace of GRACE seconds (>= 1 s), so a client that
     was about to send gets a response, not a reset;
  5. exit once no connection is left.
Misbehaviour for tests (all optional): --boot-delay S (slow boot), --never-ready (never
becomes ready: /health answers 503, no READY=1), --silent-health (reads GET /health but never
answers it, no READY=1), --crash-after S (exit 1 after S seconds), --exit-at-start CODE,
--spam N (write N lines to stdout at start), --hog-mb N (hold N MiB once ready), --tag TEXT (returned in every response body),
--mode-file PATH (more arguments read from PATH at each start: a test's "new version").
"""
import argparse
import asyncio
import os
import signal
import socket
import sys
import time

GRACE = 1.0


def say(*args, **kw):
    """print() that survives a closed stdout (a supervisor that died and was restarted)."""
    try:
        print(*args, flush=True, **kw)
    except (OSError, ValueError):
        pass


class App:
    def __init__(self, args):
        self.args = args
        self.ready = False
        self.draining = False
        self.conns = {}  # writer -> {"busy": bool}
        self.server = None
        self.drained = asyncio.Event()
        self.served = 0

    def body(self, path):
        return f"ok pid={os.getpid()} tag={self.args.tag} path={path}\n".encode()

    async def handle(self, reader, writer):
        state = {"busy": False}
        self.conns[writer] = state
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
                    break
                state["busy"] = True
                lines = head.decode("latin-1").split("\r\n")
                method, path, version = (lines[0].split(" ") + ["", "", ""])[:3]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                length = int(headers.get("content-length", "0") or 0)
                if length:
                    await reader.readexactly(length)
                keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
                if path == "/health" and self.args.silent_health:
                    say("health: holding the request, never answering")
                    state["busy"] = False  # idle for the drain: it may close us
                    await reader.read()  # never answer; wait for the client to give up
                    say("health: the client gave up")
                    break
                if path == "/health":
                    status, body = ("200 OK", b"ok\n") if self.ready else ("503 Booting", b"no\n")
                    if not self.ready:
                        say("health: answering 503")
                elif path == "/slow":
                    await asyncio.sleep(0.3)
                    status, body = "200 OK", self.body(path)
                else:
                    status, body = "200 OK", self.body(path)
                close = not keep or self.draining
                resp = (f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\n"
                        f"Content-Length: {len(body)}\r\n"
                        f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n").encode() + body
                writer.write(resp)
                await writer.drain()
                self.served += 1
                state["busy"] = False
                if close:
                    break
        except ConnectionError:
            pass
        finally:
            self.conns.pop(writer, None)
            writer.close()
            if self.draining and not self.conns:
                self.drained.set()

    async def drain(self):
        self.draining = True
        say(f"draining: {len(self.conns)} connection(s) open")
        if self.server is not None:
            self.server.close()  # stop accepting; the shared socket stays open in other workers
        await asyncio.sleep(GRACE)  # clients mid-request get `Connection: close`
        for w, st in list(self.conns.items()):
            if not st["busy"]:
                w.close()  # idle after the grace: close it
        deadline = time.monotonic() + 10
        while self.conns and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            for w, st in list(self.conns.items()):
                if not st["busy"]:
                    w.close()
        say(f"drained; served {self.served} requests")

    def listening_socket(self):
        if os.environ.get("LISTEN_FDS") == "1" and os.environ.get("LISTEN_PID") == str(os.getpid()):
            return socket.socket(fileno=3)
        port = int(os.environ.get("PORT", "0"))
        if not port:
            sys.exit("drain_app: neither LISTEN_FDS nor PORT is set")
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(1024)
        return s

    async def main(self):
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if self.args.boot_delay:
            await asyncio.sleep(self.args.boot_delay)
        sock = self.listening_socket()
        self.server = await asyncio.start_server(self.handle, sock=sock, backlog=1024)
        if not self.args.never_ready and not self.args.silent_health:
            self.ready = True
            notify = os.environ.get("NOTIFY_SOCKET")
            if notify:
                with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as n:
                    n.sendto(b"READY=1", notify)
        say(f"listening pid={os.getpid()} tag={self.args.tag}")
        if self.args.hog_mb:
            self.hog = bytearray(self.args.hog_mb * 1024 * 1024)
            for i in range(0, len(self.hog), 4096):
                self.hog[i] = 1  # touch every page: resident
        if self.args.crash_after:
            loop.call_later(self.args.crash_after, lambda: os._exit(1))
        await stop.wait()
        await self.drain()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--boot-delay", type=float, default=0)
    p.add_argument("--never-ready", action="store_true")
    p.add_argument("--silent-health", action="store_true")
    p.add_argument("--crash-after", type=float, default=0)
    p.add_argument("--exit-at-start", type=int, default=None)
    p.add_argument("--spam", type=int, default=0)
    p.add_argument("--hog-mb", type=int, default=0)
    p.add_argument("--tag", default=os.environ.get("APP_TAG", "v1"))
    p.add_argument("--mode-file", default=None)
    args = p.parse_args()
    if args.mode_file and os.path.exists(args.mode_file):
        with open(args.mode_file) as f:
            args = p.parse_args(sys.argv[1:] + f.read().split())
    if args.exit_at_start is not None:
        print("exiting at start", file=sys.stderr, flush=True)
        sys.exit(args.exit_at_start)
    for i in range(args.spam):
        print(f"spam line {i} " + "x" * 80)
    sys.stdout.flush()
    asyncio.run(App(args).main())


if __name__ == "__main__":
    main()
