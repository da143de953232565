import XCTest
@testable import GatewayCore

/// The pure parts of an active health check: the request it writes, the status line it decides
/// by (however the bytes are split), and the tally that turns results in a row into a state.
final class HealthCheckProbeTests: XCTestCase {
    private func probe(_ configure: (inout HealthCheckConfig) -> Void = { _ in }) -> HealthProbe {
        var config = HealthCheckConfig()
        configure(&config)
        return HealthProbe(config: config, host: "10.0.0.1:9000")
    }

    /// Feeds `answer` in pieces of `split` bytes; the step after the last piece that was read.
    private func decide(_ answer: String, split: Int = .max, _ probe: HealthProbe? = nil) -> HealthProbe.Step {
        var p = probe ?? self.probe()
        var step = p.didSend(p.request.count)
        var rest = Array(answer.utf8)[...]
        while case .receive = step, !rest.isEmpty {
            let piece = rest.prefix(split)
            rest = rest.dropFirst(piece.count)
            step = Array(piece).withUnsafeBytes { p.received($0) }
        }
        return step
    }

    func testRequestIsOneCloseDelimitedGET() {
        let p = probe { $0.path = "/status?deep=1" }
        XCTAssertEqual(String(decoding: p.request, as: UTF8.self),
                       "GET /status?deep=1 HTTP/1.1\r\nHost: 10.0.0.1:9000\r\nUser-Agent: gateway-health-check\r\n"
                       + "Accept: */*\r\nConnection: close\r\n\r\n")
    }

    func testSendingResumesWhereTheSocketStopped() {
        var p = probe()
        XCTAssertEqual(p.connected(), .send)
        XCTAssertEqual(p.didSend(10), .send)
        XCTAssertEqual(Array(p.unsent), Array(p.request.dropFirst(10)))
        XCTAssertEqual(p.didSend(p.unsent.count), .receive)
    }

    func testStatusInRangePasses() {
        XCTAssertEqual(decide("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), .finished(.passed(status: 200)))
        XCTAssertEqual(decide("HTTP/1.0 301 Moved\r\n\r\n"), .finished(.passed(status: 301)))
        XCTAssertEqual(decide("HTTP/1.1 204\r\n\r\n"), .finished(.passed(status: 204)), "no reason phrase")
    }

    func testStatusOutsideTheRangeFails() {
        XCTAssertEqual(decide("HTTP/1.1 503 Service Unavailable\r\n\r\n"), .finished(.failed("status 503")))
        XCTAssertEqual(decide("HTTP/1.1 404 Not Found\r\n\r\n"), .finished(.failed("status 404")))
        let strict = probe { $0.statuses = 204...204 }
        XCTAssertEqual(decide("HTTP/1.1 200 OK\r\n\r\n", strict), .finished(.failed("status 200")))
        XCTAssertEqual(decide("HTTP/1.1 204 No Content\r\n\r\n", strict), .finished(.passed(status: 204)))
    }

    func testDecidedWhateverTheSplitOfTheBytes() {
        for split in 1...14 {
            XCTAssertEqual(decide("HTTP/1.1 200 OK\r\n\r\n", split: split), .finished(.passed(status: 200)), "split \(split)")
            XCTAssertEqual(decide("HTTP/1.1 500 Oops\r\n\r\n", split: split), .finished(.failed("status 500")), "split \(split)")
        }
        // A partial status line is not a decision yet.
        XCTAssertEqual(decide("HTTP/1.1 20"), .receive)
    }

    func testGarbageFailsAsSoonAsItIsSeen() {
        XCTAssertEqual(decide("SSH-2.0-OpenSSH"), .finished(.failed("not an HTTP/1.x answer")))
        XCTAssertEqual(decide("H"), .receive)
        XCTAssertEqual(decide("HX"), .finished(.failed("not an HTTP/1.x answer")))
        XCTAssertEqual(decide("HTTP/2.0 200 OK\r\n"), .finished(.failed("not an HTTP/1.x answer")))
        for bad in ["HTTP/1.1 2000 OK\r\n", "HTTP/1.1 20x OK\r\n", "HTTP/1.x 200 OK\r\n", "HTTP/1.1  200 OK\r\n"] {
            XCTAssertEqual(decide(bad), .finished(.failed("malformed status line")), bad)
        }
    }

    func testClosingBeforeTheStatusFails() {
        var p = probe()
        XCTAssertEqual(p.peerClosed(), .finished(.failed("connection closed while sending the check")))
        _ = p.didSend(p.request.count)
        XCTAssertEqual(p.peerClosed(), .finished(.failed("connection closed without an answer")))
        _ = Array("HTTP/1.1".utf8).withUnsafeBytes { p.received($0) }
        XCTAssertEqual(p.peerClosed(), .finished(.failed("connection closed inside the status line")))
    }

    func testTallyTakesFailsInARowToGoDownAndPassesInARowToComeBack() {
        var tally = HealthCheckTally(fails: 3, passes: 2)
        XCTAssertFalse(tally.isDown, "servers start in rotation")
        XCTAssertNil(tally.record(passed: false))
        XCTAssertNil(tally.record(passed: false))
        XCTAssertNil(tally.record(passed: true), "a pass breaks the run of failures")
        XCTAssertNil(tally.record(passed: false))
        XCTAssertNil(tally.record(passed: false))
        XCTAssertEqual(tally.record(passed: false), .wentDown)
        XCTAssertTrue(tally.isDown)
        XCTAssertNil(tally.record(passed: false), "already down")
        XCTAssertNil(tally.record(passed: true))
        XCTAssertNil(tally.record(passed: false), "a failure breaks the run of passes")
        XCTAssertNil(tally.record(passed: true))
        XCTAssertEqual(tally.record(passed: true), .cameUp)
        XCTAssertFalse(tally.isDown)
        XCTAssertNil(tally.record(passed: true))
    }

    func testTallyWithOneOfEachFollowsEveryResult() {
        var tally = HealthCheckTally(fails: 1, passes: 1)
        XCTAssertEqual(tally.record(passed: false), .wentDown)
        XCTAssertEqual(tally.record(passed: true), .cameUp)
        XCTAssertEqual(tally.record(passed: false), .wentDown)
    }
}
