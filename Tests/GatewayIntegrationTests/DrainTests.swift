import Foundation
import XCTest

/// SIGTERM and SIGINT: no new connections, what was received is answered (and its connection
/// closed), the idempotency journal is synced, and the process exits 0; a second signal exits at once.
final class DrainTests: XCTestCase {
    var deployment: Deployment!
    var mockPort: UInt16 = 0

    override func setUpWithError() throws {
        deployment = Deployment()
        mockPort = try deployment.startMock()
    }

    override func tearDown() { deployment.stop() }

    /// Sends `request` on its own thread; the response (or the error) lands in the box.
    private func inFlight(_ request: String) -> ResponseBox {
        let box = ResponseBox()
        let port = deployment.gatewayPort
        Thread {
            do {
                let client = try RawClient(port: port)
                let response = try client.exchange(request)
                box.set(.success((response, client.isClosedByPeer())))
            } catch {
                box.set(.failure(error))
            }
        }.start()
        return box
    }

    /// Waits until the mock has started `count` requests of `path`.
    private func waitForUpstream(_ path: String, count: Int = 1) throws {
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            let stats = try RawClient(port: mockPort).exchange(get("/__mock/stats")).json
            if (stats["paths"] as? [String: Int])?[path] ?? 0 >= count { return }
            usleep(10_000)
        }
        throw HarnessError("the upstream never got \(path)")
    }

    func testARequestInFlightDuringSIGTERMCompletesAndTheGatewayExits0() throws {
        try deployment.startGateway(servers: [mockPort])
        let gateway = try XCTUnwrap(deployment.gateway)
        let idle = try RawClient(port: deployment.gatewayPort)
        XCTAssertEqual(try idle.exchange(get("/v1/sessions/a")).status, 200)
        let slow = inFlight(get("/v1/sessions/a?delay_ms=3000"))
        try waitForUpstream("GET /v1/sessions/a", count: 2)
        let signalled = Date()

        XCTAssertEqual(kill(gateway.pid, SIGTERM), 0)
        try gateway.waitForOutput("SIGTERM: draining")
        XCTAssertTrue(idle.isClosedByPeer(), "an idle kept-alive connection is closed at once")
        XCTAssertThrowsError(try RawClient(port: deployment.gatewayPort), "no new connections")

        let status = gateway.waitForExit(timeout: 10)
        let (response, closed) = try slow.wait().get()
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.header("Connection"), "close")
        XCTAssertTrue(closed)
        XCTAssertEqual(status, 0, gateway.output)
        XCTAssertGreaterThan(Date().timeIntervalSince(signalled), 2, "it waited for the slow answer")
        XCTAssertTrue(gateway.output.contains("drained: every request in flight is answered; exiting"), gateway.output)
    }

    func testTheJournalHoldsAnEntryMadeJustBeforeSIGTERM() throws {
        let journal = NSTemporaryDirectory() + "drain-\(UUID().uuidString).journal"
        defer { try? FileManager.default.removeItem(atPath: journal) }
        // The background fsync would come only after 10 s: the exit's own sync is what counts.
        let idempotency = "idempotency { journal \(journal); fsync interval; fsync_interval 10s; }"
        try deployment.startGateway(servers: [mockPort], extra: idempotency)
        let request = post("/v1/messages/text", body: #"{"to":"+1555","text":"hi"}"#, headers: "Idempotency-Key: last-one\r\n")
        let first = try RawClient(port: deployment.gatewayPort).exchange(request)
        XCTAssertEqual(first.status, 201)
        usleep(10_000)
        let gateway = try XCTUnwrap(deployment.gateway)
        XCTAssertEqual(kill(gateway.pid, SIGINT), 0, "SIGINT drains like SIGTERM")
        XCTAssertEqual(gateway.waitForExit(timeout: 5), 0, gateway.output)

        try deployment.startGateway(servers: [mockPort], extra: idempotency)
        XCTAssertTrue(deployment.gateway?.output.contains("1 entries restored") ?? false, deployment.gateway?.output ?? "")
        let retry = try RawClient(port: deployment.gatewayPort).exchange(request)
        XCTAssertEqual(retry.header("Idempotent-Replayed"), "true")
        XCTAssertEqual(retry.body, first.body)
    }

    func testASecondSIGTERMExitsAtOnce() throws {
        try deployment.startGateway(servers: [mockPort])
        let gateway = try XCTUnwrap(deployment.gateway)
        let slow = inFlight(get("/v1/sessions/a?delay_ms=3000"))
        try waitForUpstream("GET /v1/sessions/a")
        XCTAssertEqual(kill(gateway.pid, SIGTERM), 0)
        try gateway.waitForOutput("SIGTERM: draining")
        let second = Date()
        XCTAssertEqual(kill(gateway.pid, SIGTERM), 0)
        XCTAssertEqual(gateway.waitForExit(timeout: 2), 1, gateway.output)
        // Well before the slow answer (over 2.5 s away), with room for a sanitizer build.
        XCTAssertLessThan(Date().timeIntervalSince(second), 2)
        XCTAssertThrowsError(try slow.wait().get(), "cut off")
    }

    func testShutdownTimeoutEndsTheDrain() throws {
        try deployment.startGateway(servers: [mockPort], extra: "shutdown_timeout 300ms;")
        let gateway = try XCTUnwrap(deployment.gateway)
        let slow = inFlight(get("/v1/sessions/a?delay_ms=3000"))
        try waitForUpstream("GET /v1/sessions/a")
        let signalled = Date()
        XCTAssertEqual(kill(gateway.pid, SIGTERM), 0)
        XCTAssertEqual(gateway.waitForExit(timeout: 3), 0, gateway.output)
        XCTAssertLessThan(Date().timeIntervalSince(signalled), 1.5)
        XCTAssertTrue(gateway.output.contains("shutdown_timeout passed"), gateway.output)
        XCTAssertThrowsError(try slow.wait().get(), "cut off")
    }
}

/// The outcome of a request made on another thread.
final class ResponseBox: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<(WireResponse, Bool), Error>?

    func set(_ result: Result<(WireResponse, Bool), Error>) {
        self.result = result
        done.signal()
    }

    /// The response and whether the gateway closed the connection after it.
    func wait() -> Result<(WireResponse, Bool), Error> {
        guard done.wait(timeout: .now() + 10) == .success, let result else { return .failure(HarnessError("no response in 10 s")) }
        return result
    }
}
