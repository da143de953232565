import Foundation
import XCTest

/// SIGHUP and `gateway --reload`: a new configuration is read, checked and switched to while
/// traffic flows, and a broken one changes nothing.
final class ReloadTests: XCTestCase {
    var deployment: Deployment!
    var mockPort: UInt16 = 0

    override func setUpWithError() throws {
        deployment = Deployment()
        mockPort = try deployment.startMock()
    }

    override func tearDown() { deployment.stop() }

    private func config(keys: [String], plan: String = "rate 100000/s", extra: String = "") -> String {
        let lines = keys.map { "key plain:\($0) { plan p; }" }.joined(separator: "\n")
        return """
        upstream messaging { server 127.0.0.1:\(mockPort); }
        route /v1/ { upstream messaging; auth required; }
        plan p { \(plan); }
        \(lines)
        \(extra)
        """
    }

    private func status(_ key: String, on client: RawClient? = nil) throws -> Int {
        let request = get("/v1/sessions/demo", headers: "X-API-Key: \(key)\r\n")
        return try (client ?? RawClient(port: deployment.gatewayPort)).exchange(request).status
    }

    func testTwentyReloadsUnderSteadyTrafficLoseNoRequest() throws {
        let extraPort = freePort()
        // Every other reload adds a key, a route, a listen address, a second upstream group and other
        // pool and client limits, and the next one takes them away again.
        let plain = config(keys: ["alpha"])
        let busy = config(keys: ["zeta", "alpha"], extra: """
        listen 127.0.0.1:\(extraPort);
        keepalive_timeout 30s;
        upstream other { server 127.0.0.1:\(mockPort); keepalive 4; }
        route /v2/ { upstream other; }
        """)
        try deployment.startGateway(plain)
        let port = deployment.gatewayPort
        let traffic = Traffic()
        let keptAlive = Thread {
            guard let client = try? RawClient(port: port) else { return traffic.failed("keep-alive connect") }
            while !traffic.stopping {
                do {
                    let response = try client.exchange(get("/v1/sessions/demo", headers: "X-API-Key: alpha\r\n"))
                    response.status == 200 ? traffic.succeeded() : traffic.failed("keep-alive: \(response.status) \(response.text)")
                } catch {
                    return traffic.failed("keep-alive: \(error)")
                }
            }
        }
        let fresh = Thread {
            while !traffic.stopping {
                do {
                    let body = #"{"to":"+1555","text":"hi"}"#
                    let response = try RawClient(port: port).exchange(post("/v1/messages/text", body: body,
                                                                           headers: "X-API-Key: alpha\r\nConnection: close\r\n"))
                    response.status == 201 ? traffic.succeeded() : traffic.failed("new connection: \(response.status) \(response.text)")
                } catch {
                    traffic.failed("new connection: \(error)")
                }
            }
        }
        keptAlive.start()
        fresh.start()
        for round in 1...20 {
            try deployment.writeConfig(round % 2 == 1 ? busy : plain)
            let outcome = try deployment.reload()
            XCTAssertTrue(outcome.contains("(generation \(round + 1))"), outcome)
            if round % 2 == 1 { XCTAssertEqual(try status("zeta"), 200, "round \(round)") }
            usleep(50_000)
        }
        traffic.stop()
        while keptAlive.isExecuting || fresh.isExecuting { usleep(5_000) }
        XCTAssertEqual(traffic.failures, [], "\(traffic.failures.count) of \(traffic.total) requests failed")
        XCTAssertGreaterThan(traffic.total, 100)
        XCTAssertEqual(listeningSockets(port: port), 2, "the first address kept its two workers' sockets throughout")
        XCTAssertEqual(listeningSockets(port: extraPort), 0, "the address the last reload dropped is closed")
        XCTAssertThrowsError(try RawClient(port: extraPort))
    }

    func testAKeyAddedToTheFileIsAcceptedAfterGatewayReload() throws {
        let pid = NSTemporaryDirectory() + "gateway-\(UUID().uuidString).pid"
        defer { try? FileManager.default.removeItem(atPath: pid) }
        try deployment.startGateway(config(keys: ["alpha"], extra: "pid \(pid);"))
        XCTAssertEqual(try String(contentsOfFile: pid, encoding: .utf8), "\(deployment.gateway?.pid ?? 0)\n")
        let keptAlive = try RawClient(port: deployment.gatewayPort)
        XCTAssertEqual(try status("alpha", on: keptAlive), 200)
        XCTAssertEqual(try status("beta"), 401)

        try deployment.writeConfig(config(keys: ["alpha", "beta"], extra: "pid \(pid);"))
        let before = deployment.outcomes(deployment.gateway?.output ?? "").count
        let command = try runGateway(["--reload", "--config", deployment.configPath])
        XCTAssertEqual(command.exitStatus, 0, command.stderr)
        XCTAssertTrue(command.stdout.contains("asked process \(deployment.gateway?.pid ?? 0) to reload"), command.stdout)
        XCTAssertTrue(try deployment.waitForReloadOutcome(after: before).contains("2 key(s)"))
        XCTAssertEqual(try status("beta"), 200)
        XCTAssertEqual(try status("beta", on: keptAlive), 200, "a kept-alive connection's next request uses the new keys")

        // A file with an error is reported by the command itself, and nothing is signalled.
        try deployment.writeConfig(config(keys: ["alpha"], extra: "pid \(pid);\nlisten_backlog 5;"))
        let refused = try runGateway(["--reload", "--config", deployment.configPath])
        XCTAssertEqual(refused.exitStatus, 1)
        XCTAssertTrue(refused.stderr.contains("\(deployment.configPath):"), refused.stderr)
        usleep(200_000)
        XCTAssertEqual(deployment.outcomes(deployment.gateway?.output ?? "").count, before + 1)
        XCTAssertEqual(try status("beta"), 200)

        deployment.gateway?.stop()
        XCTAssertEqual(deployment.gateway?.process.terminationStatus, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: pid), "a drained gateway removes its pid file")
    }

    func testABrokenConfigurationIsLoggedWithItsLocationAndTheRunningOneKeepsServing() throws {
        try deployment.startGateway(config(keys: ["alpha"]))
        let keptAlive = try RawClient(port: deployment.gatewayPort)
        XCTAssertEqual(try status("alpha", on: keptAlive), 200)

        try deployment.writeConfig(config(keys: ["alpha", "beta"]) + "\nroute /v2/ {\n    upstream nowhere;\n}\n")
        let failed = try deployment.reload()
        XCTAssertTrue(failed.contains("reload failed, still running generation 1: \(deployment.configPath):"), failed)
        XCTAssertTrue(failed.contains("no upstream named 'nowhere'"), failed)
        let lines = try String(contentsOfFile: deployment.configPath, encoding: .utf8).components(separatedBy: "\n")
        let line = try XCTUnwrap(lines.firstIndex { $0.contains("upstream nowhere") })
        let column = try XCTUnwrap(lines[line].range(of: "nowhere")).lowerBound.utf16Offset(in: lines[line])
        XCTAssertTrue(failed.contains("\(deployment.configPath):\(line + 1):\(column + 1): "), "file:line:column: \(failed)")
        XCTAssertEqual(try status("alpha", on: keptAlive), 200)
        XCTAssertEqual(try status("alpha"), 200)
        XCTAssertEqual(try status("beta"), 401, "nothing of the refused file was applied")

        // An address that cannot be bound fails the reload too, before anything changed.
        let takenPort = freePort()
        let taken = try occupy(takenPort)
        defer { close(taken) }
        try deployment.writeConfig(config(keys: ["alpha", "beta"], extra: "listen 127.0.0.1:\(takenPort);"))
        XCTAssertTrue(try deployment.reload().contains("Address already in use"))
        XCTAssertEqual(try status("beta"), 401)

        try deployment.writeConfig(config(keys: ["alpha", "beta"]))
        XCTAssertTrue(try deployment.reload().contains("(generation 2)"), "failures do not count as generations")
        XCTAssertEqual(try status("beta"), 200)
    }

    func testBucketsSurviveAReloadAndAreDroppedWithTheirKey() throws {
        // Two requests a minute: nothing refills while the test runs.
        try deployment.startGateway(config(keys: ["alpha"], plan: "rate 2/m burst 2"))
        XCTAssertEqual(try status("alpha"), 200)
        XCTAssertEqual(try status("alpha"), 200)
        XCTAssertEqual(try status("alpha"), 429)

        // Another key in front moves alpha to a new position: its bucket moves with it.
        try deployment.writeConfig(config(keys: ["beta", "alpha"], plan: "rate 2/m burst 2"))
        try deployment.reload()
        XCTAssertEqual(try status("alpha"), 429, "still at its limit right after the reload")
        XCTAssertEqual(try status("beta"), 200)

        try deployment.writeConfig(config(keys: ["beta"], plan: "rate 2/m burst 2"))
        try deployment.reload()
        XCTAssertEqual(try status("alpha"), 401)
        try deployment.writeConfig(config(keys: ["beta", "alpha"], plan: "rate 2/m burst 2"))
        try deployment.reload()
        XCTAssertEqual(try status("alpha"), 200, "removing the key dropped its empty bucket")
    }

    func testIdleUpstreamConnectionsToServersThatStayAreKept() throws {
        let keepAlive: @Sendable (ScriptedConnection) -> Void = { connection in
            while connection.readHead() { connection.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") }
            connection.close()
        }
        let first = try ScriptedUpstream(script: keepAlive), second = try ScriptedUpstream(script: keepAlive)
        func body(_ servers: [UInt16], route: String = "/v1/") -> String {
            "upstream u { \(servers.map { "server 127.0.0.1:\($0);" }.joined(separator: " ")) }\nroute \(route) { upstream u; }\n"
        }
        try deployment.startGateway(body([first.port]), workers: 1)
        let client = try RawClient(port: deployment.gatewayPort)
        XCTAssertEqual(try client.exchange(get("/v1/a")).status, 200)
        XCTAssertEqual(first.accepted, 1)

        // Another route, and a second server in the group: the first server's idle connection stays.
        try deployment.writeConfig(body([second.port, first.port], route: "/v2/") + "route /v1/ { upstream u; }", workers: 1)
        try deployment.reload()
        for _ in 0..<4 { XCTAssertEqual(try client.exchange(get("/v1/a")).status, 200) }
        XCTAssertEqual(first.accepted, 1, "the pooled connection moved to the new configuration")
        XCTAssertEqual(second.accepted, 1)
    }

    func testAChangeOfWorkersIsLoggedAsNeedingARestartAndTheRestApplies() throws {
        try deployment.startGateway(config(keys: ["alpha"]), workers: 2)
        try deployment.writeConfig(config(keys: ["alpha", "beta"]), workers: 3)
        XCTAssertTrue(try deployment.reload().contains("(generation 2)"))
        let output = deployment.gateway?.output ?? ""
        XCTAssertTrue(output.contains("'workers' changed to 3; changing the number of workers needs a restart, keeping 2"), output)
        XCTAssertEqual(listeningSockets(port: deployment.gatewayPort), 2)
        XCTAssertEqual(try status("beta"), 200)
    }
}

/// Counts what the traffic threads of a test saw.
final class Traffic: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    private var problems: [String] = []
    private var stopped = false

    var stopping: Bool { lock.withLock { stopped } }
    var total: Int { lock.withLock { count } }
    var failures: [String] { lock.withLock { problems } }

    func stop() { lock.withLock { stopped = true } }
    func succeeded() { lock.withLock { count += 1 } }

    func failed(_ what: String) {
        lock.withLock {
            count += 1
            problems.append(what)
        }
    }
}
