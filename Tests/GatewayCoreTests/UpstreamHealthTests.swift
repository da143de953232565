import Dispatch
import XCTest
@testable import GatewayCore

/// The health every loop shares: a failure counted by one loop's balancer ejects the server for
/// every other loop, recovery after fail_timeout, active checks overriding passive health, and
/// the read side for metrics and readiness.
final class UpstreamHealthTests: XCTestCase {
    private func group(_ servers: [UpstreamServer], checks: Bool = false) -> UpstreamHealth {
        var config = UpstreamConfig(name: "m", servers: servers)
        if checks { config.healthCheck = HealthCheckConfig() }
        return UpstreamHealth(config: config)
    }

    private func server(_ port: UInt16, maxFails: Int = 1, failTimeoutMs: Int64 = 1_000) -> UpstreamServer {
        UpstreamServer(host: "10.0.0.1", port: port, maxFails: maxFails, failTimeoutMs: failTimeoutMs)
    }

    /// Ports picked by `count` successive picks.
    private func picks(_ balancer: UpstreamBalancer, _ count: Int, now: UInt64 = 0) -> [UInt16] {
        (0..<count).compactMap { _ in balancer.pick(now: now, excluding: 0)?.config.port }
    }

    func testAnEjectionByOneLoopHoldsForAnother() {
        let health = group([server(1, maxFails: 2), server(2)])
        let loopA = UpstreamBalancer(health: health), loopB = UpstreamBalancer(health: health)
        XCTAssertFalse(loopA.reportFailure(loopA.servers[0], now: 100))
        // The second failure in a row, counted by another loop, reaches max_fails=2.
        XCTAssertTrue(loopB.reportFailure(loopB.servers[0], now: 100))
        XCTAssertEqual(picks(loopA, 4, now: 200), [2, 2, 2, 2])
        XCTAssertEqual(picks(loopB, 4, now: 200), [2, 2, 2, 2])
        XCTAssertFalse(loopA.hasCandidate(now: 200, excluding: loopA.servers[1].triedBit))
    }

    func testEjectionEndsAfterFailTimeoutForEveryLoop() {
        let health = group([server(1, failTimeoutMs: 1_000), server(2)])
        let loopA = UpstreamBalancer(health: health), loopB = UpstreamBalancer(health: health)
        XCTAssertTrue(loopA.reportFailure(loopA.servers[0], now: 5_000))
        XCTAssertFalse(health.servers[0].isAvailable(now: 5_999))
        XCTAssertTrue(health.servers[0].isAvailable(now: 6_000))
        XCTAssertEqual(Set(picks(loopB, 2, now: 6_000)), [1, 2])
        // After the ejection max_fails starts over: one more failure ejects again (max_fails=1).
        XCTAssertTrue(loopB.reportFailure(loopB.servers[0], now: 6_000))
    }

    func testASuccessFromAnyLoopEndsTheFailuresInARow() {
        let health = group([server(1, maxFails: 2), server(2)])
        let loopA = UpstreamBalancer(health: health), loopB = UpstreamBalancer(health: health)
        XCTAssertFalse(loopA.reportFailure(loopA.servers[0], now: 0))
        loopB.reportSuccess(loopB.servers[0])
        XCTAssertFalse(loopA.reportFailure(loopA.servers[0], now: 0), "the count started over")
        XCTAssertEqual(health.servers[0].snapshot(now: 0).consecutiveFailures, 1)
    }

    func testFailuresOfRequestsUnderWayWhenEjectedCountForNothing() {
        let health = group([server(1), server(2)])
        let loop = UpstreamBalancer(health: health)
        XCTAssertTrue(loop.reportFailure(loop.servers[0], now: 0))
        XCTAssertFalse(loop.reportFailure(loop.servers[0], now: 10), "already out: not ejected again, not logged again")
        XCTAssertEqual(health.servers[0].snapshot(now: 10).consecutiveFailures, 0)
        XCTAssertEqual(health.servers[0].snapshot(now: 10).ejectedForMs, 990, "the ejection was not extended")
    }

    func testManyLoopsFailingAtOnceEjectExactlyOnce() {
        let health = group([server(1, maxFails: 3, failTimeoutMs: 60_000), server(2)])
        let ejections = Counter()
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            let loop = UpstreamBalancer(health: health)
            for _ in 0..<1_000 where loop.reportFailure(loop.servers[0], now: 1) { ejections.add() }
        }
        XCTAssertEqual(ejections.value, 1)
        XCTAssertFalse(health.servers[0].isAvailable(now: 2))
    }

    func testAGroupsOnlyServerIsNeverEjectedByPassiveHealth() {
        let health = group([server(1)])
        let loop = UpstreamBalancer(health: health)
        for _ in 0..<5 { XCTAssertFalse(loop.reportFailure(loop.servers[0], now: 0)) }
        XCTAssertEqual(picks(loop, 1), [1])
        // max_fails=0 never ejects either.
        let never = group([server(1, maxFails: 0), server(2)])
        XCTAssertFalse(UpstreamBalancer(health: never).reportFailure(UpstreamBalancer(health: never).servers[0], now: 0))
    }

    func testFailingChecksOverridePassiveHealth() {
        let health = group([server(1), server(2)], checks: true)
        let loop = UpstreamBalancer(health: health)
        // Passive health has nothing against server 1, the checks do: it is not picked.
        health.servers[0].setFailingChecks(true)
        XCTAssertEqual(picks(loop, 4), [2, 2, 2, 2])
        XCTAssertEqual(health.servers[0].snapshot(now: 0).state, .failingChecks)
        // Even a group's only server is taken out by its checks: nothing is left to pick.
        let only = group([server(1)], checks: true)
        only.servers[0].setFailingChecks(true)
        XCTAssertNil(UpstreamBalancer(health: only).pick(now: 0, excluding: 0))
        XCTAssertFalse(only.hasHealthyServer(now: 0))
    }

    func testPassingChecksAgainClearPassiveEjection() {
        let health = group([server(1, failTimeoutMs: 60_000), server(2)], checks: true)
        let loop = UpstreamBalancer(health: health)
        XCTAssertTrue(loop.reportFailure(loop.servers[0], now: 0))
        health.servers[0].setFailingChecks(true)
        health.servers[0].setFailingChecks(false)
        XCTAssertTrue(health.servers[0].isAvailable(now: 1), "back in rotation once its checks pass again")
        XCTAssertEqual(Set(picks(loop, 2, now: 1)), [1, 2])
    }

    func testPassiveEjectionStillAppliesBetweenPassingChecks() {
        let health = group([server(1), server(2)], checks: true)
        let loop = UpstreamBalancer(health: health)
        XCTAssertTrue(loop.reportFailure(loop.servers[0], now: 0))
        XCTAssertEqual(health.servers[0].snapshot(now: 0).state, .ejected)
        XCTAssertEqual(picks(loop, 3, now: 10), [2, 2, 2])
    }

    func testRoundRobinWeightsStayPerLoop() {
        let health = group([server(1), server(2)])
        let loopA = UpstreamBalancer(health: health), loopB = UpstreamBalancer(health: health)
        XCTAssertEqual(picks(loopA, 1), [1])
        // Another loop's pick does not move this loop's rotation.
        XCTAssertEqual(picks(loopB, 4), [1, 2, 1, 2])
        XCTAssertEqual(picks(loopA, 3), [2, 1, 2])
    }

    func testTableReadsForMetricsAndReadiness() {
        let a = group([server(1), server(2)])
        var config = UpstreamConfig(name: "other", servers: [UpstreamServer(host: "backend.internal", port: 80)])
        config.healthCheck = HealthCheckConfig()
        let b = UpstreamHealth(config: config, members: [(config.servers[0], "10.0.0.9:80")])
        let table = UpstreamHealthTable(groups: [a, b])
        XCTAssertTrue(table.everyUpstreamHasHealthyServer(now: 0))
        XCTAssertTrue(a.servers[0].reportFailure(now: 0))
        XCTAssertTrue(table.everyUpstreamHasHealthyServer(now: 0), "m still has server 2")
        b.servers[0].setFailingChecks(true)
        XCTAssertFalse(table.everyUpstreamHasHealthyServer(now: 0))
        XCTAssertEqual(table.snapshot(now: 400), [
            ServerHealthSnapshot(upstream: "m", server: "10.0.0.1:1", address: "10.0.0.1:1", state: .ejected,
                                 consecutiveFailures: 0, ejectedForMs: 600),
            ServerHealthSnapshot(upstream: "m", server: "10.0.0.1:2", address: "10.0.0.1:2", state: .up,
                                 consecutiveFailures: 0, ejectedForMs: 0),
            ServerHealthSnapshot(upstream: "other", server: "backend.internal:80", address: "10.0.0.9:80", state: .failingChecks,
                                 consecutiveFailures: 0, ejectedForMs: 0),
        ])
        XCTAssertEqual(b.servers[0].label, "backend.internal:80 (10.0.0.9:80)")
    }
}

/// A counter several threads add to.
private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}
