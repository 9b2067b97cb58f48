#!/usr/bin/python3
"""The sample web app of the example bundle (and of the deployment e2e tests).

    server.py --port P [--version V] [--error-ratio R] [--max-lifetime S] [--pidfile F]

Python 3 standard library only. HTTP/1.1 keep-alive, one thread per connection.
  GET /health   200 "ok" (always: health checks keep it in service, alarms judge its answers)
  anything else 200 "<version>\\n", or 500 "<version> error\\n" for every round(1/R)-th request
                when --error-ratio R > 0 (exactly R of the answers, spread evenly)
SIGTERM: stops accepting, finishes the requests in flight, exits 0. --max-lifetime bounds how
long a forgotten instance can outlive its test (default: forever).
"""
import argparse
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--version", default="v1")
    ap.add_argument("--error-ratio", type=float, default=0.0)
    ap.add_argument("--max-lifetime", type=float, default=0.0)
    ap.add_argument("--pidfile")
    args = ap.parse_args()
    every = round(1 / args.error_ratio) if args.error_ratio > 0 else 0
    lock = threading.Lock()
    count = [0]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = 65536  # one write per response (flushed after each request), and
        disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall between head and body

        def log_message(self, *a):
            pass

        def answer(self, status, body):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-App-Version", args.version)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def do_GET(self):
            if self.path == "/health":
                self.answer(200, "ok\n")
                return
            with lock:
                count[0] += 1
                n = count[0]
            if every and n % every == 0:
                self.answer(500, f"{args.version} error\n")
            else:
                self.answer(200, f"{args.version}\n")

        do_HEAD = do_GET

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            self.do_GET()

    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.daemon_threads = True
    srv = ThreadingHTTPServer((args.host, args.port), Handler)
    if args.pidfile:
        with open(args.pidfile + ".tmp", "w") as f:
            f.write(f"{os.getpid()}\n")
        os.replace(args.pidfile + ".tmp", args.pidfile)

    def stop(*_):
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.max_lifetime > 0:
        threading.Timer(args.max_lifetime, stop).start()
    srv.serve_forever(poll_interval=0.2)
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
