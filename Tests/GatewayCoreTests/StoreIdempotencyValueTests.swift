import XCTest
@testable import GatewayCore

/// Idempotency entries as Redis holds them: reservations with an in-flight deadline, settled
/// entries in the journal's layout, and their keys' names.
final class StoreIdempotencyValueTests: XCTestCase {
    private let key = withCaller(7) { IdempotencyCacheKey(caller: $0, routePrefix: "/v1/", key: Array("k-1".utf8)) }

    func testReservationsAreInFlightUntilTheirMomentThenOutcomeUnknown() {
        let value = IdempotencyValue.reservation(inFlightUntil: 5_000)
        XCTAssertEqual(value.count, 9)
        guard case .inFlight? = IdempotencyValue.lookup(value, key: key, now: 4_999) else { return XCTFail("still in flight") }
        guard case .settled(let entry)? = IdempotencyValue.lookup(value, key: key, now: 5_000), case .unknownOutcome = entry.outcome else {
            return XCTFail("a reservation past its moment is a request whose gateway stopped: outcome unknown")
        }
    }

    func testSettledEntriesRoundTripByteForByte() throws {
        let stored = StoredResponse(status: 201, reason: Array("Created".utf8), headerLines: Array("X-Request-Id: 01A\r\n".utf8),
                                    body: Array("{\"ok\":true}".utf8))
        let fingerprint = try XCTUnwrap(RequestFingerprint(bytes: [UInt8](repeating: 9, count: 32)))
        let value = IdempotencyValue.settled(key, SettledEntry(outcome: .stored(stored), fingerprint: fingerprint, deadline: 77))
        guard case .settled(let entry)? = IdempotencyValue.lookup(value, key: key, now: 1), case .stored(let back) = entry.outcome else {
            return XCTFail("not read back")
        }
        XCTAssertEqual(back.status, 201)
        XCTAssertEqual(back.headerLines, stored.headerLines)
        XCTAssertEqual(back.body, stored.body)
        XCTAssertEqual(entry.fingerprint, fingerprint)
        let other = withCaller(8) { IdempotencyCacheKey(caller: $0, routePrefix: "/v1/", key: Array("k-1".utf8)) }
        XCTAssertNil(IdempotencyValue.lookup(value, key: other, now: 1), "a value is only ever read for the key it was written for")
        XCTAssertNil(IdempotencyValue.lookup([9, 1, 2], key: key, now: 1))
        XCTAssertNil(IdempotencyValue.lookup([], key: key, now: 1))
    }

    func testNamesCarryTheCallersTag() {
        let name = String(decoding: IdempotencyValue.name(key), as: UTF8.self)
        var prefix: [UInt8] = []
        KeyHash.sha256("key-7").withUnsafeBytes { StoreKeys.prefix(apiKeyDigest: $0, into: &prefix) }
        XCTAssertTrue(name.hasPrefix(String(decoding: prefix, as: UTF8.self) + "idem:"), name)
        let anonymous = withCaller(nil) { IdempotencyCacheKey(caller: $0, routePrefix: "/v1/", key: Array("k".utf8)) }
        XCTAssertTrue(String(decoding: IdempotencyValue.name(anonymous), as: UTF8.self).hasPrefix("gw:{ip:192.0.2.1}:idem:"))
    }
}
