import Foundation
import XCTest

/// Slow and greedy clients: slowloris heads, slow bodies, clients that never read, thousands of idle
/// keep-alive connections, and running out of descriptors. Each attack is bounded by its timeout, and
/// a well-behaved client beside it keeps being served fast.
final class SlowClientTests: XCTestCase {
    var deployment: Deployment!
    var mock: UInt16 = 0

    override func setUpWithError() throws {
        deployment = Deployment()
        mock = try deployment.startMock()
        try deployment.startGateway(servers: [mock],
                                    extra: "client_header_timeout 1s; client_body_timeout 500ms; send_timeout 1s;")
    }

    override func tearDown() { deployment.stop() }

    var gatewayPID: Int32 { deployment.gateway!.pid }

    func testSlowlorisHeadersTrickledGet408WithinTheHeaderTimeout() throws {
        let probe = LatencyProbe(port: deployment.gatewayPort)
        // Five slowloris connections at once, one byte per 100 ms each.
        let request = Array("GET /v1/sessions/slow HTTP/1.1\r\nHost: t\r\nX-Pad: \(String(repeating: "a", count: 100))\r\n\r\n".utf8)
        let clients = try (0..<5).map { _ in try RawClient(port: deployment.gatewayPort, timeout: 3) }
        let started = Date()
        var sent = 0
        var answered = Set<Int>()
        var answeredAt: [Int: TimeInterval] = [:]
        while answered.count < clients.count && Date().timeIntervalSince(started) < 5 && sent < request.count {
            for (i, client) in clients.enumerated() where !answered.contains(i) {
                if waitReadable(client.fd, timeoutMs: 0) {
                    answered.insert(i)
                    answeredAt[i] = Date().timeIntervalSince(started)
                } else {
                    try client.send([request[sent]])
                }
            }
            sent += 1
            usleep(100_000)
        }
        XCTAssertLessThan(sent, request.count, "the whole head was sent: the test did not trickle long enough")
        for (i, client) in clients.enumerated() {
            let response = try client.readResponse()
            assertEnvelope(response, status: 408, code: "request_timeout", retryAfter: false, "slowloris \(i)")
            XCTAssertTrue(client.readUntilClose().closed, "slowloris \(i): connection closed after the 408")
            let at = try XCTUnwrap(answeredAt[i], "slowloris \(i) was not answered while trickling")
            XCTAssertGreaterThanOrEqual(at, 0.9, "slowloris \(i) answered before the 1 s header timeout")
            XCTAssertLessThan(at, 1.6, "slowloris \(i) answered too late")
        }
        let report = probe.stop()
        print("slowloris: concurrent client \(report)")
        LatencyProbe.assertHealthy(report)
    }

    func testSlowBodyGets408AfterTheBodyTimeoutButASteadyOneIsServed() throws {
        let probe = LatencyProbe(port: deployment.gatewayPort)
        // Stalls: 10 of 100 bytes, then nothing.
        let stalled = try RawClient(port: deployment.gatewayPort, timeout: 3)
        try stalled.send("POST /v1/upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123456789")
        let started = Date()
        let response = try stalled.readResponse()
        let elapsed = Date().timeIntervalSince(started)
        assertEnvelope(response, status: 408, code: "request_timeout", retryAfter: false, "stalled body")
        XCTAssertTrue(stalled.readUntilClose().closed, "closed after the 408")
        XCTAssertGreaterThanOrEqual(elapsed, 0.45, "408 before the 500 ms body timeout")
        XCTAssertLessThan(elapsed, 1.2, "408 long after the 500 ms body timeout")

        // Slow but steady: a gap of 250 ms between pieces, 1.5 s in all, is not a timeout (it is per gap).
        let steady = try RawClient(port: deployment.gatewayPort, timeout: 5)
        try steady.send("POST /v1/upload HTTP/1.1\r\nHost: t\r\nContent-Length: 60\r\n\r\n")
        for _ in 0..<6 {
            usleep(250_000)
            try steady.send("0123456789")
        }
        let ok = try steady.readResponse()
        XCTAssertEqual(ok.status, 200, ok.text)
        XCTAssertEqual((ok.json["received"] as? NSNumber)?.intValue, 60)
        let report = probe.stop()
        print("slow body: concurrent client \(report)")
        LatencyProbe.assertHealthy(report)
    }

    func testClientThatNeverReadsALargeResponseIsCutOffAndMemoryStaysBounded() throws {
        let rssBefore = residentKiB(pid: gatewayPID)
        let probe = LatencyProbe(port: deployment.gatewayPort)
        let client = try RawClient(port: deployment.gatewayPort, timeout: 3)
        var small: Int32 = 16 * 1024
        setsockopt(client.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        let port = localPort(of: client.fd)
        // 1 GiB: without backpressure the gateway would buffer it all.
        try client.send(get("/v1/bytes/1073741824"))
        let started = Date()
        var peakRSS = rssBefore
        var closedAfter: TimeInterval?
        while Date().timeIntervalSince(started) < 4 {
            peakRSS = max(peakRSS, residentKiB(pid: gatewayPID))
            // The gateway's side of this connection leaves ESTABLISHED when it gives up on the client.
            if tcpState(localPort: deployment.gatewayPort, remotePort: port) != "01" {
                closedAfter = Date().timeIntervalSince(started)
                break
            }
            usleep(50_000)
        }
        let cutOff = try XCTUnwrap(closedAfter, "the gateway did not close a client that reads nothing within 4 s")
        XCTAssertGreaterThanOrEqual(cutOff, 0.9, "closed before send_timeout (1 s) passed")
        XCTAssertLessThan(cutOff, 2.5, "closed long after send_timeout (1 s)")
        // What did reach the client is a prefix of the response, never all of it.
        client.setTimeout(2)
        let received = client.readUntilClose()
        XCTAssertTrue(received.closed)
        XCTAssertLessThan(received.bytes.count, 64 << 20, "far less than the 1 GiB body can have been sent")
        XCTAssertTrue(String(decoding: received.bytes.prefix(12), as: UTF8.self).hasPrefix("HTTP/1.1 200"))
        let growthMiB = Double(peakRSS - rssBefore) / 1024
        print(String(format: "slow reader: cut off after %.2f s, %d bytes delivered, gateway RSS %d -> peak %d KiB (+%.1f MiB)",
                     cutOff, received.bytes.count, rssBefore, peakRSS, growthMiB))
        XCTAssertLessThan(growthMiB, 32, "the gateway's RSS ballooned while a client did not read")
        // The upstream connection of that download was dropped too (nothing left streaming).
        XCTAssertTrue(eventually(timeout: 3) { establishedConnections(toPort: mock) <= 2 },
                      "upstream connections left: \(establishedConnections(toPort: mock))")
        let report = probe.stop()
        print("slow reader: concurrent client \(report)")
        LatencyProbe.assertHealthy(report)
    }

    func testTwoThousandIdleKeepAliveConnectionsDoNotSlowANormalRequest() throws {
        let count = 2000
        var clients: [RawClient] = []
        clients.reserveCapacity(count)
        let fdsBefore = openDescriptors(pid: gatewayPID)
        // Each connection is served one (locally answered) request, then stays open and idle.
        for _ in 0..<count {
            let client = try RawClient(port: deployment.gatewayPort, timeout: 5)
            try client.send(get("/idle"))
            clients.append(client)
        }
        for (i, client) in clients.enumerated() {
            let response = try client.readResponse()
            if response.status != 404 { XCTFail("idle connection \(i): \(response.status)"); break }
            XCTAssertNotEqual(response.header("Connection")?.lowercased(), "close")
        }
        XCTAssertGreaterThanOrEqual(openDescriptors(pid: gatewayPID) - fdsBefore, count, "the gateway holds every connection")
        // A normal request on a fresh connection is still fast.
        var latencies: [Double] = []
        for i in 0..<10 {
            let started = Date()
            let response = try RawClient(port: deployment.gatewayPort, timeout: 3)
                .exchange(get("/v1/sessions/n\(i)", headers: "Connection: close\r\n"))
            latencies.append(Date().timeIntervalSince(started) * 1000)
            XCTAssertEqual(response.status, 200)
        }
        latencies.sort()
        print(String(format: "2000 idle connections: fresh-connection GET median %.1f ms, max %.1f ms", latencies[5], latencies[9]))
        XCTAssertLessThan(latencies[5], 200, "median latency with 2000 idle connections")
        // The idle connections themselves are still usable.
        for i in stride(from: 0, to: count, by: 199) {
            XCTAssertEqual(try clients[i].exchange(get("/v1/sessions/idle\(i)")).status, 200, "idle connection \(i)")
        }
        clients.removeAll()
        XCTAssertTrue(eventually(timeout: 5) { openDescriptors(pid: gatewayPID) <= fdsBefore + 4 },
                      "descriptors after the idle clients left: \(openDescriptors(pid: gatewayPID)) (before: \(fdsBefore))")
    }

    /// Out of descriptors: accepts pause (logged once), existing connections are served, and once
    /// descriptors are free again new connections are accepted, including the ones that waited.
    func testDescriptorExhaustionPausesAcceptsAndRecovers() throws {
        let port = freePort()
        let config = try temporaryConfig("""
        listen 127.0.0.1:\(port);
        workers 1;
        upstream messaging { server 127.0.0.1:\(mock) max_fails=0; keepalive 4; }
        route /v1/ { upstream messaging; }
        """)
        defer { try? FileManager.default.removeItem(atPath: config) }
        // prlimit execs the gateway: soft and hard limit 64, so raising soft to hard gains nothing.
        let gateway = try ChildProcess("/usr/bin/prlimit", ["--nofile=64:64", Binaries.gateway, "--config", config])
        defer { gateway.stop() }
        try gateway.waitForOutput("listening")
        let first = try RawClient(port: port, timeout: 3)
        XCTAssertEqual(try first.exchange(get("/v1/sessions/first")).status, 200, "warm the upstream pool")

        var served: [RawClient] = [first]
        var waiting: [RawClient] = []
        for _ in 0..<100 {
            let client = try RawClient(port: port, timeout: 0.3)
            try client.send(get("/local"))
            if (try? client.readResponse())?.status == 404 {
                served.append(client)
            } else {
                waiting.append(client)
                if waiting.count == 3 { break }
            }
        }
        XCTAssertEqual(waiting.count, 3, "accepts never failed: \(served.count) connections served under a 64-descriptor limit")
        XCTAssertGreaterThan(served.count, 30, "too few connections accepted before the limit")
        usleep(500_000)  // several 100 ms pause/retry rounds
        let warnings = gateway.output.components(separatedBy: "pausing accepts").count - 1
        XCTAssertEqual(warnings, 1, "the condition is logged exactly once:\n\(gateway.output)")

        // Existing connections are still served, through the pooled upstream connection and locally.
        XCTAssertEqual(try first.exchange(get("/v1/sessions/during")).status, 200)
        XCTAssertEqual(try served[served.count / 2].exchange(get("/local")).status, 404)

        // Free some descriptors: the waiting connections are accepted and answered, new ones too.
        served.removeLast(10)
        for (i, client) in waiting.enumerated() {
            client.setTimeout(3)
            XCTAssertEqual(try client.readResponse().status, 404, "waiting connection \(i) after descriptors were freed")
        }
        let fresh = try RawClient(port: port, timeout: 3)
        XCTAssertEqual(try fresh.exchange(get("/v1/sessions/after")).status, 200)
        XCTAssertEqual(gateway.output.components(separatedBy: "pausing accepts").count - 1, 1, "still logged once")
    }
}
