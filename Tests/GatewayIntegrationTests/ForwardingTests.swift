import Foundation
import XCTest

/// The proxy core end to end: real gateway binary, real mock upstream, raw sockets.
final class ForwardingTests: XCTestCase {
    var deployment: Deployment!

    override func setUpWithError() throws {
        deployment = Deployment()
        let mock = try deployment.startMock()
        try deployment.startGateway(servers: [mock], routeExtra: "max_body 200m;")
    }

    override func tearDown() { deployment.stop() }

    func client() throws -> RawClient { try RawClient(port: deployment.gatewayPort) }

    func testProxiesMessagingCallsAndReturnsRequestID() throws {
        let c = try client()
        let created = try c.exchange(post("/v1/messages/text", body: #"{"to":"+15550100","text":"hi"}"#))
        XCTAssertEqual(created.status, 201)
        XCTAssertEqual((created.json["data"] as? [String: Any])?["status"] as? String, "queued")
        let id = try XCTUnwrap(created.header("X-Request-Id"))
        XCTAssertEqual(id.count, 26)
        let session = try c.exchange(get("/v1/sessions/abc"))
        XCTAssertEqual(session.status, 200)
        XCTAssertNotEqual(session.header("X-Request-Id"), id)
        XCTAssertEqual((session.json["data"] as? [String: Any])?["id"] as? String, "abc")
    }

    func testForwardedHeadersAndHopByHopRemoval() throws {
        let response = try client().exchange(get("/v1/echo", headers: """
        X-Forwarded-For: 203.0.113.7\r
        Connection: keep-alive, X-Secret-Hop\r
        X-Secret-Hop: drop me\r
        Keep-Alive: timeout=5\r
        TE: trailers\r
        Proxy-Connection: keep-alive\r
        X-Request-Id: client-id-123\r
        X-Custom: kept\r

        """))
        XCTAssertEqual(response.status, 200)
        let headers = (response.json["headers"] as? [[String]] ?? []).map { ($0[0].lowercased(), $0[1]) }
        func value(_ name: String) -> String? { headers.first { $0.0 == name }?.1 }
        XCTAssertEqual(value("x-forwarded-for"), "203.0.113.7, 127.0.0.1")
        XCTAssertEqual(value("x-forwarded-proto"), "http")
        XCTAssertEqual(value("x-request-id"), "client-id-123")
        XCTAssertEqual(value("x-custom"), "kept")
        for hop in ["connection", "x-secret-hop", "keep-alive", "te", "proxy-connection"] {
            XCTAssertNil(value(hop), "\(hop) must not reach the upstream")
        }
        XCTAssertEqual(response.header("X-Request-Id"), "client-id-123")
    }

    func testUnsafeClientRequestIDIsReplaced() throws {
        let response = try client().exchange(get("/v1/sessions/a", headers: "X-Request-Id: bad id with spaces\r\n"))
        XCTAssertEqual(response.header("X-Request-Id")?.count, 26)
    }

    func testPipelinedRequestsAnsweredInOrder() throws {
        let c = try client()
        try c.send(get("/v1/sessions/one") + get("/v1/sessions/two?delay_ms=50") + get("/v1/sessions/three"))
        for expected in ["one", "two", "three"] {
            let response = try c.readResponse()
            XCTAssertEqual((response.json["data"] as? [String: Any])?["id"] as? String, expected)
        }
    }

    func testKeepAliveAndConnectionClose() throws {
        let c = try client()
        for _ in 0..<5 { XCTAssertEqual(try c.exchange(get("/v1/sessions/a")).status, 200) }
        let last = try c.exchange(get("/v1/sessions/a", headers: "Connection: close\r\n"))
        XCTAssertEqual(last.header("Connection"), "close")
        XCTAssertTrue(c.isClosedByPeer())
    }

    func testHTTP10ClientGetsCloseDelimitedOrKeepAlive() throws {
        let c = try client()
        let keep = try c.exchange("GET /v1/sessions/a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        XCTAssertEqual(keep.status, 200)
        XCTAssertEqual(keep.header("Connection"), "keep-alive")
        let chunked = try c.exchange("GET /v1/bytes/5000?chunked=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        XCTAssertEqual(chunked.body.count, 5000)
        XCTAssertNil(chunked.header("Transfer-Encoding"), "HTTP/1.0 clients never get chunked")
        XCTAssertTrue(c.isClosedByPeer())
    }

    func testChunkedUploadIsForwardedIntact() throws {
        let payload = Array(repeating: UInt8(ascii: "x"), count: 100_000)
        var request = Array("POST /v1/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        var offset = 0
        for size in [1, 10, 4095, 30000, 65894] {
            request += Array(String(size, radix: 16).utf8) + Array(";ext=1\r\n".utf8) + payload[offset..<(offset + size)] + Array("\r\n".utf8)
            offset += size
        }
        request += Array("0\r\nTrailer-X: y\r\n\r\n".utf8)
        let c = try client()
        try c.send(request)
        let response = try c.readResponse()
        XCTAssertEqual(response.json["body_length"] as? Int, 100_000)
        XCTAssertEqual(response.json["body_sha256"] as? String, sha256Hex(payload))
    }

    func testChunkedAndCloseDelimitedResponsesAreReframedForHTTP11() throws {
        let c = try client()
        let chunked = try c.exchange(get("/v1/bytes/70000?chunked=1"))
        XCTAssertEqual(chunked.body.count, 70000)
        XCTAssertEqual(chunked.header("Transfer-Encoding"), "chunked")
        let closeDelimited = try c.exchange(get("/v1/bytes/70000?close=1"))
        XCTAssertEqual(closeDelimited.body.count, 70000)
        XCTAssertEqual(closeDelimited.header("Transfer-Encoding"), "chunked", "re-chunked so the client keeps its connection")
        XCTAssertEqual(try c.exchange(get("/v1/sessions/after")).status, 200)
    }

    func testExpect100Continue() throws {
        let c = try client()
        try c.send("POST /v1/upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        var interim = [UInt8](repeating: 0, count: 25)
        let n = recv(c.fd, &interim, interim.count, 0)
        XCTAssertEqual(String(decoding: interim[0..<max(n, 0)], as: UTF8.self), "HTTP/1.1 100 Continue\r\n\r\n")
        try c.send("hello")
        let response = try c.readResponse()
        XCTAssertEqual(response.json["received"] as? Int, 5)
    }

    func testHeadAndBodilessResponses() throws {
        let c = try client()
        let head = try c.exchange("HEAD /v1/bytes/1234 HTTP/1.1\r\nHost: t\r\n\r\n", forHead: true)
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.header("Content-Length"), "1234")
        let noContent = try c.exchange(get("/v1/sessions/a?fail=status&status=204"))
        XCTAssertEqual(noContent.status, 204)
        XCTAssertEqual(try c.exchange(get("/v1/sessions/a")).status, 200, "the connection is still in sync")
    }

    func testLargeStreamsBothWays() throws {
        let size = 50 * 1024 * 1024
        let c = try client()
        let down = try c.exchange(get("/v1/bytes/\(size)"))
        XCTAssertEqual(down.body.count, size)
        let chunk = [UInt8](repeating: UInt8(ascii: "z"), count: 1 << 20)
        try c.send("PUT /v1/upload HTTP/1.1\r\nHost: t\r\nContent-Length: \(size)\r\n\r\n")
        for _ in 0..<(size / chunk.count) { try c.send(chunk) }
        let up = try c.readResponse()
        XCTAssertEqual(up.json["received"] as? Int, size)
    }
}

/// RFC 9110 §6.6.1: every response leaving the gateway carries a Date, proxied or its own.
final class DateHeaderTests: XCTestCase {
    func testEveryResponseCarriesOneDate() throws {
        let deployment = Deployment()
        defer { deployment.stop() }
        let mock = try deployment.startMock()
        try deployment.startGateway(servers: [mock])
        let c = try RawClient(port: deployment.gatewayPort)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let answers = [("proxied", try c.exchange(get("/v1/sessions/a"))),
                       ("gateway's own 404", try c.exchange(get("/nowhere"))),
                       ("rewritten upstream error", try c.exchange(get("/v1/sessions/a?fail=html502")))]
        for (name, response) in answers {
            XCTAssertEqual(response.headers("Date").count, 1, name)
            let date = try XCTUnwrap(response.header("Date").flatMap { formatter.date(from: $0) }, name)
            XCTAssertLessThan(abs(date.timeIntervalSinceNow), 5, name)
        }
    }
}
