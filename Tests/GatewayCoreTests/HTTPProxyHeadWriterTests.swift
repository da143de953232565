import XCTest
@testable import GatewayCore

final class HTTPProxyHeadWriterTests: XCTestCase {
    private let limits = HeadLimits(maxStartLine: 256, maxHeadSize: 4096, maxHeaders: 64)

    private func forward(_ request: String, framing: BodyFraming? = nil, client: String = "192.0.2.1",
                         requestID: String = "01ARZ3NDEKTSV4RRFFQ69G5FAV", proto: StaticString = "http",
                         file: StaticString = #filePath, line: UInt = #line) -> String {
        var input = bytes(request)
        let out = ByteBuffer(capacity: 16)
        input.withUnsafeMutableBufferPointer { b in
            // As the gateway does: parse, then normalise the target in place, then write.
            var parser = RequestHeadParser(limits: limits)
            guard case .complete = parser.parse(b.baseAddress!, count: b.count), parser.normalizeTarget(b.baseAddress!) == nil else {
                XCTFail("request did not parse", file: file, line: line)
                return
            }
            let head = parser.head
            bytes(client).withUnsafeBytes { clientBytes in
                bytes(requestID).withUnsafeBytes { idBytes in
                    let facts = ProxyHeadWriter.ForwardingFacts(clientAddress: clientBytes, requestID: idBytes, proto: proto,
                                                                defaultHost: UnsafeRawBufferPointer(start: nil, count: 0))
                    ProxyHeadWriter.writeRequest(head, from: b.baseAddress!, framing: framing ?? head.framing,
                                                 facts: facts, into: out)
                }
            }
        }
        return text(out)
    }

    private func respond(_ response: String, method: HTTPMethod = .get, framing: BodyFraming? = nil,
                         requestID: String = "rid-1", connection: ProxyHeadWriter.ConnectionDirective = .none,
                         extra: String = "", preserveContentLength: Bool = false,
                         file: StaticString = #filePath, line: UInt = #line) -> String {
        let input = bytes(response)
        let out = ByteBuffer(capacity: 16)
        input.withUnsafeBufferPointer { b in
            var parser = ResponseHeadParser(limits: limits)
            guard case .complete = parser.parse(b.baseAddress!, count: b.count) else {
                XCTFail("response did not parse", file: file, line: line)
                return
            }
            let head = parser.head
            bytes(requestID).withUnsafeBytes { idBytes in
                bytes(extra).withUnsafeBytes { extraBytes in
                    ProxyHeadWriter.writeResponse(head, from: b.baseAddress!, framing: framing ?? head.framing(requestMethod: method),
                                                  requestID: idBytes, connection: connection, extraHeaders: extraBytes,
                                                  preserveContentLength: preserveContentLength, into: out)
                }
            }
        }
        return text(out)
    }

    func testRequestExactBytes() {
        let request = """
            POST /api/v1/items?x=1 HTTP/1.1\r
            Host: api.example.com\r
            Connection: keep-alive, X-Hop\r
            Keep-Alive: timeout=5\r
            TE: trailers\r
            Trailer: X-Sum\r
            Upgrade: h2c\r
            Proxy-Connection: keep-alive\r
            Expect: 100-continue\r
            X-Hop: secret\r
            x-hop: also\r
            X-Hoppity: kept\r
            X-Forwarded-For: 203.0.113.7, 10.0.0.1\r
            X-Request-Id: client-chosen\r
            X-Forwarded-Proto: https\r
            Content-Type: application/json\r
            Content-Length: 5\r
            Authorization: Bearer t\r
            \r

            """
        let expected = """
            POST /api/v1/items?x=1 HTTP/1.1\r
            Host: api.example.com\r
            X-Hoppity: kept\r
            Content-Type: application/json\r
            Authorization: Bearer t\r
            X-Forwarded-For: 203.0.113.7, 10.0.0.1, 192.0.2.1\r
            X-Forwarded-Proto: http\r
            X-Request-Id: 01ARZ3NDEKTSV4RRFFQ69G5FAV\r
            Content-Length: 5\r
            \r

            """
        XCTAssertEqual(forward(request), expected)
    }

    func testRequestMinimal() {
        XCTAssertEqual(forward("GET / HTTP/1.1\r\nHost: h\r\n\r\n", client: "::1", requestID: "r", proto: "https"),
                       "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: ::1\r\nX-Forwarded-Proto: https\r\nX-Request-Id: r\r\n\r\n")
    }

    func testAbsoluteFormIsForwardedInOriginFormWithItsAuthorityAsHost() {
        let tail = "X-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\nX-Request-Id: r\r\n\r\n"
        let cases: [(String, String)] = [
            ("GET http://api.example.com/v1/a?x=1 HTTP/1.1\r\nHost: other\r\nAccept: */*\r\n\r\n",
             "GET /v1/a?x=1 HTTP/1.1\r\nHost: api.example.com\r\nAccept: */*\r\n"),
            ("GET HTTPS://api.example.com:8443 HTTP/1.1\r\nHost: api.example.com:8443\r\n\r\n",
             "GET / HTTP/1.1\r\nHost: api.example.com:8443\r\n"),
            ("GET http://h?q=1 HTTP/1.1\r\nHost: x\r\n\r\n", "GET /?q=1 HTTP/1.1\r\nHost: h\r\n"),
            ("GET http://[::1]:9000/a/../b//c HTTP/1.0\r\n\r\n", "GET /b/c HTTP/1.1\r\nHost: [::1]:9000\r\n"),
            ("GET http://h/a HTTP/1.1\r\nHost:\r\n\r\n", "GET /a HTTP/1.1\r\nHost: h\r\n"),
        ]
        for (request, expected) in cases {
            XCTAssertEqual(forward(request, requestID: "r"), expected + tail, request)
        }
    }

    func testNormalisedTargetIsForwarded() {
        XCTAssertEqual(forward("GET /v1/x/..//%61dmin/%2e/a?q=/../%2e HTTP/1.1\r\nHost: h\r\n\r\n", requestID: "r"),
                       "GET /v1/admin/a?q=/../%2e HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 192.0.2.1\r\n"
                       + "X-Forwarded-Proto: http\r\nX-Request-Id: r\r\n\r\n")
    }

    func testEachHopByHopHeaderIsDropped() {
        let hopByHop = ["Connection: x-y", "Keep-Alive: 5", "TE: trailers", "Trailer: X-Sum", "Upgrade: websocket",
                        "Proxy-Connection: close", "Expect: 100-continue", "Content-Length: 0", "connection: close",
                        "X-Request-Id: abc", "X-Forwarded-Proto: https"]
        for header in hopByHop {
            let out = forward("GET /p HTTP/1.1\r\nHost: h\r\n\(header)\r\nAccept: */*\r\n\r\n", framing: BodyFraming.none)
            XCTAssertFalse(out.contains(header), header)
            XCTAssertEqual(out, "GET /p HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nX-Forwarded-For: 192.0.2.1\r\n"
                + "X-Forwarded-Proto: http\r\nX-Request-Id: 01ARZ3NDEKTSV4RRFFQ69G5FAV\r\n\r\n", header)
        }
    }

    func testHeadersNamedByConnectionAreDropped() {
        let out = forward("GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nConnection: x-a , X-B\r\nx-b: 2\r\nX-C: 3\r\nX-AB: 4\r\n\r\n")
        XCTAssertEqual(out, "GET / HTTP/1.1\r\nHost: h\r\nX-C: 3\r\nX-AB: 4\r\nX-Forwarded-For: 192.0.2.1\r\n"
            + "X-Forwarded-Proto: http\r\nX-Request-Id: 01ARZ3NDEKTSV4RRFFQ69G5FAV\r\n\r\n")
        // Two Connection headers: names from both count.
        let two = forward("GET / HTTP/1.1\r\nHost: h\r\nConnection: X-A\r\nConnection: X-B\r\nX-A: 1\r\nX-B: 2\r\nX-C: 3\r\n\r\n")
        XCTAssertFalse(two.contains("X-A"))
        XCTAssertFalse(two.contains("X-B"))
        XCTAssertTrue(two.contains("X-C: 3\r\n"))
    }

    func testForwardedFor() {
        let cases: [(String, String, String)] = [
            ("none", "", "X-Forwarded-For: 192.0.2.1\r\n"),
            ("one", "X-Forwarded-For: 198.51.100.2\r\n", "X-Forwarded-For: 198.51.100.2, 192.0.2.1\r\n"),
            ("chain", "X-Forwarded-For: 1.1.1.1,  2.2.2.2 \r\n", "X-Forwarded-For: 1.1.1.1,  2.2.2.2, 192.0.2.1\r\n"),
            ("empty", "X-Forwarded-For: \r\n", "X-Forwarded-For: 192.0.2.1\r\n"),
            ("lower-case name", "x-forwarded-for: 3.3.3.3\r\n", "X-Forwarded-For: 3.3.3.3, 192.0.2.1\r\n"),
            // Several field lines are one list (RFC 9110 §5.3): no hop may be lost.
            ("two lines", "X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2, 3.3.3.3\r\n",
             "X-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, 192.0.2.1\r\n"),
            ("empty line among them", "X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For:\r\nX-Forwarded-For: 2.2.2.2\r\n",
             "X-Forwarded-For: 1.1.1.1, 2.2.2.2, 192.0.2.1\r\n"),
        ]
        for (name, header, expected) in cases {
            let out = forward("GET / HTTP/1.1\r\nHost: h\r\n\(header)\r\n")
            XCTAssertEqual(out, "GET / HTTP/1.1\r\nHost: h\r\n\(expected)X-Forwarded-Proto: http\r\n"
                + "X-Request-Id: 01ARZ3NDEKTSV4RRFFQ69G5FAV\r\n\r\n", name)
        }
    }

    func testFramingIsRecreated() {
        let cases: [(String, BodyFraming, String)] = [
            ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:  007\r\n\r\n", .length(7), "Content-Length: 7\r\n"),
            ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n", .length(5), "Content-Length: 5\r\n"),
            ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", .chunked, "Transfer-Encoding: chunked\r\n"),
            // The gateway may change framing (e.g. a buffered chunked body sent with a length).
            ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", .length(12), "Content-Length: 12\r\n"),
            ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", .none, ""),
        ]
        for (request, framing, framingLine) in cases {
            XCTAssertEqual(forward(request, framing: framing),
                           "POST / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\n"
                            + "X-Request-Id: 01ARZ3NDEKTSV4RRFFQ69G5FAV\r\n\(framingLine)\r\n", request)
        }
    }

    func testHTTP10RequestIsForwardedAsHTTP11() {
        let out = forward("GET /old HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n")
        XCTAssertTrue(out.hasPrefix("GET /old HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: "), out)
        XCTAssertFalse(out.contains("keep-alive"))
    }

    func testForwardedRequestParsesBack() {
        let out = bytes(forward("PUT /x?y HTTP/1.1\r\nHost: h\r\nConnection: close, X-Z\r\nX-Z: 1\r\nX-Keep: 2\r\n"
            + "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"))
        let r = parseRequest(out)
        XCTAssertEqual(r.status, .complete(headLength: out.count))
        XCTAssertEqual(r.method, .put)
        XCTAssertEqual(r.target, "/x?y")
        XCTAssertEqual(r.framing, .chunked)
        XCTAssertTrue(r.keepAlive)
        XCTAssertFalse(r.expectContinue)
        XCTAssertEqual(r.headers.map(\.name), ["Host", "X-Keep", "X-Forwarded-For", "X-Forwarded-Proto", "X-Request-Id", "Transfer-Encoding"])
    }

    func testResponseExactBytes() {
        let response = """
            HTTP/1.1 200 OK\r
            Content-Type: application/json\r
            Connection: keep-alive, X-Internal\r
            X-Internal: yes\r
            Keep-Alive: timeout=5\r
            Transfer-Encoding: chunked\r
            X-Request-Id: upstream-id\r
            Trailer: X-Sum\r
            Proxy-Connection: keep-alive\r
            Set-Cookie: a=1\r
            Set-Cookie: b=2\r
            \r

            """
        let expected = """
            HTTP/1.1 200 OK\r
            Content-Type: application/json\r
            Set-Cookie: a=1\r
            Set-Cookie: b=2\r
            X-Request-Id: rid-1\r
            X-RateLimit-Limit: 10\r
            X-RateLimit-Remaining: 9\r
            Connection: keep-alive\r
            Transfer-Encoding: chunked\r
            \r

            """
        XCTAssertEqual(respond(response, connection: .keepAlive, extra: "X-RateLimit-Limit: 10\r\nX-RateLimit-Remaining: 9\r\n"),
                       expected)
    }

    func testResponseVariants() {
        let cases: [(String, String, String)] = [
            ("length, close", respond("HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nETag: \"x\"\r\n\r\n", connection: .close),
             "HTTP/1.1 404 Not Found\r\nETag: \"x\"\r\nX-Request-Id: rid-1\r\nConnection: close\r\nContent-Length: 2\r\n\r\n"),
            ("empty reason", respond("HTTP/1.1 204\r\nContent-Length: 0\r\n\r\n"),
             "HTTP/1.1 204 \r\nX-Request-Id: rid-1\r\n\r\n"),
            ("HTTP/1.0 upstream", respond("HTTP/1.0 200 Fine\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\n"),
             "HTTP/1.1 200 Fine\r\nX-Request-Id: rid-1\r\nContent-Length: 3\r\n\r\n"),
            ("until close", respond("HTTP/1.1 500 Oops\r\nServer: s\r\n\r\n", connection: .close),
             "HTTP/1.1 500 Oops\r\nServer: s\r\nX-Request-Id: rid-1\r\nConnection: close\r\n\r\n"),
            ("the gateway's Date replaces the upstream's",
             respond("HTTP/1.1 200 OK\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\nServer: s\r\nContent-Length: 0\r\n\r\n",
                     framing: .length(0), extra: "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"),
             "HTTP/1.1 200 OK\r\nServer: s\r\nX-Request-Id: rid-1\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 0\r\n\r\n"),
            ("HEAD drops length", respond("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nETag: x\r\n\r\n", method: .head),
             "HTTP/1.1 200 OK\r\nETag: x\r\nX-Request-Id: rid-1\r\n\r\n"),
            ("HEAD keeps length", respond("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nETag: x\r\n\r\n", method: .head,
                                          preserveContentLength: true),
             "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nETag: x\r\nX-Request-Id: rid-1\r\n\r\n"),
            ("304 keeps length", respond("HTTP/1.1 304 Not Modified\r\nETag: x\r\nContent-Length: 99\r\nConnection: X-Hop\r\nX-Hop: 1\r\n\r\n",
                                         connection: .keepAlive, preserveContentLength: true),
             "HTTP/1.1 304 Not Modified\r\nETag: x\r\nContent-Length: 99\r\nX-Request-Id: rid-1\r\nConnection: keep-alive\r\n\r\n"),
            ("preserve still drops TE", respond("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", method: .head,
                                                preserveContentLength: true),
             "HTTP/1.1 200 OK\r\nX-Request-Id: rid-1\r\n\r\n"),
            ("reframed", respond("HTTP/1.1 502 Bad Gateway\r\nTransfer-Encoding: chunked\r\nContent-Type: text/html\r\n\r\n",
                                 framing: .length(40), extra: "Retry-After: 3\r\n"),
             "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nX-Request-Id: rid-1\r\nRetry-After: 3\r\nContent-Length: 40\r\n\r\n"),
        ]
        for (name, got, expected) in cases {
            XCTAssertEqual(got, expected, name)
        }
    }

    func testWrittenResponseParsesBack() {
        let out = bytes(respond("HTTP/1.1 201 Created\r\nLocation: /x/1\r\nContent-Length: 10\r\n\r\n", connection: .close,
                                extra: "Allow: GET\r\n"))
        let r = parseResponse(out)
        XCTAssertEqual(r.status, .complete(headLength: out.count))
        XCTAssertEqual(r.code, 201)
        XCTAssertEqual(r.getFraming, .length(10))
        XCTAssertFalse(r.keepAlive)
        XCTAssertEqual(r.headers.map(\.name), ["Location", "X-Request-Id", "Allow", "Connection", "Content-Length"])
    }

    func testLocalResponse() {
        let cases: [(Int, StaticString, Int, ProxyHeadWriter.ConnectionDirective, String, String)] = [
            (404, "Not Found", 57, .none, "",
             "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nX-Request-Id: r-9\r\nContent-Length: 57\r\n\r\n"),
            (405, "Method Not Allowed", 120, .close, "Allow: GET, HEAD\r\n",
             "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json\r\nX-Request-Id: r-9\r\nAllow: GET, HEAD\r\n"
                + "Connection: close\r\nContent-Length: 120\r\n\r\n"),
            (429, "Too Many Requests", 0, .keepAlive, "Retry-After: 1\r\nX-A: b\r\n",
             "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nX-Request-Id: r-9\r\nRetry-After: 1\r\nX-A: b\r\n"
                + "Connection: keep-alive\r\nContent-Length: 0\r\n\r\n"),
        ]
        for (status, reason, length, connection, extra, expected) in cases {
            let out = ByteBuffer(capacity: 8)
            bytes("r-9").withUnsafeBytes { id in
                bytes(extra).withUnsafeBytes { extraBytes in
                    ProxyHeadWriter.writeLocalResponse(status: status, reason: reason, contentLength: length, requestID: id,
                                                       connection: connection, extraHeaders: extraBytes, into: out)
                }
            }
            XCTAssertEqual(text(out), expected, "\(status)")
        }
    }

    func testDroppedWhenForwarding() {
        let dropped: Set<KnownHeader> = [.contentLength, .transferEncoding, .connection, .keepAlive, .proxyConnection, .te,
                                         .trailer, .upgrade, .expect]
        let all: [KnownHeader] = [.other, .host, .contentLength, .transferEncoding, .connection, .keepAlive, .proxyConnection,
                                  .te, .trailer, .upgrade, .expect, .xRequestId, .xForwardedFor, .xForwardedProto,
                                  .authorization, .xApiKey, .idempotencyKey, .contentType, .retryAfter]
        for header in all {
            XCTAssertEqual(header.isDroppedWhenForwarding, dropped.contains(header), "\(header)")
        }
    }

    func testKnownHeaderClassification() {
        let cases: [(String, KnownHeader)] = [
            ("Host", .host), ("content-length", .contentLength), ("Transfer-Encoding", .transferEncoding),
            ("CONNECTION", .connection), ("Keep-Alive", .keepAlive), ("Proxy-Connection", .proxyConnection), ("te", .te),
            ("Trailer", .trailer), ("Upgrade", .upgrade), ("Expect", .expect), ("X-Request-ID", .xRequestId),
            ("X-Forwarded-For", .xForwardedFor), ("X-Forwarded-Proto", .xForwardedProto), ("Authorization", .authorization),
            ("X-Api-Key", .xApiKey), ("Idempotency-Key", .idempotencyKey), ("Content-Type", .contentType),
            ("Retry-After", .retryAfter), ("date", .date), ("Dates", .other), ("Hosts", .other), ("Content-Lengths", .other), ("X-Forwarded-Host", .other),
            ("Trailers", .other), ("T", .other), ("Content_Length", .other),
        ]
        for (name, expected) in cases {
            let known = bytes(name).withUnsafeBufferPointer { KnownHeader.classify($0.baseAddress!, $0.count) }
            XCTAssertEqual(known, expected, name)
        }
    }
}
