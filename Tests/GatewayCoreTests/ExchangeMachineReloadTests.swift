import XCTest
@testable import GatewayCore

/// A reload and a drain as the machine sees them: a newer environment taken between requests,
/// never during one, and `Connection: close` on every answer once the gateway drains.
final class ExchangeMachineReloadTests: XCTestCase {
    static let before = """
    listen 8080;
    upstream u { server 127.0.0.1:9000; }
    route /v1/ { upstream u; }
    """
    static let after = """
    listen 8080;
    max_header_size 2k;
    max_request_line 1k;
    upstream w { server 127.0.0.1:9100; }
    route /v2/ { upstream w; }
    """
    static let ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    /// Links an environment built from `text` after the machine's newest one, as a loop does at a reload.
    @discardableResult
    func reload(_ d: MachineDriver, to text: String) throws -> ExchangeEnvironment {
        let config = try parseConfig(text)
        let newer = ExchangeEnvironment(config: config, pipeline: RequestPipeline(config: config), seed: 7,
                                        wallClock: { 1_800_000_000_000 }, log: { _, _ in })
        d.machine.environment.newest.supersede(by: newer)
        return newer
    }

    func testAnExchangeInFlightFinishesOnItsConfigurationAndTheNextRequestUsesTheNewOne() throws {
        let d = try MachineDriver(Self.before)
        let old = d.machine.environment
        d.send("GET /v1/a HTTP/1.1\r\nHost: a\r\n\r\n")
        let newer = try reload(d, to: Self.after)
        d.machine.adoptNewestEnvironment()
        XCTAssertTrue(d.machine.environment === old, "never during an exchange")
        d.respond(d.upstream(0), Self.ok)
        XCTAssertEqual(d.responses.map(\.status), [200])
        XCTAssertEqual(d.machine.state, .idle(since: 1_000, fresh: false))

        d.send("GET /v1/a HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(d.responses.map(\.status), [200, 404], "the old route is gone")
        XCTAssertTrue(d.machine.environment === newer)
        d.send("GET /v2/b HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(d.upstreams.count, 2)
        XCTAssertTrue(d.upstream(1).link.server.label.hasSuffix(":9100"), d.upstream(1).link.server.label)
    }

    func testAPipelinedRequestBehindAReloadUsesTheNewConfiguration() throws {
        let d = try MachineDriver(Self.before)
        d.send("GET /v1/one HTTP/1.1\r\nHost: a\r\n\r\nGET /v1/two HTTP/1.1\r\nHost: a\r\n\r\n")
        try reload(d, to: Self.after)
        d.respond(d.upstream(0), Self.ok)
        XCTAssertEqual(d.responses.map(\.status), [200, 404])
        XCTAssertFalse(d.upstream(0).receivedText.contains("/v1/two"))
    }

    func testAnIdleConnectionAdoptsAtOnceAndSkipsToTheNewestOfSeveralReloads() throws {
        let d = try MachineDriver(Self.before)
        d.send("GET /v1/a HTTP/1.1\r\nHost: a\r\n\r\n")
        d.respond(d.upstream(0), Self.ok)
        try reload(d, to: Self.before)
        let newest = try reload(d, to: Self.after)
        d.machine.adoptNewestEnvironment()
        XCTAssertTrue(d.machine.environment === newest)
        // The new head limits apply to the next request (the old ones allowed 8k).
        d.send("GET /v2/\(String(repeating: "x", count: 3000)) HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(d.responses.map(\.status), [200, 414], "max_request_line 1k")
    }

    func testDrainingClosesAKeptAliveConnectionAfterTheAnswerInFlight() throws {
        let d = try MachineDriver(Self.before)
        d.send("GET /v1/a HTTP/1.1\r\nHost: a\r\n\r\n")
        d.machine.beginDraining()
        d.drive()
        XCTAssertFalse(d.clientClosed)
        d.respond(d.upstream(0), Self.ok)
        XCTAssertEqual(d.responses.map(\.status), [200])
        XCTAssertEqual(d.responses.first?.headers["connection"], "close")
        XCTAssertTrue(d.clientClosed)
    }

    func testDrainingEndsAStreamedAnswerThatPromisedKeepAlive() throws {
        let d = try MachineDriver(Self.before)
        d.send("GET /v1/a HTTP/1.1\r\nHost: a\r\n\r\n")
        d.respond(d.upstream(0), "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nok")
        d.machine.beginDraining()
        d.drive()
        XCTAssertFalse(d.clientClosed, "the body is still coming")
        d.respond(d.upstream(0), "ok")
        XCTAssertEqual(d.responses.map(\.body), ["okok"])
        XCTAssertNil(d.responses.first?.headers["connection"], "the head went out before draining began")
        XCTAssertTrue(d.clientClosed)
    }

    func testDrainingClosesAnIdleConnection() throws {
        let d = try MachineDriver(Self.before)
        d.send("GET /v1/a HTTP/1.1\r\nHost: a\r\n\r\n")
        d.respond(d.upstream(0), Self.ok)
        XCTAssertFalse(d.clientClosed)
        d.machine.beginDraining()
        d.drive()
        XCTAssertTrue(d.clientClosed)
        XCTAssertEqual(d.responses.count, 1)
    }

    func testDrainingAnswersARequestThatArrivedUnread() throws {
        let d = try MachineDriver(Self.before)
        d.arrive("GET /v1/a HTTP/1.1\r\nHost: a\r\n\r\n")
        d.machine.beginDraining()
        d.drive()
        XCTAssertFalse(d.clientClosed)
        d.respond(d.upstream(0), Self.ok)
        XCTAssertEqual(d.responses.map(\.status), [200])
        XCTAssertEqual(d.responses.first?.headers["connection"], "close")
        XCTAssertTrue(d.clientClosed)
    }
}
