import XCTest
@testable import GatewayCore

/// The breaker in front of the shared store: one probe per interval, backing off with jitter.
final class StoreBreakerTests: XCTestCase {
    func testClosedOpenHalfOpenClosed() {
        var breaker = StoreBreaker(maxIntervalMs: 2000)
        XCTAssertTrue(breaker.allowsCommands)
        breaker.failed(now: 1000, jitter: 0)
        XCTAssertEqual(breaker.state, .open(retryAt: 1100))
        XCTAssertFalse(breaker.allowsCommands)
        XCTAssertFalse(breaker.shouldProbe(now: 1099))
        XCTAssertTrue(breaker.shouldProbe(now: 1100))
        XCTAssertEqual(breaker.state, .halfOpen)
        XCTAssertFalse(breaker.shouldProbe(now: 5000), "one probe at a time")
        XCTAssertFalse(breaker.allowsCommands, "commands still fail at once while the probe runs")
        breaker.succeeded()
        XCTAssertTrue(breaker.allowsCommands)
        XCTAssertEqual(breaker.failures, 0)
    }

    func testIntervalsDoubleUpToTheConfiguredOneWithJitterTakingUpToHalf() {
        var breaker = StoreBreaker(maxIntervalMs: 1000)
        var intervals: [UInt64] = []
        for _ in 0..<6 {
            breaker.failed(now: 0, jitter: 0)
            intervals.append(breaker.intervalMs)
        }
        XCTAssertEqual(intervals, [100, 200, 400, 800, 1000, 1000])
        breaker.failed(now: 0, jitter: 1)
        XCTAssertEqual(breaker.state, .open(retryAt: 500))
        XCTAssertEqual(StoreBreaker(maxIntervalMs: 10).maxIntervalMs, 100)
    }
}
