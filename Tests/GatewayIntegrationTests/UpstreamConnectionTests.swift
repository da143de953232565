import Foundation
import XCTest

/// Upstream connections that stop reading, die in the pool, reset, babble, or answer before the
/// body is sent (issue 9, items 3, 4 and 7).
final class UpstreamConnectionTests: XCTestCase {
    var deployment: Deployment!
    static let key = "conn-key-\(UUID().uuidString.prefix(8))"
    static let auth = "Authorization: Bearer \(key)\r\n"

    override func setUpWithError() throws { deployment = Deployment() }

    override func tearDown() { deployment.stop() }

    /// One upstream group over `servers`, a concurrency-1 key, idempotency optional on POSTs.
    func start(servers: [UInt16], upstreamExtra: String = "", workers: Int = 2) throws {
        let lines = servers.map { "server 127.0.0.1:\($0) max_fails=1 fail_timeout=30s;" }.joined(separator: " ")
        try deployment.startGateway("""
        plan solo { concurrency 1; }
        key sha256:\(sha256Hex(Array(Self.key.utf8))) { plan solo; }
        upstream messaging { \(lines) response_timeout 1s; \(upstreamExtra) }
        route /v1/ { upstream messaging; auth required; idempotency optional; max_body 200m; }
        """, workers: workers)
    }

    func client(timeout: TimeInterval = 10) throws -> RawClient { try RawClient(port: deployment.gatewayPort, timeout: timeout) }

    /// Sends `head` and then `bodyBytes` zero bytes from another thread (the gateway may stop reading).
    func sendInBackground(_ c: RawClient, head: String, bodyBytes: Int, halfCloseAfter: Int? = nil) -> XCTestExpectation {
        let done = expectation(description: "sender finished")
        let fd = c.fd
        var timeout = timeval(tv_sec: 15, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        Thread.detachNewThread {
            _ = Array(head.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            let chunk = [UInt8](repeating: 0x61, count: 64 * 1024)
            var sent = 0
            while sent < min(bodyBytes, halfCloseAfter ?? .max) {
                let n = chunk.withUnsafeBytes { send(fd, $0.baseAddress, min($0.count, bodyBytes - sent), Int32(MSG_NOSIGNAL)) }
                if n <= 0 { break }
                sent += n
            }
            if halfCloseAfter != nil { shutdown(fd, Int32(SHUT_WR)) }
            done.fulfill()
        }
        return done
    }

    /// The key's single concurrency slot is free again (nothing pinned by the failed exchange).
    func assertSlotFree(_ label: String, file: StaticString = #filePath, line: UInt = #line) throws {
        var last = ""
        let admitted = try eventually(timeout: 3) {
            let response = try client().exchange(get("/v1/sessions/free", headers: Self.auth + "Connection: close\r\n"))
            last = "\(response.status) \(response.text)"
            return response.status == 200 || response.status == 502
        }
        XCTAssertTrue(admitted, "[\(label)] the concurrency-1 key is still held: \(last)", file: file, line: line)
    }

    func testUpstreamThatStopsReadingTheBodyGets504AndReleasesEverything() throws {
        let mock = try deployment.startMock()
        try start(servers: [mock])
        let c = try client()
        let size = 64 << 20
        let head = "POST /v1/messages/text?fail=wedge&wedge_ms=20000 HTTP/1.1\r\nHost: t\r\n\(Self.auth)"
            + "Idempotency-Key: wedged-1\r\nContent-Type: application/octet-stream\r\nContent-Length: \(size)\r\n\r\n"
        let started = Date()
        let sender = sendInBackground(c, head: head, bodyBytes: size)
        let response = try c.readResponse()
        XCTAssertEqual(response.status, 504)
        XCTAssertEqual(response.errorObject["code"] as? String, "upstream_timeout")
        XCTAssertNil(response.header("Retry-After"), "a POST that may have run is not to be retried blindly")
        XCTAssertLessThan(Date().timeIntervalSince(started), 8, "answered at the send timeout, not never")
        XCTAssertTrue(c.readUntilClose().closed, "the unread body means the connection closes")
        wait(for: [sender], timeout: 20)
        try assertSlotFree("wedged upstream")
        // Part of the body reached the server: the key is "outcome unknown", never executed twice.
        let retry = try client().exchange(post("/v1/messages/text", body: "{}", headers: Self.auth + "Idempotency-Key: wedged-1\r\n"))
        XCTAssertEqual(retry.status, 409)
        XCTAssertEqual(retry.errorObject["code"] as? String, "idempotency_conflict")
    }

    func testClientThatHalfClosesDuringTheBodyPinsNothing() throws {
        let mock = try deployment.startMock()
        try start(servers: [mock])
        let c = try client()
        let head = "POST /v1/messages/text?fail=wedge&wedge_ms=20000 HTTP/1.1\r\nHost: t\r\n\(Self.auth)"
            + "Content-Type: application/octet-stream\r\nContent-Length: \(64 << 20)\r\n\r\n"
        let sender = sendInBackground(c, head: head, bodyBytes: 64 << 20, halfCloseAfter: 16 << 20)
        wait(for: [sender], timeout: 20)
        let ended = c.readUntilClose()
        XCTAssertTrue(ended.closed, "the gateway ends the exchange")
        try assertSlotFree("half-closed client")
    }

    func testPooledConnectionClosedRightAfterItsAnswerIsNeverReused() throws {
        let mock = try deployment.startMock()
        try start(servers: [mock], upstreamExtra: "keepalive 8;", workers: 1)
        let c = try client()
        for i in 0..<20 {
            XCTAssertEqual(try c.exchange(get("/v1/sessions/a?fail=fin_after", headers: Self.auth)).status, 200, "round \(i)")
            let created = try c.exchange(post("/v1/messages/text", body: #"{"to":"+15550100","text":"hi"}"#, headers: Self.auth))
            XCTAssertEqual(created.status, 201, "round \(i): a POST must not land on the connection the server closed: \(created.text)")
        }
    }

    func testServerThatResetsOrSendsGarbageIsEjected() throws {
        let mock = try deployment.startMock()
        let garbage = try ScriptedUpstream { connection in
            if connection.readHead() { connection.write("this is not HTTP\r\n\r\n") }
            connection.close()
        }
        let resetting = try ScriptedUpstream { connection in
            _ = connection.readHead()
            var linger = linger(l_onoff: 1, l_linger: 0)
            setsockopt(connection.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<linger>.size))
            connection.close()
        }
        defer { garbage.stop(); resetting.stop() }
        try start(servers: [garbage.port, resetting.port, mock], workers: 1)
        let c = try client()
        var failures = 0
        for _ in 0..<12 {
            if try c.exchange(get("/v1/sessions/a", headers: Self.auth)).status != 200 { failures += 1 }
        }
        XCTAssertLessThanOrEqual(failures, 2, "each bad server fails at most once before it is ejected")
        XCTAssertLessThanOrEqual(garbage.accepted, 1, "the garbage server was ejected after its first answer")
        XCTAssertLessThanOrEqual(resetting.accepted, 1, "the resetting server was ejected after its first reset")
    }

    func testEarlyAnswerIsRelayedWhenTheServerStopsTakingTheBody() throws {
        let early = try ScriptedUpstream { connection in
            guard connection.readHead() else { return connection.close() }
            let body = #"{"error":{"code":"request_too_large","message":"Body too large for this endpoint"}}"#
            connection.write("HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\n"
                             + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)")
            connection.close()  // at once: the unread body makes this a reset the gateway's next write meets
        }
        defer { early.stop() }
        try start(servers: [early.port])
        let c = try client()
        let size = 32 << 20
        let head = "POST /v1/messages/text HTTP/1.1\r\nHost: t\r\n\(Self.auth)Content-Type: application/octet-stream\r\n"
            + "Content-Length: \(size)\r\n\r\n"
        let sender = sendInBackground(c, head: head, bodyBytes: size)
        let response = try c.readResponse()
        XCTAssertEqual(response.status, 413, response.text)
        XCTAssertEqual(response.errorObject["code"] as? String, "request_too_large")
        XCTAssertEqual(response.errorObject["message"] as? String, "Body too large for this endpoint")
        XCTAssertTrue(c.readUntilClose().closed)
        wait(for: [sender], timeout: 20)
    }
}
