import XCTest
@testable import GatewayCore

/// The exchange machine driven with byte strings and a fake clock: no socket, no thread.
final class ExchangeMachineTests: XCTestCase {
    static let config = """
    listen 8080;
    client_header_timeout 1s;
    client_body_timeout 2s;
    keepalive_timeout 5s;
    upstream u { server 127.0.0.1:9000; server 127.0.0.1:9001; connect_timeout 1s; response_timeout 3s; }
    route /v1/ { upstream u; max_body 100; }
    errors { retry_after_default 7s; }
    """

    func driver(_ extra: String = "") throws -> MachineDriver { try MachineDriver(Self.config + extra) }

    /// One server, so consecutive requests meet the same pool.
    func singleServer(_ extra: String = "") throws -> MachineDriver {
        try MachineDriver("""
        listen 8080;
        upstream u { server 127.0.0.1:9000; response_timeout 3s; }
        route /v1/ { upstream u; }
        \(extra)
        """)
    }

    static let ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    func testAGetIsForwardedAnsweredAndTheConnectionPooled() throws {
        let d = try driver()
        d.send("GET /v1/a?x=1 HTTP/1.1\r\nHost: api\r\nX-Custom: y\r\n\r\n")
        let upstream = d.upstream(0)
        XCTAssertTrue(upstream.receivedText.hasPrefix("GET /v1/a?x=1 HTTP/1.1\r\nHost: api\r\nX-Custom: y\r\n"), upstream.receivedText)
        XCTAssertTrue(upstream.receivedText.contains("X-Forwarded-For: 10.1.2.3\r\n"))
        XCTAssertEqual(d.machine.state, .forwarding(.sent, .awaitingHead))
        d.respond(upstream, Self.ok)
        XCTAssertEqual(d.responses.map(\.status), [200])
        XCTAssertEqual(d.responses.first?.body, "ok")
        XCTAssertNotNil(d.responses.first?.headers["date"])
        XCTAssertTrue(upstream.released, "a clean keep-alive connection goes back to the pool")
        XCTAssertEqual(d.machine.state, .idle(since: 1_000, fresh: false))
        XCTAssertEqual(d.machine.clientDeadline, 1_000 + ExchangeMachine.parkAfterMs, "a moment idle, then its request state is parked")
        d.advance(ExchangeMachine.parkAfterMs)
        XCTAssertNil(d.machine.slot, "an idle connection holds no request state")
        XCTAssertEqual(d.machine.clientDeadline, 1_000 + 5_000, "keep-alive timeout between requests")
        d.send("GET /v1/b HTTP/1.1\r\nHost: api\r\n\r\n")
        XCTAssertNotNil(d.machine.slot, "lent again by the next request")
    }

    func testPipelinedRequestsAreAnsweredInOrderOneAtATime() throws {
        let d = try singleServer()
        d.send("GET /v1/one HTTP/1.1\r\nHost: a\r\n\r\nGET /v1/two HTTP/1.1\r\nHost: a\r\n\r\n")
        let upstream = d.upstream(0)
        XCTAssertTrue(upstream.receivedText.contains("/v1/one"))
        XCTAssertFalse(upstream.receivedText.contains("/v1/two"), "the second waits for the first answer")
        d.respond(upstream, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none")
        XCTAssertTrue(upstream.receivedText.contains("/v1/two"), "then it goes out on the same pooled connection")
        d.respond(upstream, "HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\ntwo")
        XCTAssertEqual(d.responses.map(\.body), ["one", "two"])
        XCTAssertEqual(d.upstreams.count, 1)
    }

    func testExpectContinueIsAnsweredByTheGatewayAndTheBodyThenFlows() throws {
        let d = try driver()
        d.send("POST /v1/m HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        XCTAssertEqual(d.clientText, "HTTP/1.1 100 Continue\r\n\r\n")
        let upstream = d.upstream(0)
        XCTAssertFalse(upstream.receivedText.lowercased().contains("expect"), "the gateway answered it; it is not forwarded")
        d.send("hello")
        XCTAssertTrue(upstream.receivedText.hasSuffix("\r\n\r\nhello"))
        d.respond(upstream, "HTTP/1.1 100 Continue\r\n\r\n" + Self.ok)
        XCTAssertEqual(d.responses.map(\.status), [200], "the upstream's own 100 is dropped")
    }

    func testBodilessResponsesByMethodAndStatus() throws {
        let cases: [(method: String, upstream: String, expectLength: String?, expectChunked: Bool)] = [
            ("HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", "1234", false),
            ("GET", "HTTP/1.1 204 No Content\r\n\r\n", nil, false),
            ("GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", "99", false),
            ("GET", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "0", false),
            ("GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", nil, true),
        ]
        for (method, answer, length, chunked) in cases {
            let d = try driver()
            d.send("\(method) /v1/a HTTP/1.1\r\nHost: a\r\n\r\n")
            d.respond(d.upstream(0), answer)
            let head = d.clientText.components(separatedBy: "\r\n\r\n")[0].lowercased()
            XCTAssertEqual(head.contains("content-length: \(length ?? "")\r\n") || head.hasSuffix("content-length: \(length ?? "")"),
                           length != nil, "\(method) \(answer)")
            XCTAssertEqual(head.contains("transfer-encoding: chunked"), chunked, "\(method) \(answer)")
            XCTAssertTrue(d.upstream(0).released, "\(method) \(answer): the exchange completed")
            if case .idle = d.machine.state {} else { XCTFail("\(method) \(answer): \(d.machine.state)") }
        }
    }

    func testAStalePooledConnectionIsRetriedOnceForASafeRequestOnly() throws {
        let d = try singleServer()
        d.send("GET /v1/a HTTP/1.1\r\nHost: a\r\n\r\n")
        d.respond(d.upstream(0), Self.ok)
        d.serverClosesIdle()
        d.send("GET /v1/b HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(d.upstreams.count, 2, "the GET went out again on a fresh connection")
        XCTAssertTrue(d.upstream(0).closed)
        d.respond(d.upstream(1), Self.ok)
        XCTAssertEqual(d.responses.map(\.status), [200, 200])

        d.serverClosesIdle()
        d.send("POST /v1/c HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")
        XCTAssertEqual(d.upstreams.count, 2, "a POST is never sent twice")
        XCTAssertEqual(d.responses.last?.status, 502)
    }

    func testARefusedConnectFailsOverToTheNextServer() throws {
        let d = try driver()
        d.connectBehaviour[0] = [.refused(ECONNREFUSED)]
        d.send("GET /v1/a HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(d.upstreams.count, 1)
        XCTAssertEqual(d.upstream(0).link.server.index, 1)
        d.respond(d.upstream(0), Self.ok)
        XCTAssertEqual(d.responses.map(\.status), [200])
        XCTAssertTrue(d.logs.contains { $0.contains("server 127.0.0.1:9000: connect:") }, "\(d.logs)")
    }

    func testEveryServerRefusingIs503WithRetryAfter() throws {
        let d = try driver()
        d.connectBehaviour = [0: [.refused(ECONNREFUSED)], 1: [.refused(ECONNREFUSED)]]
        d.send("GET /v1/a HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(d.responses.first?.status, 503)
        XCTAssertEqual(d.responses.first?.headers["retry-after"], "7")
    }

    func testEveryServerFailingItsChecksIs503AtOnceWithoutAConnect() throws {
        let d = try MachineDriver(Self.config.replacingOccurrences(of: "response_timeout 3s;", with: "response_timeout 3s; health_check;"))
        for server in d.environment.balancers[0].servers { server.health.setFailingChecks(true) }
        d.send("GET /v1/a HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertTrue(d.upstreams.isEmpty, "no server is contacted")
        XCTAssertEqual(d.responses.first?.status, 503)
        XCTAssertEqual(d.responses.first?.headers["retry-after"], "7")
        XCTAssertTrue(d.responses.first?.body.contains("No healthy upstream server for u: all are failing their health checks or ejected after failures") ?? false,
                      d.clientText)
        // One server back: the next request on the same connection reaches it.
        d.environment.balancers[0].servers[1].health.setFailingChecks(false)
        d.send("GET /v1/b HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(d.upstream(0).link.server.index, 1)
    }

    func testClientEOFInEveryPhase() throws {
        // idle: the connection just closes.
        var d = try driver()
        d.clientCloses()
        XCTAssertTrue(d.clientClosed)
        // reading a head: closes without an answer.
        d = try driver()
        d.send("GET /v1/a HTT")
        d.clientCloses()
        XCTAssertTrue(d.clientClosed)
        XCTAssertEqual(d.clientText, "")
        // connecting: abandoned, the pending connection is closed.
        d = try driver()
        d.connectBehaviour[0] = [.pending]
        d.send("GET /v1/a HTTP/1.1\r\nHost: a\r\n\r\n")
        d.clientCloses()
        XCTAssertTrue(d.clientClosed)
        XCTAssertTrue(d.upstream(0).closed)
        // awaiting the response head.
        d = try driver()
        d.send("GET /v1/a HTTP/1.1\r\nHost: a\r\n\r\n")
        d.clientCloses()
        XCTAssertTrue(d.clientClosed && d.upstream(0).closed)
        // streaming the body.
        d = try driver()
        d.send("GET /v1/a HTTP/1.1\r\nHost: a\r\n\r\n")
        d.respond(d.upstream(0), "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        d.clientCloses()
        XCTAssertTrue(d.clientClosed && d.upstream(0).closed)
        // sending the request body.
        d = try driver()
        d.send("POST /v1/a HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
        d.clientCloses()
        XCTAssertTrue(d.clientClosed && d.upstream(0).closed)
    }

    func testTimeoutsInEveryPhase() throws {
        // A fresh connection that sends nothing: closed at the header timeout, silently.
        var d = try driver()
        d.advance(999)
        XCTAssertFalse(d.clientClosed)
        d.advance(1)
        XCTAssertTrue(d.clientClosed)
        XCTAssertEqual(d.clientText, "")
        // Part of a head: 408.
        d = try driver()
        d.send("GET /v1/a HTTP/1.1\r\n")
        d.advance(1_000)
        XCTAssertEqual(d.responses.first?.status, 408)
        // Part of a body: 408 after the body timeout, and the upstream connection is dropped.
        d = try driver()
        d.send("POST /v1/a HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
        d.advance(2_000)
        XCTAssertEqual(d.responses.first?.status, 408)
        XCTAssertTrue(d.upstream(0).closed)
        // Connecting: 504 once no other server is left.
        d = try driver()
        d.connectBehaviour = [0: [.pending], 1: [.pending]]
        d.send("GET /v1/a HTTP/1.1\r\nHost: a\r\n\r\n")
        d.advance(1_000)
        XCTAssertEqual(d.upstreams.count, 2, "the second server is tried after the first timed out")
        d.advance(1_000)
        XCTAssertEqual(d.responses.first?.status, 504)
        // Waiting for the response: 504, Retry-After only for idempotent requests.
        d = try driver()
        d.send("GET /v1/a HTTP/1.1\r\nHost: a\r\n\r\n")
        d.advance(3_000)
        XCTAssertEqual(d.responses.first?.status, 504)
        XCTAssertEqual(d.responses.first?.headers["retry-after"], "7")
        d = try driver()
        d.send("POST /v1/a HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")
        d.advance(3_000)
        XCTAssertEqual(d.responses.first?.status, 504)
        XCTAssertNil(d.responses.first?.headers["retry-after"])
        // Idle between requests: closed at the keep-alive timeout.
        d = try driver()
        d.send("GET /v1/a HTTP/1.1\r\nHost: a\r\n\r\n")
        d.respond(d.upstream(0), Self.ok)
        d.advance(4_999)
        XCTAssertFalse(d.clientClosed)
        d.advance(1)
        XCTAssertTrue(d.clientClosed)
    }

    func testAnUpstreamThatStopsReadingGets504AtTheSendTimeout() throws {
        let d = try driver()
        d.send("POST /v1/a HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
        let link = d.upstream(0).link
        link.output.appendOwned("still queued")  // the server's socket is full
        link.writable = false
        d.advance(0)
        XCTAssertEqual(d.machine.upstreamDeadline, link.lastWriteProgress + 3_000)
        d.advance(3_000)
        XCTAssertEqual(d.responses.first?.status, 504)
        XCTAssertTrue(d.clientText.contains("stopped reading the request"))
    }

    func testAnEarlyUpstreamAnswerIsRelayedAndTheUnreadBodyClosesTheConnection() throws {
        let d = try driver()
        d.send("POST /v1/a HTTP/1.1\r\nHost: a\r\nContent-Length: 50\r\n\r\nabc")
        d.respond(d.upstream(0), "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        XCTAssertEqual(d.responses.first?.status, 413)
        XCTAssertEqual(d.responses.first?.headers["connection"], "close")
        XCTAssertTrue(d.clientWriteShut, "closing with unread bytes lingers (FIN first, not a reset)")
        d.clientCloses()
        XCTAssertTrue(d.clientClosed)
    }

    func testErrorBodiesWithinTheRewriteBufferAreTranslatedAndLargerOnesAreNot() throws {
        let d = try singleServer("errors { rewrite_buffer 1k; }")
        let small = #"{"error":{"code":"SESSION_NOT_FOUND","message":"gone"}}"#
        d.send("GET /v1/a HTTP/1.1\r\nHost: a\r\n\r\n")
        d.respond(d.upstream(0), "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: \(small.utf8.count)\r\n\r\n\(small)")
        XCTAssertTrue(d.responses.last?.body.contains("\"code\":\"session_not_found\"") ?? false, d.clientText)
        let large = #"{"error":{"code":"SESSION_NOT_FOUND","message":"\#(String(repeating: "x", count: 1100))"}}"#
        d.send("GET /v1/b HTTP/1.1\r\nHost: a\r\n\r\n")
        d.respond(d.upstream(0), "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: \(large.utf8.count)\r\n\r\n\(large)")
        let body = d.responses.last?.body ?? ""
        XCTAssertTrue(body.contains("\"code\":\"resource_not_found\"") && body.contains("\"upstream_status\":404"), body)
    }

    func testABodyOverTheRouteLimitIs413() throws {
        let d = try driver()
        d.send("POST /v1/a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n" + String(repeating: "x", count: 101) + "\r\n")
        XCTAssertEqual(d.responses.first?.status, 413)
        XCTAssertTrue(d.upstream(0).closed)
    }
}

/// Upgrade: a 101 to a protocol the route allows turns the exchange into a byte tunnel.
final class ExchangeMachineTunnelTests: XCTestCase {
    static let config = """
    listen 8080;
    upstream u { server 127.0.0.1:9000; response_timeout 3s; }
    route /ws/ { upstream u; upgrade websocket; }
    route /v1/ { upstream u; }
    """
    static let handshake = "GET /ws/chat HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"
        + "Sec-WebSocket-Key: k\r\n\r\n"

    func testA101ToAnAllowedUpgradeTunnelsBytesBothWaysUntilAClose() throws {
        let d = try MachineDriver(Self.config)
        d.send(Self.handshake + "early")
        let upstream = d.upstream(0)
        XCTAssertTrue(upstream.receivedText.contains("Upgrade: websocket\r\nConnection: upgrade\r\n"), upstream.receivedText)
        XCTAssertFalse(upstream.receivedText.contains("early"), "nothing after the head goes up before the switch")
        d.respond(upstream, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\nhello")
        XCTAssertEqual(d.machine.state, .tunnelling)
        XCTAssertTrue(d.clientText.hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"), d.clientText)
        XCTAssertTrue(d.clientText.contains("Upgrade: websocket\r\n") && d.clientText.contains("Connection: upgrade\r\n"))
        XCTAssertTrue(d.clientText.hasSuffix("\r\n\r\nhello"), "bytes after the 101 are the new protocol's")
        XCTAssertTrue(upstream.receivedText.hasSuffix("early"))
        d.send("more")
        XCTAssertTrue(upstream.receivedText.hasSuffix("earlymore"))
        d.respond(upstream, "bye", close: true)
        XCTAssertTrue(d.clientText.hasSuffix("hellobye"))
        XCTAssertTrue(d.clientClosed, "a tunnel never carries another request")
        XCTAssertTrue(upstream.closed && !upstream.released)
    }

    func testAnIdleTunnelClosesAtTheResponseTimeout() throws {
        let d = try MachineDriver(Self.config)
        d.send(Self.handshake)
        d.respond(d.upstream(0), "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
        d.advance(2_999)
        XCTAssertFalse(d.clientClosed)
        d.send("ping")
        d.advance(2_999)
        XCTAssertFalse(d.clientClosed, "traffic keeps it open")
        d.advance(1)
        XCTAssertTrue(d.clientClosed)
    }

    func testWithoutTheRouteAllowingItTheUpgradeIsDroppedAndA101IsABadGateway() throws {
        let d = try MachineDriver(Self.config)
        d.send("GET /v1/chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        XCTAssertFalse(d.upstream(0).receivedText.lowercased().contains("upgrade"))
        d.respond(d.upstream(0), "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
        XCTAssertEqual(d.responses.first?.status, 502)
        // A protocol the route does not list is not passed either.
        let other = try MachineDriver(Self.config)
        other.send("GET /ws/chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket, h2c\r\n\r\n")
        XCTAssertFalse(other.upstream(0).receivedText.lowercased().contains("upgrade:"))
    }

    func testAnUpstreamThatDeclinesTheUpgradeAnswersNormally() throws {
        let d = try MachineDriver(Self.config)
        d.send(Self.handshake)
        d.respond(d.upstream(0), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        XCTAssertEqual(d.responses.map(\.status), [200])
        if case .idle = d.machine.state {} else { XCTFail("\(d.machine.state)") }
    }
}
