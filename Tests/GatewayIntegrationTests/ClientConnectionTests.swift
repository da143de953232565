import Foundation
import XCTest

/// How client connections begin and end (issue 9, items 9 and 11): the header timer of a fresh
/// connection, a graceful close after an early answer, and what the access log says.
final class ClientConnectionTests: XCTestCase {
    var deployment: Deployment!
    static let key = "client-key-\(UUID().uuidString.prefix(8))"

    override func setUpWithError() throws {
        deployment = Deployment()
        let mock = try deployment.startMock()
        try deployment.startGateway("""
        plan open { }
        key sha256:\(sha256Hex(Array(Self.key.utf8))) { plan open; }
        upstream messaging { server 127.0.0.1:\(mock); }
        route /v1/ { upstream messaging; auth required; methods GET POST; idempotency optional; }
        """, extra: "client_header_timeout 1s; keepalive_timeout 30s; max_header_size 8k; access_log on;")
    }

    override func tearDown() { deployment.stop() }

    func testAnOversizedHeadIsAnsweredNotReset() throws {
        let head = Array("GET /v1/sessions/a HTTP/1.1\r\nHost: t\r\nX-Big: \(String(repeating: "a", count: 1 << 20))\r\n\r\n".utf8)
        for round in 0..<20 {
            let c = try RawClient(port: deployment.gatewayPort, timeout: 5)
            let sent = expectation(description: "sent")
            let fd = c.fd
            Thread.detachNewThread {
                _ = head.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                sent.fulfill()
            }
            let response = try c.readResponse()
            XCTAssertEqual(response.status, 431, "round \(round)")
            XCTAssertEqual(response.errorObject["code"] as? String, "headers_too_large", "round \(round)")
            XCTAssertTrue(c.readUntilClose().closed, "round \(round): closed after the answer")
            wait(for: [sent], timeout: 10)
        }
    }

    func testAFreshConnectionGetsTheHeaderTimeoutNotTheKeepAliveOne() throws {
        let c = try RawClient(port: deployment.gatewayPort, timeout: 10)
        let started = Date()
        XCTAssertTrue(c.readUntilClose().closed)
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertGreaterThanOrEqual(elapsed, 0.9)
        XCTAssertLessThan(elapsed, 3, "closed at client_header_timeout (1 s), not keepalive_timeout (30 s)")
    }

    func testAccessLogShowsTheStatusSentAndMarksReplays() throws {
        let c = try RawClient(port: deployment.gatewayPort)
        let auth = "X-API-Key: \(Self.key)\r\n"
        let answers = [try c.exchange(get("/v1/sessions/a")),
                       try c.exchange(get("/elsewhere")),
                       try c.exchange("DELETE /v1/sessions/a HTTP/1.1\r\nHost: t\r\n\(auth)\r\n"),
                       try c.exchange(get("/v1/sessions/a", headers: auth)),
                       try c.exchange(post("/v1/messages/text", body: "{}", headers: auth + "Idempotency-Key: log-1\r\n")),
                       try c.exchange(post("/v1/messages/text", body: "{}", headers: auth + "Idempotency-Key: log-1\r\n"))]
        XCTAssertEqual(answers.map(\.status), [401, 404, 405, 200, 201, 201])
        let ids = answers.map { $0.header("X-Request-Id") ?? "?" }
        XCTAssertEqual(ids[5], ids[4], "a replay is the original response: it carries the original request's id")
        // `access_log on` is stderr, JSON lines by default.
        func lines() -> [[String: Any]] {
            deployment.gateway!.output.split(separator: "\n").filter { $0.hasPrefix("{") }.compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }
        XCTAssertTrue(eventually { lines().count >= 6 }, deployment.gateway!.output)
        let logged = lines()
        func line(_ id: String) -> [String: Any] { logged.first { $0["request_id"] as? String == id } ?? [:] }
        XCTAssertEqual(line(ids[0])["status"] as? Int, 401)
        XCTAssertEqual(line(ids[0])["path"] as? String, "/v1/sessions/a")
        XCTAssertEqual(line(ids[1])["status"] as? Int, 404)
        XCTAssertEqual(line(ids[2])["method"] as? String, "DELETE")
        XCTAssertEqual(line(ids[2])["status"] as? Int, 405)
        XCTAssertEqual(line(ids[3])["status"] as? Int, 200)
        XCTAssertEqual(line(ids[4])["idempotency"] as? String, "stored")
        // The replay's line carries the retry's own id (the one place it appears) and the mark.
        let replay = logged.first { $0["idempotency"] as? String == "replayed" } ?? [:]
        XCTAssertEqual(replay["status"] as? Int, 201)
        XCTAssertEqual(replay["path"] as? String, "/v1/messages/text")
        XCTAssertFalse(ids.contains(replay["request_id"] as? String ?? "?"))
    }
}
