#!/usr/bin/env python3
"""A TLS upstream for the integration tests: HTTP/1.1 keep-alive over TLS, answering every
request with JSON that says what it saw (method, path, body length, the SNI name, the client
certificate's CN). With --client-ca it requires a client certificate signed by that CA (mTLS).

usage: tls_upstream.py --port P --cert CHAIN.pem --key KEY.pem [--client-ca CA.pem]
Prints "listening on P" once it accepts connections.
"""
import argparse
import http.server
import json
import socketserver
import ssl
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One handler per connection: this counts its requests, so tests can see a pooled connection reused.
    served = 0

    def log_message(self, *args):
        pass

    def answer(self):
        self.served += 1
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        peer = self.connection.getpeercert()
        subject = dict(part[0] for part in peer.get("subject", ())) if peer else {}
        out = json.dumps({
            "method": self.command,
            "path": self.path,
            "body_length": len(body),
            "sni": getattr(self.connection, "sni", None),
            "client_cn": subject.get("commonName"),
            "tls_version": self.connection.version(),
            "forwarded_proto": self.headers.get("X-Forwarded-Proto"),
            "requests_on_connection": self.served,
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = answer


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, context):
        self.context = context
        super().__init__(address, Handler)

    def get_request(self):
        sock, address = self.socket.accept()
        # The handshake runs in the handler's thread (setup), so one stalled client blocks no other.
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def finish_request(self, request, client_address):
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError):
            return
        super().finish_request(request, client_address)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--client-ca")
    args = parser.parse_args()

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    if args.client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(args.client_ca)

    def remember_sni(sock, name, _context):
        sock.sni = name

    context.sni_callback = remember_sni
    server = Server(("127.0.0.1", args.port), context)
    print(f"listening on {args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
