#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""A static web server for the browser viewer (docs/browser.md), on one
address only: serves DIR, and with --reports FILE appends every request to
/report (what a page measured) to FILE as one JSON object a line, for
scripts/browser-bench.sh to read. Used by pipelines/browser-demo.sh too.

    scripts/web-serve.py --bind 127.0.0.1 --port 8080 --dir SITE [--reports FILE] [--cors]
"""
import argparse
import functools
import http.server
import json
import sys
import time
import urllib.parse


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".js": "text/javascript",
        ".json": "application/json",
    }
    reports = None
    cors = False

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/report":
            if self.reports is not None:
                fields = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
                fields["received"] = time.time()
                self.reports.write(json.dumps(fields) + "\n")
                self.reports.flush()
            self.send_response(204)
            self.end_headers()
            return
        super().do_GET()

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        if self.cors:
            self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()

    def log_message(self, format, *args):
        pass


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="TCP port (default 8080)")
    p.add_argument("--dir", required=True, help="the directory to serve")
    p.add_argument("--reports", help="append the pages' /report requests to this file, as JSON lines")
    p.add_argument("--cors", action="store_true",
                   help="let pages of any origin read what it serves (an HLS playlist for a page served elsewhere)")
    a = p.parse_args()
    Handler.cors = a.cors
    Handler.reports = open(a.reports, "a", encoding="utf-8") if a.reports else None
    handler = functools.partial(Handler, directory=a.dir)
    server = http.server.ThreadingHTTPServer((a.bind, a.port), handler)
    print(f"web-serve: http://{a.bind}:{a.port}/ serves {a.dir}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
