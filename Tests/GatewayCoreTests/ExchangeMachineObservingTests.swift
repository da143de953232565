import Foundation
import XCTest
@testable import GatewayCore

/// What the metrics and the access log learn from the machine, request by request.
final class ExchangeMachineObservingTests: XCTestCase {
    static let key = "observed-key-1"
    static let config = """
    listen 8080;
    upstream u { server 127.0.0.1:9000; response_timeout 3s; }
    plan p { rate 10/m burst 2; }
    key sha256:\(KeyHash.hex(KeyHash.sha256(key))) { plan p; }
    route /v1/ { upstream u; idempotency optional; auth required; }
    """
    static let auth = "X-API-Key: \(key)\r\n"

    func driver() throws -> MachineDriver {
        try MachineDriver(Self.config, idempotency: idempotencyStage(), observed: true)
    }

    private func requests(_ d: MachineDriver) -> [MetricsSnapshot.RequestSeries: UInt64] { d.registry.snapshot().requests }

    func testAProxiedRequestIsCountedTimedAndLogged() throws {
        let d = try driver()
        d.send("GET /v1/./sessions//a?token=secret HTTP/1.1\r\nHost: a\r\n\(Self.auth)\r\n")
        d.advance(7)
        d.respond(d.upstream(0), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        let snapshot = d.registry.snapshot()
        XCTAssertEqual(snapshot.requests, [.init(route: "/v1/", method: "GET", statusClass: "2xx"): 1])
        XCTAssertEqual(snapshot[.exchangesStarted], 1)
        XCTAssertEqual(snapshot[.exchangesEnded], 1)
        XCTAssertEqual(snapshot[.connectionsOpened], 1)
        XCTAssertEqual(snapshot.latency["u"]?.count, 1)
        XCTAssertEqual(snapshot.latency["u"]?.sumMicros, 7_000)
        XCTAssertEqual(snapshot[.bytesSent], UInt64(d.clientReceived.count))
        XCTAssertGreaterThan(snapshot[.bytesReceived], 40)

        let line = try XCTUnwrap(d.accessLog.lines.first)
        XCTAssertEqual(line["method"] as? String, "GET")
        XCTAssertEqual(line["path"] as? String, "/v1/sessions/a", "normalised, without the query")
        XCTAssertEqual(line["route"] as? String, "/v1/")
        XCTAssertEqual(line["status"] as? Int, 200)
        XCTAssertEqual(line["client"] as? String, "10.1.2.3")
        XCTAssertEqual(line["key"] as? String, KeyHash.fingerprint(KeyHash.sha256(Self.key)))
        XCTAssertEqual(line["upstream"] as? String, "u")
        XCTAssertEqual(line["server"] as? String, "127.0.0.1:9000")
        XCTAssertEqual(line["upstream_us"] as? Int, 7_000)
        XCTAssertEqual(line["total_us"] as? Int, 7_000)
        XCTAssertEqual(line["ratelimit_remaining"] as? Int, 1)
        XCTAssertEqual(line["bytes_out"] as? Int, d.clientReceived.count)
        XCTAssertEqual(line["request_id"] as? String, d.responses.first?.headers["x-request-id"])
        XCTAssertTrue(line["error"] is NSNull)
        XCTAssertFalse(d.accessLog.lines.description.contains("secret"))
    }

    func testTheGatewaysOwnAnswersCountTheirCodeAndLimit() throws {
        let d = try driver()
        d.send("GET /elsewhere HTTP/1.1\r\nHost: a\r\n\r\n")
        d.send("GET /v1/a HTTP/1.1\r\nHost: a\r\n\r\n")
        for _ in 0..<3 {
            d.send("GET /v1/a HTTP/1.1\r\nHost: a\r\n\(Self.auth)\r\n")
            if let upstream = d.current { d.respond(upstream, "HTTP/1.1 204 No Content\r\n\r\n") }
        }
        XCTAssertEqual(d.responses.map(\.status), [404, 401, 204, 204, 429])
        let snapshot = d.registry.snapshot()
        func errors(_ kind: GatewayErrorKind) -> UInt64 { snapshot.errors[GatewayErrorKind.allCases.firstIndex(of: kind)!] }
        XCTAssertEqual(errors(.resourceNotFound), 1)
        XCTAssertEqual(errors(.missingApiKey), 1)
        XCTAssertEqual(errors(.rateLimitExceeded), 1)
        XCTAssertEqual(snapshot.rejections[PolicyLimit.keyRate.rawValue], 1)
        XCTAssertEqual(snapshot.requests[.init(route: "none", method: "GET", statusClass: "4xx")], 1)
        XCTAssertEqual(snapshot.requests[.init(route: "/v1/", method: "GET", statusClass: "4xx")], 2)
        XCTAssertEqual(d.accessLog.lines.map { $0["error"] as? String ?? "-" },
                       ["resource_not_found", "missing_api_key", "-", "-", "rate_limit_exceeded"])
        XCTAssertEqual(d.accessLog.lines.last?["ratelimit_remaining"] as? Int, 0)
        XCTAssertTrue(d.accessLog.lines.last?["upstream"] is NSNull, "never sent upstream")
    }

    func testIdempotencyOutcomes() throws {
        let d = try driver()
        let post = { (key: String, body: String) in
            "POST /v1/m HTTP/1.1\r\nHost: a\r\n\(Self.auth)Idempotency-Key: \(key)\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        }
        d.send(post("k1", "{}"))
        d.respond(d.upstream(0), "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        d.send(post("k1", "{}"))
        d.advance(60_000)
        d.send(post("k1", "{\"x\":1}"))
        XCTAssertEqual(d.responses.map(\.status), [201, 201, 409])
        XCTAssertEqual(d.accessLog.lines.map { $0["idempotency"] as? String }, ["stored", "replayed", "conflict"])
        let outcomes = d.registry.snapshot().idempotency
        XCTAssertEqual(outcomes[IdempotencyOutcome.stored.rawValue], 1)
        XCTAssertEqual(outcomes[IdempotencyOutcome.replayed.rawValue], 1)
        XCTAssertEqual(outcomes[IdempotencyOutcome.requestMismatch.rawValue], 1)
    }

    func testAClientThatLeavesBeforeTheAnswerIsLogged499() throws {
        let d = try driver()
        d.send("GET /v1/a HTTP/1.1\r\nHost: a\r\n\(Self.auth)\r\n")
        d.clientCloses()
        let snapshot = d.registry.snapshot()
        XCTAssertEqual(d.accessLog.lines.map { $0["status"] as? Int }, [499])
        XCTAssertEqual(snapshot[.exchangesEnded], 1)
        XCTAssertEqual(snapshot[.connectionsClosed], 1)
        XCTAssertEqual(snapshot.requests, [.init(route: "/v1/", method: "GET", statusClass: "4xx"): 1])
    }

    func testARequestThatNeverParsesIsLoggedWithoutMethodOrPath() throws {
        let d = try driver()
        d.send("GET /v1/a HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")
        XCTAssertEqual(d.responses.map(\.status), [400])
        let line = try XCTUnwrap(d.accessLog.lines.first)
        XCTAssertTrue(line["method"] is NSNull)
        XCTAssertTrue(line["path"] is NSNull)
        XCTAssertEqual(line["error"] as? String, "invalid_request")
        XCTAssertEqual(d.accessLog.lines.count, 1, "reported once, not again when the connection closes")
        XCTAssertEqual(requests(d), [.init(route: "none", method: "OTHER", statusClass: "4xx"): 1])
    }

    /// A tunnel is one exchange: logged as the 101 when it closes, with the bytes it carried.
    func testATunnelIsReportedWhenItCloses() throws {
        let d = try MachineDriver("""
        listen 8080;
        upstream u { server 127.0.0.1:9000; }
        route /ws/ { upstream u; upgrade websocket; }
        """, observed: true)
        let handshake = "GET /ws/chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        d.send(handshake + "early")
        d.advance(3)
        d.respond(d.upstream(0), "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhello")
        d.send("more")
        XCTAssertTrue(d.accessLog.lines.isEmpty, "not before it ends")
        d.respond(d.upstream(0), "bye", close: true)
        let line = try XCTUnwrap(d.accessLog.lines.first)
        XCTAssertEqual(line["status"] as? Int, 101)
        XCTAssertEqual(line["upstream_us"] as? Int, 3_000)
        XCTAssertEqual(line["bytes_in"] as? Int, handshake.utf8.count + "earlymore".utf8.count)
        XCTAssertEqual(line["bytes_out"] as? Int, d.clientReceived.count)
        XCTAssertEqual(d.registry.snapshot().requests, [.init(route: "/ws/", method: "GET", statusClass: "1xx"): 1])
    }

    func testNothingIsObservedWithoutObservers() throws {
        let d = try MachineDriver(Self.config)
        d.send("GET /v1/a HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertNil(d.metrics)
        XCTAssertTrue(d.accessLog.lines.isEmpty)
    }
}
