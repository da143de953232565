import Foundation
import XCTest

/// Upstream faults under an authenticated key whose plan allows one request in flight: a mock killed
/// mid-download, resets, half-closes, stalls, a pooled connection the upstream closed while it sat idle
/// (a GET is retried once on a fresh connection; before a POST is sent the pooled connection is checked), and every server down then back.
/// After each: no upstream connection leaked (ESTABLISHED sockets to the mock within the pool size) and
/// the key's single concurrency slot is free again.
final class UpstreamFaultTests: XCTestCase {
    var deployment: Deployment!
    var mock: UInt16 = 0
    static let key = "fault-key-\(UUID().uuidString.prefix(8))"
    static let auth = "Authorization: Bearer \(key)\r\n"
    /// `keepalive 1` per server per worker, `workers 2`: at most this many pooled connections per server.
    static let poolSize = 2

    override func setUpWithError() throws {
        deployment = Deployment()
        mock = try deployment.startMock()
    }

    override func tearDown() { deployment.stop() }

    func start(servers: [UInt16], serverOptions: String = "max_fails=0") throws {
        let lines = servers.map { "server 127.0.0.1:\($0) \(serverOptions);" }.joined(separator: " ")
        try deployment.startGateway("""
        plan solo { concurrency 1; }
        key sha256:\(sha256Hex(Array(Self.key.utf8))) { plan solo; }
        upstream messaging { \(lines) response_timeout 500ms; keepalive 1; }
        route /v1/ { upstream messaging; auth required; }
        errors { retry_after_default 3s; }
        """)
    }

    func client(timeout: TimeInterval = 5) throws -> RawClient { try RawClient(port: deployment.gatewayPort, timeout: timeout) }

    func keyed(_ path: String, _ extra: String = "") -> String { get(path, headers: Self.auth + extra) }

    func keyedPost(_ path: String, body: String) -> String { post(path, body: body, headers: Self.auth) }

    /// No upstream connection leaked and the key's concurrency slot is free.
    func assertRecovered(ports: [UInt16]? = nil, _ label: String, file: StaticString = #filePath, line: UInt = #line) throws {
        for port in ports ?? [mock] {
            let settled = eventually(timeout: 3) { establishedConnections(toPort: port) <= Self.poolSize }
            XCTAssertTrue(settled, "[\(label)] \(establishedConnections(toPort: port)) connections to \(port) for a pool of \(Self.poolSize)",
                          file: file, line: line)
        }
        // Fresh connections land on either worker; the slot is global, so each must be admitted. The slot
        // of the previous request is given back just after its last byte is written, so a client that is
        // quicker than that may see one transient 429; a leaked slot never comes back.
        for i in 0..<4 {
            var last = ""
            let admitted = try eventually(timeout: 2) {
                let response = try client().exchange(keyed("/v1/sessions/slot\(i)", "Connection: close\r\n"))
                last = "\(response.status) \(response.text)"
                return response.status == 200
            }
            XCTAssertTrue(admitted, "[\(label)] the concurrency-1 key was not admitted: \(last)", file: file, line: line)
        }
    }

    func testUpstreamKilledMidResponseClosesTheClientThenTheNextRequestGets503() throws {
        try start(servers: [mock])
        let downloader = try client()
        try downloader.send(keyed("/v1/bytes/1073741824"))
        // Read until the download is well under way, then kill the upstream.
        var received = 0
        var chunk = [UInt8](repeating: 0, count: 65536)
        while received < 4 << 20 {
            let n = recv(downloader.fd, &chunk, chunk.count, 0)
            XCTAssertGreaterThan(n, 0, "download ended early")
            if n <= 0 { return }
            received += n
        }
        kill(deployment.mocks.first { $0.port == mock }!.process.pid, SIGKILL)
        let started = Date()
        let rest = downloader.readUntilClose()
        XCTAssertTrue(rest.closed, "the client connection must be closed when the upstream dies mid-response")
        XCTAssertLessThan(Date().timeIntervalSince(started), 3, "closed promptly")
        XCTAssertLessThan(received + rest.bytes.count, 1 << 30, "the body cannot have been completed")
        deployment.stopMock(port: mock)

        let next = try client().exchange(keyed("/v1/sessions/next"))
        assertEnvelope(next, status: 503, code: "service_unavailable", retryAfter: true)
        try deployment.startMock(port: mock)
        try assertRecovered("killed mid-response")
    }

    func testResetBeforeTheAnswerIs502AndAPOSTIsNeverResent() throws {
        try start(servers: [mock])
        try resetMock(port: mock)
        let response = try client().exchange(keyed("/v1/sessions/a?fail=reset"))
        assertEnvelope(response, status: 502, code: "bad_gateway", retryAfter: true)
        let posted = try client().exchange(keyedPost("/v1/messages/text?fail=reset", body: #"{"to":"x"}"#))
        assertEnvelope(posted, status: 502, code: "bad_gateway", retryAfter: true)
        let stats = try mockStats(port: mock)
        XCTAssertEqual(stats.paths["POST /v1/messages/text"], 1, "a POST must reach the upstream once: \(stats.paths)")
        XCTAssertLessThanOrEqual(stats.paths["GET /v1/sessions/a"] ?? 0, 2, "a GET is retried at most once: \(stats.paths)")
        try assertRecovered("reset")
    }

    func testHalfClosedResponseClosesTheClientConnection() throws {
        try start(servers: [mock])
        let c = try client(timeout: 3)
        try c.send(keyed("/v1/sessions/a?fail=half"))
        let started = Date()
        let all = c.readUntilClose()
        XCTAssertTrue(all.closed, "a truncated response must end with the client connection closed")
        XCTAssertLessThan(Date().timeIntervalSince(started), 2)
        let text = String(decoding: all.bytes, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 200"), text)
        XCTAssertTrue(text.lowercased().contains("content-length: 1000"), text)
        let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
        XCTAssertEqual(body, "0123456789", "the 10 bytes sent, and nothing made up")
        try assertRecovered("half")
    }

    func testStalledUpstreamIs504AfterTheResponseTimeout() throws {
        try start(servers: [mock])
        let started = Date()
        let response = try client().exchange(keyed("/v1/sessions/a?fail=stall"))
        let elapsed = Date().timeIntervalSince(started)
        assertEnvelope(response, status: 504, code: "upstream_timeout", retryAfter: true)
        XCTAssertGreaterThanOrEqual(elapsed, 0.45)
        XCTAssertLessThan(elapsed, 1.5)
        try assertRecovered("stall")
    }

    /// Makes the pooled connection of the gateway's worker stale: the gateway is frozen (SIGSTOP), the
    /// next request is sent, the mock is restarted on the same port, then the gateway resumes. It sees the
    /// client's request before the pooled connection's FIN, so it sends the request on a connection the
    /// server has already closed: the situation a keep-alive race produces in production.
    func sendOnStalePooledConnection(_ first: String, _ second: String) throws -> (RawClient, WireResponse) {
        let c = try client()
        XCTAssertEqual(try c.exchange(first).status, 200, "warm-up request")
        usleep(100_000)  // let the loop settle: the upstream connection is idle in the pool
        let gateway = deployment.gateway!.pid
        kill(gateway, SIGSTOP)
        // kill() returns before every thread has stopped: wait until the kernel says they have.
        XCTAssertTrue(eventually(timeout: 5) { allThreadsStopped(gateway) }, "the gateway did not stop")
        var resumed = false
        defer { if !resumed { kill(gateway, SIGCONT) } }
        try c.send(second)
        usleep(50_000)
        deployment.stopMock(port: mock)
        try deployment.startMock(port: mock)
        kill(gateway, SIGCONT)
        resumed = true
        return (c, try c.readResponse())
    }

    func testStalePooledConnectionGETIsRetriedOnceOnAFreshConnection() throws {
        try start(servers: [mock])
        let (_, response) = try sendOnStalePooledConnection(keyed("/v1/sessions/one"), keyed("/v1/sessions/two"))
        let seen = try mockStats(port: mock).paths
        XCTAssertEqual(response.status, 200, "a GET on a dead pooled connection is retried: \(response.text)\n\(deployment.gateway!.output)\n\(seen)")
        XCTAssertEqual((response.json["data"] as? [String: Any])?["id"] as? String, "two")
        let stats = try mockStats(port: mock)
        XCTAssertEqual(stats.paths["GET /v1/sessions/two"], 1, "exactly once on the new server: \(stats.paths)")
        try assertRecovered("stale GET")
    }

    /// A POST is never resent, so before one is sent on a pooled connection the gateway checks that
    /// the server has not closed it meanwhile (a pending FIN): this one goes out once, on a fresh one.
    func testStalePooledConnectionIsDetectedBeforeAPOSTIsSent() throws {
        try start(servers: [mock])
        let (_, response) = try sendOnStalePooledConnection(keyed("/v1/sessions/one"),
                                                            keyedPost("/v1/messages/text", body: #"{"to":"+15550100"}"#))
        XCTAssertEqual(response.status, 201, response.text)
        let stats = try mockStats(port: mock)
        XCTAssertEqual(stats.paths["POST /v1/messages/text"] ?? 0, 1, "sent exactly once: \(stats.paths)")
        try assertRecovered("stale POST")
    }

    func testAllServersDownIs503ThenBackIs200() throws {
        let second = try deployment.startMock()
        try start(servers: [mock, second], serverOptions: "max_fails=1 fail_timeout=1s")
        XCTAssertEqual(try client().exchange(keyed("/v1/sessions/up")).status, 200)
        deployment.stopMock(port: mock)
        deployment.stopMock(port: second)
        for i in 0..<3 {
            let down = try client().exchange(keyed("/v1/sessions/down\(i)"))
            assertEnvelope(down, status: 503, code: "service_unavailable", retryAfter: true, "down \(i)")
        }
        try deployment.startMock(port: mock)
        try deployment.startMock(port: second)
        // Ejected servers come back after fail_timeout (1 s).
        // Health is per worker: wait until fresh connections (spread over both workers) all succeed.
        var last: [Int] = []
        let back = eventually(timeout: 4, interval: 100_000) {
            last = (0..<4).map { _ in (try? client().exchange(keyed("/v1/sessions/back", "Connection: close\r\n")).status) ?? -1 }
            return last == [200, 200, 200, 200]
        }
        XCTAssertTrue(back, "servers back, but the gateway still answers \(last)")
        try assertRecovered(ports: [mock, second], "all down then back")
    }
}
