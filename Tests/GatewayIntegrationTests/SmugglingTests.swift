import Foundation
import XCTest

/// Request smuggling and parser strictness over raw sockets. Every message the parser must refuse is
/// answered 400 invalid_request and the connection is closed, and the upstream never sees a byte of it
/// (the mock's own counters stay at zero). Then a differential check: for tricky requests the gateway
/// accepts, the upstream receives exactly the message the gateway parsed (method, target, headers,
/// body bytes), one upstream request per client request, nothing left over that could become another.
final class SmugglingTests: XCTestCase {
    var deployment: Deployment!
    var mock: UInt16 = 0

    override func setUpWithError() throws {
        deployment = Deployment()
        mock = try deployment.startMock()
        try deployment.startGateway(servers: [mock], routeExtra: "max_body 1m;")
    }

    override func tearDown() { deployment.stop() }

    // MARK: Refused

    /// name, raw bytes. Each is sent in one write on a fresh connection.
    static let refused: [(String, String)] = [
        // Framing conflicts (RFC 9112 §6.1, §6.3)
        ("CL+TE", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("TE+CL", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
        ("duplicate differing CL", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
        ("comma-listed differing CL", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 6\r\n\r\nhello!"),
        ("signed CL", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Length: +5\r\n\r\nhello"),
        ("negative CL", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n"),
        ("hex CL", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0x5\r\n\r\nhello"),
        ("empty CL", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Length: \r\n\r\n"),
        ("CL overflow", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
        ("CL list with a leading empty element", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Length: ,5\r\n\r\nhello"),
        ("CL list with a trailing empty element", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5,\r\n\r\nhello"),
        ("CL list with an inner empty element", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5,,5\r\n\r\nhello"),
        ("empty CL line after a valid one", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length:\r\n\r\nhello"),
        ("TE not ending in chunked", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"),
        ("TE other than chunked", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n"),
        ("TE identity", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: identity\r\n\r\n"),
        ("TE xchunked", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"),
        ("TE chunked twice", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("TE with space before colon", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
        ("TE in HTTP/1.0", "POST /v1/echo HTTP/1.0\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        // Chunked body junk (the body is in the same packet as the head, so nothing is forwarded)
        ("chunk size overflow", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n"),
        ("chunk size junk", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"),
        ("chunk size 0x prefix", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n"),
        ("chunk size negative", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n"),
        ("chunk size with space", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n"),
        ("chunk size bare LF", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"),
        ("chunk data too long", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n"),
        ("oversized chunk extension", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;"
            + String(repeating: "e", count: 5000) + "\r\nhello\r\n0\r\n\r\n"),
        ("trailer line without a colon", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Sum\r\n\r\n"),
        ("request after a last chunk without its final CRLF", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5\r\nhello\r\n0\r\nGET /v1/echo?smuggled=1 HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("whitespace after a chunk size without extension", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\t\r\nhello\r\n0\r\n\r\n"),
        ("control char in chunk extension", "POST /v1/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;a\u{1}b\r\nhello\r\n0\r\n\r\n"),
        // Line syntax (RFC 9112 §2.2, §5)
        ("obs-fold", "GET /v1/echo HTTP/1.1\r\nHost: t\r\nX-Folded: a\r\n b\r\n\r\n"),
        ("obs-fold with tab", "GET /v1/echo HTTP/1.1\r\nHost: t\r\nX-Folded: a\r\n\tb\r\n\r\n"),
        ("bare LF line ends", "GET /v1/echo HTTP/1.1\nHost: t\n\n"),
        ("bare LF in the headers", "GET /v1/echo HTTP/1.1\r\nHost: t\nX-A: b\r\n\r\n"),
        ("bare CR in a header value", "GET /v1/echo HTTP/1.1\r\nHost: t\r\nX-A: b\rX-B: c\r\n\r\n"),
        ("bare CR in the request line", "GET /v1/echo\rX HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("space before colon", "GET /v1/echo HTTP/1.1\r\nHost : t\r\n\r\n"),
        ("tab before colon", "GET /v1/echo HTTP/1.1\r\nHost\t: t\r\nX: y\r\n\r\n"),
        ("NUL in a header value", "GET /v1/echo HTTP/1.1\r\nHost: t\r\nX-A: a\u{0}b\r\n\r\n"),
        ("control char in a header value", "GET /v1/echo HTTP/1.1\r\nHost: t\r\nX-A: a\u{7f}b\r\n\r\n"),
        ("header without a name", "GET /v1/echo HTTP/1.1\r\nHost: t\r\n: empty\r\n\r\n"),
        ("header without a colon", "GET /v1/echo HTTP/1.1\r\nHost: t\r\nNoColon\r\n\r\n"),
        // Request line
        ("invalid method chars", "G(T /v1/echo HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("method with slash", "GE/T /v1/echo HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("empty method", " /v1/echo HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("two spaces", "GET  /v1/echo HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("space in the target", "GET /v1/echo x HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("absolute-form with another scheme", "GET ftp://127.0.0.1/v1/echo HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("absolute-form with userinfo", "GET http://user@127.0.0.1/v1/echo HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("absolute-form with a comma in the authority", "GET http://a,b/v1/echo HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("absolute-form without authority", "GET http:///v1/echo HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("authority-form target", "CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n"),
        ("asterisk-form for GET", "GET * HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("HTTP/0.9 request line", "GET /v1/echo\r\n\r\n"),
        ("HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        ("HTTP/3.0", "GET /v1/echo HTTP/3.0\r\nHost: t\r\n\r\n"),
        ("HTTP/0.9 version", "GET /v1/echo HTTP/0.9\r\nHost: t\r\n\r\n"),
        ("OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("fragment in the target", "GET /v1/echo#/../admin HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("encoded slash in the path", "GET /v1/echo%2Fx HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("dot-segment above the root", "GET /v1/../../echo HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("backslash in the path", "GET /v1\\echo HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("HTTP/2.0", "GET /v1/echo HTTP/2.0\r\nHost: t\r\n\r\n"),
        ("lower-case version", "GET /v1/echo http/1.1\r\nHost: t\r\n\r\n"),
        ("version with trailing space", "GET /v1/echo HTTP/1.1 \r\nHost: t\r\n\r\n"),
        // Host (RFC 9112 §3.2)
        ("two Host headers", "GET /v1/echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        ("two identical Host headers", "GET /v1/echo HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
        ("missing Host in 1.1", "GET /v1/echo HTTP/1.1\r\nX-A: b\r\n\r\n"),
        ("Host with a comma", "GET /v1/echo HTTP/1.1\r\nHost: a, b\r\n\r\n"),
        ("Host with a space", "GET /v1/echo HTTP/1.1\r\nHost: a b\r\n\r\n"),
        ("Host with a path", "GET /v1/echo HTTP/1.1\r\nHost: a/v1/admin\r\n\r\n"),
        ("Host with an inner tab", "GET /v1/echo HTTP/1.1\r\nHost: a\tb\r\n\r\n"),
        ("Host with userinfo", "GET /v1/echo HTTP/1.1\r\nHost: user@a\r\n\r\n"),
        ("Host with a bad port", "GET /v1/echo HTTP/1.1\r\nHost: a:8o\r\n\r\n"),
        ("Host with an open IPv6 literal", "GET /v1/echo HTTP/1.1\r\nHost: [::1\r\n\r\n"),
        ("Host with a comma in HTTP/1.0", "GET /v1/echo HTTP/1.0\r\nHost: a,b\r\n\r\n"),
        ("two Authorization headers", "GET /v1/echo HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n"),
    ]

    /// Refused with another status than 400: name, status, code, raw bytes.
    static let refusedOther: [(String, Int, String, String)] = [
        // RFC 9112 §6.1: a coding the gateway does not implement, before a final chunked
        ("TE gzip then chunked", 501, "not_implemented",
         "POST /v1/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
        ("TE identity line then chunked line", 501, "not_implemented",
         "POST /v1/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        // A request line over max_request_line (8k by default)
        ("overlong request line", 414, "uri_too_long",
         "GET /v1/echo?" + String(repeating: "q", count: 9000) + " HTTP/1.1\r\nHost: t\r\n\r\n"),
    ]

    func testEveryRefusedMessageIs400AndClosedAndNeverForwarded() throws {
        try resetMock(port: mock)
        var cases = Self.refused.map { ($0.0, 400, "invalid_request", $0.1) }
        cases += Self.refusedOther
        var unexpected: [String] = []
        for (name, status, code, raw) in cases {
            let client = try RawClient(port: deployment.gatewayPort, timeout: 3)
            try client.send(raw)
            let response: WireResponse
            do {
                response = try client.readResponse()
            } catch {
                XCTFail("[\(name)] no response: \(error)")
                continue
            }
            if response.status != status { unexpected.append("\(name): \(response.status)") }
            assertEnvelope(response, status: status, code: code, retryAfter: false, name)
            XCTAssertEqual(response.header("Connection")?.lowercased(), "close", "[\(name)] Connection: close expected")
            let rest = client.readUntilClose()
            XCTAssertTrue(rest.closed, "[\(name)] the connection must be closed after the \(status)")
            XCTAssertEqual(rest.bytes.count, 0, "[\(name)] nothing may follow the \(status): \(String(decoding: rest.bytes, as: UTF8.self))")
        }
        XCTAssertEqual(unexpected, [], "messages that were not refused with the expected status")
        // A barrier instead of a sleep: sentinels make the full trip through the gateway's loops and the
        // mock after every refusal was answered; a refused message forwarded would be counted by now.
        for i in 0..<4 {
            let sentinel = try RawClient(port: deployment.gatewayPort).exchange(get("/v1/echo?sentinel=\(i)", headers: "Connection: close\r\n"))
            XCTAssertEqual(sentinel.status, 200)
        }
        let stats = try mockStats(port: mock)
        XCTAssertEqual(stats.requests, 4, "the upstream must never receive a refused message: \(stats.paths)")
        try assertStillServes()
    }

    /// A refused message after a good one on the same keep-alive connection: the good one is answered,
    /// then the 400, then close; the upstream saw only the good one.
    func testRefusedMessagePipelinedAfterAGoodOneClosesTheConnection() throws {
        try resetMock(port: mock)
        let client = try RawClient(port: deployment.gatewayPort, timeout: 3)
        try client.send(get("/v1/echo?n=1")
                        + "POST /v1/echo?n=2 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                        + get("/v1/echo?n=3"))
        XCTAssertEqual(try client.readResponse().status, 200)
        assertEnvelope(try client.readResponse(), status: 400, code: "invalid_request", retryAfter: false)
        let rest = client.readUntilClose()
        XCTAssertTrue(rest.closed)
        XCTAssertEqual(rest.bytes.count, 0, "the request after the refused one must not be answered")
        let stats = try mockStats(port: mock)
        XCTAssertEqual(stats.requests, 1, "\(stats.paths)")
        XCTAssertEqual(stats.paths["GET /v1/echo"], 1)
    }

    // MARK: Accepted: what the upstream receives is what the gateway parsed

    struct Echo {
        var method: String
        var target: String
        var headers: [(String, String)]
        var bodyLength: Int
        var bodySHA256: String

        init(_ response: WireResponse) throws {
            guard response.status == 200 else { throw HarnessError("echo status \(response.status): \(response.text)") }
            let json = response.json
            method = json["method"] as? String ?? ""
            target = json["target"] as? String ?? ""
            headers = (json["headers"] as? [[String]] ?? []).map { ($0[0], $0[1]) }
            bodyLength = (json["body_length"] as? NSNumber)?.intValue ?? -1
            bodySHA256 = json["body_sha256"] as? String ?? ""
        }

        func values(_ name: String) -> [String] {
            headers.filter { $0.0.lowercased() == name.lowercased() }.map { $0.1 }
        }
    }

    /// Checks the upstream's view: body bytes, and exactly one framing header describing exactly them.
    func assertForwarded(_ echo: Echo, method: String, target: String, body: [UInt8], _ label: String,
                         file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(echo.method, method, "[\(label)] method", file: file, line: line)
        XCTAssertEqual(echo.target, target, "[\(label)] target", file: file, line: line)
        XCTAssertEqual(echo.bodyLength, body.count, "[\(label)] body length", file: file, line: line)
        XCTAssertEqual(echo.bodySHA256, sha256Hex(body), "[\(label)] body bytes", file: file, line: line)
        let lengths = echo.values("Content-Length"), codings = echo.values("Transfer-Encoding")
        XCTAssertEqual(lengths.count + codings.count <= 1, true,
                       "[\(label)] at most one framing header upstream: CL \(lengths) TE \(codings)", file: file, line: line)
        if let length = lengths.first { XCTAssertEqual(length, "\(body.count)", "[\(label)] Content-Length", file: file, line: line) }
        if let coding = codings.first { XCTAssertEqual(coding.lowercased(), "chunked", "[\(label)] TE", file: file, line: line) }
        if !body.isEmpty { XCTAssertEqual(lengths.count + codings.count, 1, "[\(label)] a body needs framing", file: file, line: line) }
        XCTAssertEqual(echo.values("Host").count, 1, "[\(label)] exactly one Host upstream: \(echo.headers)", file: file, line: line)
        for hop in ["Expect", "TE", "Trailer", "Upgrade", "Keep-Alive", "Proxy-Connection"] {
            XCTAssertEqual(echo.values(hop), [], "[\(label)] hop-by-hop \(hop) must not be forwarded", file: file, line: line)
        }
    }

    func testChunkedBodyWithExtensionsAndTrailersIsForwardedAsExactlyItsPayload() throws {
        try resetMock(port: mock)
        let client = try RawClient(port: deployment.gatewayPort, timeout: 5)
        // The payload contains what would be a request if framing were lost.
        let payload = "hello GET /v1/smuggled HTTP/1.1\r\nHost: t\r\n\r\n"
        let bytes = Array(payload.utf8)
        let first = Array(bytes[0..<6]), second = Array(bytes[6...])
        let raw = "POST /v1/echo?c=1 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
            + String(first.count, radix: 16) + ";ext=1;quoted=\"a b\"\r\n" + String(decoding: first, as: UTF8.self) + "\r\n"
            + String(second.count, radix: 16).uppercased() + "\r\n" + String(decoding: second, as: UTF8.self) + "\r\n"
            + "0;last\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n"
        try client.send(raw)
        let echo = try Echo(client.readResponse())
        assertForwarded(echo, method: "POST", target: "/v1/echo?c=1", body: bytes, "chunked+ext+trailers")
        XCTAssertEqual(echo.values("X-Checksum"), [], "trailers are dropped, never turned into headers")
        // The connection is still in sync: the next request is answered as itself.
        let next = try Echo(client.exchange(get("/v1/echo?c=2")))
        assertForwarded(next, method: "GET", target: "/v1/echo?c=2", body: [], "after chunked")
        let stats = try mockStats(port: mock)
        XCTAssertEqual(stats.paths, ["POST /v1/echo": 1, "GET /v1/echo": 1], "one upstream request per client request")
    }

    func testIdenticalDuplicateContentLengthsFrameOneBody() throws {
        try resetMock(port: mock)
        let client = try RawClient(port: deployment.gatewayPort, timeout: 5)
        try client.send("POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\nhelloGET /v1/smuggled HTTP/1.1\r\nHost: t\r\n\r\n")
        let echo = try Echo(client.readResponse())
        assertForwarded(echo, method: "POST", target: "/v1/echo", body: Array("hello".utf8), "CL 5, 5")
        XCTAssertEqual(echo.values("Content-Length"), ["5"], "the duplicates are collapsed into one")
        // The bytes after the body are the next request, answered (by the mock's generic endpoint) in order.
        let second = try client.readResponse()
        XCTAssertEqual(second.status, 200)
        XCTAssertEqual((second.json["data"] as? [String: Any])?["path"] as? String, "/v1/smuggled")
        let stats = try mockStats(port: mock)
        XCTAssertEqual(stats.paths, ["POST /v1/echo": 1, "GET /v1/smuggled": 1])
    }

    func testLeadingZerosInContentLengthAndChunkSizesFrameTheBody() throws {
        try resetMock(port: mock)
        let client = try RawClient(port: deployment.gatewayPort, timeout: 5)
        try client.send("POST /v1/echo?z=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 0005\r\n\r\nhello"
                        + "POST /v1/echo?z=2 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0005\r\nhello\r\n00000\r\n\r\n")
        let first = try Echo(client.readResponse())
        assertForwarded(first, method: "POST", target: "/v1/echo?z=1", body: Array("hello".utf8), "CL 0005")
        XCTAssertEqual(first.values("Content-Length"), ["5"], "the length is re-created, without the zeros")
        let second = try Echo(client.readResponse())
        assertForwarded(second, method: "POST", target: "/v1/echo?z=2", body: Array("hello".utf8), "chunk size 0005")
        XCTAssertEqual(try mockStats(port: mock).requests, 2)
    }

    func testValidHostValuesAreForwardedAsSent() throws {
        try resetMock(port: mock)
        let client = try RawClient(port: deployment.gatewayPort, timeout: 5)
        for host in ["api.example.com:8443", "[2001:db8::1]:80", "127.0.0.1", "h:"] {
            let echo = try Echo(client.exchange("GET /v1/echo HTTP/1.1\r\nHost: \(host)\r\n\r\n"))
            assertForwarded(echo, method: "GET", target: "/v1/echo", body: [], host)
            XCTAssertEqual(echo.values("Host"), [host])
        }
        // An empty Host (allowed when the target has no authority) is forwarded empty, as before.
        let empty = try Echo(client.exchange("GET /v1/echo HTTP/1.1\r\nHost:\r\n\r\n"))
        XCTAssertEqual(empty.values("Host"), [""])
    }

    func testAbsoluteFormIsForwardedInOriginFormWithTheTargetsAuthorityAsHost() throws {
        try resetMock(port: mock)
        let client = try RawClient(port: deployment.gatewayPort, timeout: 5)
        let cases: [(String, String, String)] = [
            ("GET http://api.example:8080/v1/echo?x=%2e HTTP/1.1\r\nHost: t\r\n\r\n", "/v1/echo?x=%2e", "api.example:8080"),
            ("GET HTTPS://[::1]/v1/x/../echo HTTP/1.1\r\nHost: [::1]\r\n\r\n", "/v1/echo", "[::1]"),
            ("GET http://h/v1//echo HTTP/1.1\r\nHost:\r\n\r\n", "/v1/echo", "h"),
        ]
        for (raw, target, host) in cases {
            let echo = try Echo(client.exchange(raw))
            assertForwarded(echo, method: "GET", target: target, body: [], raw)
            XCTAssertEqual(echo.values("Host"), [host], "RFC 9112 §3.2.2: the authority replaces Host")
        }
        // An authority without a path asks for "/", which no route of this gateway serves.
        let root = try client.exchange("GET http://h?q=1 HTTP/1.1\r\nHost: h\r\n\r\n")
        assertEnvelope(root, status: 404, code: "resource_not_found", retryAfter: false)
        XCTAssertEqual(try mockStats(port: mock).requests, cases.count)
    }

    func testHTTP1MinorVersionsAboveOneAreServedAsHTTP11() throws {
        try resetMock(port: mock)
        let client = try RawClient(port: deployment.gatewayPort, timeout: 5)
        try client.send("GET /v1/echo?v=2 HTTP/1.2\r\nHost: t\r\n\r\n" + "GET /v1/echo?v=9 HTTP/1.9\r\nHost: t\r\n\r\n")
        for minor in [2, 9] {
            let response = try client.readResponse()
            XCTAssertEqual(response.header("Connection"), nil, "HTTP/1.\(minor) keeps the connection like 1.1")
            assertForwarded(try Echo(response), method: "GET", target: "/v1/echo?v=\(minor)", body: [], "HTTP/1.\(minor)")
        }
        XCTAssertEqual(try mockStats(port: mock).requests, 2)
    }

    func testWhitespaceBeforeAChunkExtensionIsAccepted() throws {
        try resetMock(port: mock)
        let client = try RawClient(port: deployment.gatewayPort, timeout: 5)
        try client.send("POST /v1/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5 ;a=1\r\nhello\r\n6\t;b\r\n world\r\n0 ;end\r\n\r\n"
                        + get("/v1/echo?after=1"))
        let echo = try Echo(client.readResponse())
        assertForwarded(echo, method: "POST", target: "/v1/echo", body: Array("hello world".utf8), "BWS before ;")
        let next = try Echo(client.readResponse())
        assertForwarded(next, method: "GET", target: "/v1/echo?after=1", body: [], "after BWS")
        XCTAssertEqual(try mockStats(port: mock).requests, 2)
    }

    func testPipelinedRequestsReachTheUpstreamOneByOneInOrder() throws {
        try resetMock(port: mock)
        let client = try RawClient(port: deployment.gatewayPort, timeout: 5)
        let bodies = ["first body", "", String(repeating: "z", count: 70_000), "GET /v1/inner HTTP/1.1\r\nHost: t\r\n\r\n"]
        var raw = ""
        for (i, body) in bodies.enumerated() {
            raw += body.isEmpty ? get("/v1/echo?p=\(i)") : post("/v1/echo?p=\(i)", body: body)
        }
        try client.send(raw)
        for (i, body) in bodies.enumerated() {
            let echo = try Echo(client.readResponse())
            assertForwarded(echo, method: body.isEmpty ? "GET" : "POST", target: "/v1/echo?p=\(i)", body: Array(body.utf8), "pipelined \(i)")
        }
        let stats = try mockStats(port: mock)
        XCTAssertEqual(stats.paths, ["POST /v1/echo": 3, "GET /v1/echo": 1], "no request inside a body may be seen")
    }

    func testObsTextHeaderValueIsForwardedByteForByte() throws {
        try resetMock(port: mock)
        let client = try RawClient(port: deployment.gatewayPort, timeout: 5)
        var raw = Array("GET /v1/echo HTTP/1.1\r\nHost: t\r\nX-Obs: caf".utf8)
        raw += [0xC3, 0xA9, 0x20, 0x09, 0x61]  // "é" in UTF-8, SP, HTAB, "a"
        raw += Array("\r\nX-Latin1: \u{7e}".utf8) + [0xE9] + Array("\r\n\r\n".utf8)
        try client.send(raw)
        let echo = try Echo(client.readResponse())
        assertForwarded(echo, method: "GET", target: "/v1/echo", body: [], "obs-text")
        XCTAssertEqual(echo.values("X-Obs"), ["caf\u{e9} \ta"], "obs-text and inner whitespace kept")
        XCTAssertEqual(echo.values("X-Latin1").count, 1, "a non-UTF-8 obs-text byte is forwarded, not dropped")
        XCTAssertEqual(try mockStats(port: mock).requests, 1)
    }

    func testHTTP10WithoutHostGetsTheServersHostUpstream() throws {
        try resetMock(port: mock)
        let client = try RawClient(port: deployment.gatewayPort, timeout: 5)
        try client.send("POST /v1/echo HTTP/1.0\r\nContent-Length: 4\r\n\r\nabcd")
        let echo = try Echo(client.readResponse())
        assertForwarded(echo, method: "POST", target: "/v1/echo", body: Array("abcd".utf8), "HTTP/1.0")
        XCTAssertEqual(echo.values("Host"), ["127.0.0.1:\(mock)"])
        XCTAssertTrue(client.readUntilClose().closed, "HTTP/1.0 without keep-alive closes")
        XCTAssertEqual(try mockStats(port: mock).requests, 1)
    }

    func testExpect100ContinueIsAnsweredByTheGatewayAndNotForwarded() throws {
        try resetMock(port: mock)
        let client = try RawClient(port: deployment.gatewayPort, timeout: 5)
        try client.send("POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n")
        // The interim response comes before any body byte was sent.
        var interim = [UInt8]()
        while !String(decoding: interim, as: UTF8.self).hasSuffix("\r\n\r\n") {
            var byte: UInt8 = 0
            guard recv(client.fd, &byte, 1, 0) == 1 else { XCTFail("no 100 Continue"); return }
            interim.append(byte)
        }
        XCTAssertEqual(String(decoding: interim, as: UTF8.self), "HTTP/1.1 100 Continue\r\n\r\n")
        try client.send("hello world")
        let echo = try Echo(client.readResponse())
        assertForwarded(echo, method: "POST", target: "/v1/echo", body: Array("hello world".utf8), "Expect")
        XCTAssertEqual(try mockStats(port: mock).requests, 1)
    }

    func assertStillServes(file: StaticString = #filePath, line: UInt = #line) throws {
        let response = try RawClient(port: deployment.gatewayPort, timeout: 5).exchange(get("/v1/echo", headers: "Connection: close\r\n"))
        XCTAssertEqual(response.status, 200, file: file, line: line)
    }
}
