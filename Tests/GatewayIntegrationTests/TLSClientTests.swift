import Foundation
import XCTest

/// HTTPS on the client side, end to end: the real gateway with a plain and a TLS listener in front
/// of the mock upstream, certificates from a throwaway CA, and curl and `openssl s_client` as clients.
final class TLSClientTests: XCTestCase {
    var deployment: Deployment!
    var fixtures: TLSFixtures!
    var tlsPort: UInt16 = 0

    override func setUpWithError() throws {
        fixtures = try TLSFixtures.shared()
        deployment = Deployment()
        tlsPort = freePort()
    }

    override func tearDown() { deployment.stop() }

    /// The gateway with both listeners; certificate `a` is the default, `b` is chosen by SNI.
    func start(_ tlsExtra: String = "", workers: Int = 1) throws {
        let mock = try deployment.startMock()
        try deployment.startGateway(servers: [mock], routeExtra: "max_body 50m;", extra: """
            listen 127.0.0.1:\(tlsPort) ssl;
            ssl_certificate \(fixtures.a.chain);
            ssl_certificate_key \(fixtures.a.key);
            ssl_certificate \(fixtures.b.chain);
            ssl_certificate_key \(fixtures.b.key);
            \(tlsExtra)
            """, workers: workers)
    }

    func curl(_ path: String, _ extra: [String] = [], host: String = "a.test") throws -> ToolRun {
        guard let curl = toolPath("curl") else { throw HarnessError("curl is missing") }
        return try runTool(curl, ["-sS", "--max-time", "15", "--cacert", fixtures.ca, "--resolve", "\(host):\(tlsPort):127.0.0.1"]
                           + extra + ["https://\(host):\(tlsPort)\(path)"])
    }

    /// `openssl s_client` against the TLS port; `input` is sent, then it waits for the gateway to close.
    func sClient(_ options: [String], input: String = "") throws -> String {
        guard let openssl = toolPath("openssl") else { throw HarnessError("openssl is missing") }
        // With input, wait for the answer (the request closes the connection); without, stop after the handshake.
        let wait = input.isEmpty ? [] : ["-ign_eof"]
        let run = try runTool(openssl, ["s_client", "-connect", "127.0.0.1:\(tlsPort)", "-CAfile", fixtures.ca] + wait + options,
                              input: Data(input.utf8), timeout: 10)
        return run.text + run.stderr
    }

    static let closeRequest = "GET /v1/sessions/s HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"

    func testCurlGetPostStreamingAndChunkedOverHTTPS() throws {
        try start()
        let get = try curl("/v1/sessions/abc")
        XCTAssertEqual(get.exitStatus, 0, get.stderr)
        XCTAssertTrue(get.text.contains(#""id":"abc""#), get.text)

        let echo = try curl("/v1/echo", ["-X", "POST", "-d", #"{"text":"hi"}"#])
        XCTAssertEqual(echo.exitStatus, 0, echo.stderr)
        let seen = try XCTUnwrap(try JSONSerialization.jsonObject(with: echo.stdout) as? [String: Any])
        let headers = (seen["headers"] as? [[String]] ?? []).map { ($0[0].lowercased(), $0[1]) }
        XCTAssertEqual(headers.first { $0.0 == "x-forwarded-proto" }?.1, "https")
        XCTAssertEqual(seen["body_length"] as? Int, 13)

        // 5 MB down, Content-Length and chunked (re-chunked by the gateway), byte for byte.
        let expected = Self.mockBytes(5_000_000)
        for query in ["", "?chunked=1"] {
            let down = try curl("/v1/bytes/5000000\(query)")
            XCTAssertEqual(down.exitStatus, 0, down.stderr)
            XCTAssertEqual(down.stdout.count, expected.count, query)
            XCTAssertTrue(down.stdout == expected, "the body arrived altered (\(query))")
        }

        // 3 MB up, with a length and chunked.
        let upload = NSTemporaryDirectory() + "tls-upload-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: upload) }
        let body = Data((0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try body.write(to: URL(fileURLWithPath: upload))
        for extra in [[], ["-H", "Transfer-Encoding: chunked"]] {
            let up = try curl("/v1/upload", ["--data-binary", "@\(upload)"] + extra)
            XCTAssertEqual(up.exitStatus, 0, up.stderr)
            XCTAssertTrue(up.text.contains(#""received":3000000"#), up.text)
            XCTAssertTrue(up.text.contains(sha256Hex(Array(body))), up.text)
        }
    }

    func testPlainAndTLSListenersCoexist() throws {
        try start()
        let plain = try RawClient(port: deployment.gatewayPort).exchange(get("/v1/echo"))
        let plainHeaders = (plain.json["headers"] as? [[String]] ?? []).map { ($0[0].lowercased(), $0[1]) }
        XCTAssertEqual(plainHeaders.first { $0.0 == "x-forwarded-proto" }?.1, "http")
        XCTAssertEqual(try curl("/v1/sessions/x").exitStatus, 0)
    }

    func testSNIPicksTheCertificateByItsNames() throws {
        try start()
        XCTAssertTrue(try sClient(["-servername", "b.test"]).contains("subject=CN = b.test"))
        XCTAssertTrue(try sClient(["-servername", "a.test"]).contains("subject=CN = a.test"))
        // No SNI, or a name no certificate has: the first certificate.
        XCTAssertTrue(try sClient(["-noservername"]).contains("subject=CN = a.test"))
        XCTAssertTrue(try sClient(["-servername", "c.test"]).contains("subject=CN = a.test"))
        // curl verifies the chosen certificate against the name it asked for.
        let b = try curl("/v1/sessions/b", host: "b.test")
        XCTAssertEqual(b.exitStatus, 0, b.stderr)
    }

    func testTLS12And13AreNegotiatedAndALPNIsHTTP11() throws {
        try start()
        let v12 = try sClient(["-tls1_2", "-servername", "a.test"], input: Self.closeRequest)
        XCTAssertTrue(v12.contains("New, TLSv1.2"), v12)
        XCTAssertTrue(v12.contains("HTTP/1.1 200 OK"), v12)
        let v13 = try sClient(["-tls1_3", "-servername", "a.test"], input: Self.closeRequest)
        XCTAssertTrue(v13.contains("New, TLSv1.3"), v13)
        XCTAssertTrue(v13.contains("HTTP/1.1 200 OK"), v13)
        XCTAssertTrue(try sClient(["-alpn", "h2,http/1.1"]).contains("ALPN protocol: http/1.1"))
        XCTAssertTrue(try sClient(["-alpn", "h2"]).contains("no application protocol"), "h2 alone is refused (RFC 7301)")
    }

    func testProtocolsCanBeNarrowed() throws {
        try start("ssl_protocols TLSv1.3;")
        XCTAssertTrue(try sClient(["-tls1_3"]).contains("New, TLSv1.3"))
        XCTAssertFalse(try sClient(["-tls1_2"]).contains("New, TLSv1.2"))
    }

    func testSessionsResumeWithTickets() throws {
        try start(workers: 2)
        let sessions = (0..<4).map { NSTemporaryDirectory() + "tls-session-\($0)-\(UUID().uuidString)" }
        defer { sessions.forEach { try? FileManager.default.removeItem(atPath: $0) } }
        for version in ["-tls1_2", "-tls1_3"] {
            // TLS 1.3 tickets come after the handshake: a request makes the client wait for them.
            let first = try sClient([version, "-servername", "a.test", "-sess_out", sessions[0]], input: Self.closeRequest)
            XCTAssertTrue(first.contains("New, TLSv1."), first)
            // A TLS 1.2 ticket is kept and used again; a TLS 1.3 ticket is used once, so each
            // resumed connection must bring the next one's. Two workers: they land on either loop.
            for step in 1..<sessions.count {
                let from = version == "-tls1_3" ? sessions[step - 1] : sessions[0]
                let again = try sClient([version, "-servername", "a.test", "-sess_in", from, "-sess_out", sessions[step]],
                                        input: Self.closeRequest)
                XCTAssertTrue(again.contains("Reused, TLSv1."), "\(version) step \(step): \(again)")
                XCTAssertTrue(again.contains("HTTP/1.1 200 OK"), again)
            }
        }
    }

    func testTicketsOffMeansNothingToResume() throws {
        try start("ssl_session_tickets off;")
        let session = NSTemporaryDirectory() + "tls-session-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: session) }
        for version in ["-tls1_2", "-tls1_3"] {
            // No ticket and no server-side session cache: the client has no session to keep.
            let first = try sClient([version, "-sess_out", session], input: Self.closeRequest)
            XCTAssertTrue(first.contains("HTTP/1.1 200 OK"), first)
            XCTAssertFalse(first.contains("TLS session ticket:"), first)
            XCTAssertFalse(FileManager.default.fileExists(atPath: session), "\(version): a session was offered")
        }
    }

    func testAStalledHandshakeIsDroppedAtTheHandshakeTimeout() throws {
        try start("ssl_handshake_timeout 500ms;")
        // Half a ClientHello, and a client that sends nothing at all.
        let half = try RawClient(port: tlsPort, timeout: 5)
        try half.send([0x16, 0x03, 0x01, 0x00, 0x50, 0x01, 0x00])
        let silent = try RawClient(port: tlsPort, timeout: 5)
        let started = Date()
        XCTAssertTrue(half.isClosedByPeer())
        XCTAssertTrue(silent.isClosedByPeer())
        let waited = Date().timeIntervalSince(started)
        XCTAssertGreaterThan(waited, 0.3)
        XCTAssertLessThan(waited, 2)
    }

    func testPlainHTTPOnTheTLSPortGetsA400EnvelopeInPlainText() throws {
        try start()
        let client = try RawClient(port: tlsPort)
        let response = try client.exchange(get("/v1/sessions/a"))
        XCTAssertEqual(response.status, 400)
        XCTAssertEqual(response.header("Connection"), "close")
        XCTAssertEqual(response.errorObject["code"] as? String, "invalid_request")
        XCTAssertTrue((response.errorObject["message"] as? String ?? "").contains("HTTPS port"), response.text)
        XCTAssertTrue(client.isClosedByPeer())
    }

    func testGarbageClientHellosCloseWithoutLeakingConnections() throws {
        try start()
        let pid = try XCTUnwrap(deployment.gateway?.pid)
        // A first request opens the pooled upstream connection, which stays.
        XCTAssertEqual(try curl("/v1/sessions/x").exitStatus, 0)
        let before = openDescriptors(pid)
        for round in 0..<20 {
            let client = try RawClient(port: tlsPort, timeout: 5)
            // A record header claiming a handshake, then noise; or noise from the first byte.
            let noise = (0..<64).map { _ in UInt8.random(in: 0...255) }
            try client.send(round % 2 == 0 ? [0x16, 0x03, 0x01, 0x00, 0x40] + noise : [0x80 | noise[0]] + noise)
            let (_, closed) = client.readUntilClose()
            XCTAssertTrue(closed, "round \(round): the gateway must close the connection")
        }
        // A truncated ClientHello followed by the client going away.
        let truncated = try RawClient(port: tlsPort)
        try truncated.send([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03])
        try truncated.shutdownWrite()
        XCTAssertTrue(truncated.isClosedByPeer())
        // Every socket is given back, and HTTPS still works.
        XCTAssertEqual(try curl("/v1/sessions/x").exitStatus, 0)
        let deadline = Date().addingTimeInterval(2)
        while openDescriptors(pid) > before && Date() < deadline { usleep(20_000) }
        XCTAssertLessThanOrEqual(openDescriptors(pid), before)
    }

    /// What the mock's /v1/bytes/N sends: a repeating 37-byte line.
    static func mockBytes(_ count: Int) -> Data {
        let line = Array("abcdefghijklmnopqrstuvwxyz0123456789\n".utf8)
        var out = Data(capacity: count)
        while out.count < count { out.append(contentsOf: line.prefix(count - out.count)) }
        return out
    }
}

func openDescriptors(_ pid: Int32) -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
}
