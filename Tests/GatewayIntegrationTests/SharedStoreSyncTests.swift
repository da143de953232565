import Foundation
import XCTest

/// `store_sync local_burst=5` over three gateways of two workers each sharing one Redis: a key
/// pushed far past its rate stays within burst + rate x elapsed + 5 x workers x instances, and a
/// key with room to spare is mostly admitted without a round trip.
final class SharedStoreSyncTests: XCTestCase {
    private var fleet: Fleet!
    private let localBurst = 5, workers = 2, instances = 3

    override func setUpWithError() throws {
        _ = try RedisServer.binary()
        fleet = try Fleet(admin: true) { mock in
            """
            store_sync local_burst=5;
            plan paced { rate 20/s burst 10; }
            plan roomy { rate 100000/s burst 10000; }
            key plain:k-paced { plan paced; }
            key plain:k-roomy { plan roomy; }
            upstream messaging { server 127.0.0.1:\(mock); response_timeout 5s; }
            route /v1/ { upstream messaging; auth required; }
            """
        }
    }

    override func tearDown() { fleet?.stop() }

    /// Script calls Redis has run since the last `CONFIG RESETSTAT`.
    private func scriptCalls() throws -> Int {
        guard case .bulk(let info) = try fleet.redis.command(["INFO", "commandstats"]) else { throw HarnessError("no INFO") }
        return String(decoding: info, as: UTF8.self).split(whereSeparator: \.isNewline).reduce(0) { total, line in
            guard line.hasPrefix("cmdstat_evalsha:") || line.hasPrefix("cmdstat_eval:"),
                  let calls = line.split(separator: ",").first?.split(separator: "=").last else { return total }
            return total + (Int(calls) ?? 0)
        }
    }

    private func localAdmissions() throws -> Int {
        try fleet.adminPorts.reduce(0) { $0 + Int(try Scrape.take(adminPort: $1)["gateway_store_local_admissions_total"] ?? -1_000_000) }
    }

    private func load(key: String, clients: Int, perSecond: Double, seconds: Double) -> (statuses: [Int], elapsed: Double) {
        let (outcomes, elapsed) = fleet.paced(key: key, clients: clients, perSecond: perSecond, seconds: seconds)
        return (outcomes.map(\.status), elapsed)
    }

    func testAKeyPastItsRateStaysWithinTheBoundThatLocalBurstsAdd() throws {
        try fleet.redis.command(["CONFIG", "RESETSTAT"])
        // 8 clients x 25 requests a second: 10x the key's 20/s.
        let (statuses, elapsed) = load(key: "k-paced", clients: 8, perSecond: 25, seconds: 4)
        let admitted = statuses.filter { $0 == 200 }.count
        let other = statuses.filter { $0 != 200 && $0 != 429 }
        let ceiling = 10 + Int(20 * elapsed) + localBurst * workers * instances
        XCTAssertTrue(other.isEmpty, "only 200 and 429 expected, got \(other)")
        XCTAssertLessThanOrEqual(admitted, ceiling, "admitted \(admitted) in \(elapsed) s: more than burst + rate x elapsed + N x loops")
        XCTAssertGreaterThanOrEqual(admitted, Int(20 * elapsed * 0.7), "the key got far less than its rate: \(admitted) in \(elapsed) s")
        XCTAssertGreaterThan(statuses.count - admitted, admitted, "the load was 10x the rate")
        let calls = try scriptCalls(), local = try localAdmissions()
        XCTAssertGreaterThan(local, 0, "the burst at the start leaves room for local admissions")
        XCTAssertLessThan(calls, statuses.count, "\(calls) script calls for \(statuses.count) requests")
    }

    func testAKeyWithRoomToSpareIsMostlyAdmittedWithoutARoundTrip() throws {
        try fleet.redis.command(["CONFIG", "RESETSTAT"])
        let before = try localAdmissions()
        let (statuses, _) = load(key: "k-roomy", clients: 4, perSecond: 100, seconds: 2)
        XCTAssertEqual(statuses.filter { $0 != 200 }, [], "nothing refused")
        // Settlements of the last units owed are sent once the credits expire (1 s, swept every 250 ms).
        Thread.sleep(forTimeInterval: 1.5)
        let calls = try scriptCalls(), local = try localAdmissions() - before
        XCTAssertGreaterThanOrEqual(local + calls, statuses.count, "every request was admitted locally or by a script call")
        XCTAssertLessThanOrEqual(local + calls, statuses.count + workers * instances, "at most one settlement per loop besides")
        XCTAssertLessThan(calls * 2, statuses.count, "\(calls) script calls for \(statuses.count) requests: fewer than half")
        XCTAssertGreaterThan(local * 2, statuses.count, "\(local) of \(statuses.count) admitted locally")
    }
}
