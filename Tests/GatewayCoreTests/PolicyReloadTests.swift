import XCTest
@testable import GatewayCore

/// Client-policy state across a reload: it follows a key or route that stays configured, wherever
/// it moves in the list, is rescaled when its limits change, and is dropped when it is removed.
final class PolicyReloadTests: XCTestCase {
    private var wall: UInt64 = 1_800_000_000_000
    private var mono: UInt64 = 1_000

    private func pipeline(_ text: String, replacing previous: RequestPipeline? = nil) throws -> RequestPipeline {
        RequestPipeline(config: try parseConfig(minimalConfig + text), replacing: previous)
    }

    /// Admits a request; the context is returned so a test can finish it later (a request in flight).
    private func admit(_ pipeline: RequestPipeline, _ path: String, key: String, method: String = "GET") -> (GatewayError?, RequestContext) {
        let context = RequestContext()
        let input = bytes("\(method) \(path) HTTP/1.1\r\nHost: t\r\nX-API-Key: \(key)\r\n\r\n")
        let error = input.withUnsafeBufferPointer { b -> GatewayError? in
            var parser = RequestHeadParser(limits: testHeadLimits)
            guard case .complete = parser.parse(b.baseAddress!, count: b.count) else { return GatewayError(.invalidRequest, "unparsed") }
            context.reset(method: parser.head.method, monotonicMillis: mono, wallMillis: wall)
            context.clientAddress = Array("10.0.0.1".utf8)
            return pipeline.admit(parser.head, bytes: b.baseAddress!, context: context)
        }
        return (error, context)
    }

    private func request(_ pipeline: RequestPipeline, _ path: String, key: String, method: String = "GET") -> GatewayErrorKind? {
        let (error, context) = admit(pipeline, path, key: key, method: method)
        if error == nil { pipeline.finish(context, outcome: .completed(status: 200)) }
        return error?.kind
    }

    func testAKeyThatMovesInTheListKeepsItsBucket() throws {
        let plan = "plan p { rate 60/m burst 2; }\nroute /v1/ { upstream u; auth required; }\n"
        let old = try pipeline(plan + "key plain:alpha { plan p; }\nkey plain:beta { plan p; }\n")
        XCTAssertNil(request(old, "/v1/x", key: "beta"))
        XCTAssertNil(request(old, "/v1/x", key: "beta"))
        XCTAssertEqual(request(old, "/v1/x", key: "beta"), .rateLimitExceeded)
        // beta moves from index 1 to 2; alpha's place is taken by a new key.
        let new = try pipeline(plan + "key plain:gamma { plan p; }\nkey plain:delta { plan p; }\nkey plain:beta { plan p; }\n",
                               replacing: old)
        XCTAssertEqual(request(new, "/v1/x", key: "beta"), .rateLimitExceeded, "still at its limit right after the reload")
        XCTAssertNil(request(new, "/v1/x", key: "gamma"), "a new key starts with a full bucket")
        XCTAssertNil(request(new, "/v1/x", key: "delta"))
        mono += 1_000
        XCTAssertNil(request(new, "/v1/x", key: "beta"), "and refills as before")
    }

    func testARemovedKeysStateIsDroppedAndAKeyAddedBackStartsAfresh() throws {
        let plan = "plan p { rate 60/m burst 1; daily_quota 5; }\nroute /v1/ { upstream u; auth required; quota counts; }\n"
        let old = try pipeline(plan + "key plain:alpha { plan p; }\nkey plain:beta { plan p; }\n")
        XCTAssertNil(request(old, "/v1/x", key: "alpha"))
        XCTAssertNil(request(old, "/v1/x", key: "beta"))
        XCTAssertEqual(old.policies.keyBuckets.storedCount, 2)
        let alphaOwner = try XCTUnwrap(owner(old, "alpha"))
        XCTAssertEqual(old.policies.quotas.used(alphaOwner, day: day(old)), 1)

        let without = try pipeline(plan + "key plain:beta { plan p; }\n", replacing: old)
        XCTAssertEqual(without.policies.keyBuckets.storedCount, 1, "alpha's bucket is gone, beta's stays")
        XCTAssertEqual(without.policies.quotas.used(alphaOwner, day: day(old)), 0)
        XCTAssertEqual(request(without, "/v1/x", key: "beta"), .rateLimitExceeded)

        let back = try pipeline(plan + "key plain:beta { plan p; }\nkey plain:alpha { plan p; }\n", replacing: without)
        XCTAssertNotEqual(owner(back, "alpha"), alphaOwner, "a key added again is a new owner")
        XCTAssertNil(request(back, "/v1/x", key: "alpha"))
        XCTAssertEqual(request(back, "/v1/x", key: "beta"), .rateLimitExceeded)
    }

    func testARateChangeRescalesTheBucket() throws {
        let route = "route /v1/ { upstream u; auth required; }\nkey plain:alpha { plan p; }\n"
        let old = try pipeline("plan p { rate 60/m burst 2; }\n" + route)
        XCTAssertNil(request(old, "/v1/x", key: "alpha"))
        XCTAssertNil(request(old, "/v1/x", key: "alpha"))
        // Ten times the rate and the burst: the empty bucket is empty in the new units too.
        let faster = try pipeline("plan p { rate 600/m burst 20; }\n" + route, replacing: old)
        XCTAssertEqual(request(faster, "/v1/x", key: "alpha"), .rateLimitExceeded)
        mono += 100
        XCTAssertNil(request(faster, "/v1/x", key: "alpha"), "one token of the new rate came in 100 ms")
        XCTAssertEqual(request(faster, "/v1/x", key: "alpha"), .rateLimitExceeded)
        // Half of a 20-token bucket refilled, then back to the slow plan: half of its 2 tokens are there.
        mono += 1_000
        let slower = try pipeline("plan p { rate 60/m burst 2; }\n" + route, replacing: faster)
        XCTAssertNil(request(slower, "/v1/x", key: "alpha"))
        XCTAssertEqual(request(slower, "/v1/x", key: "alpha"), .rateLimitExceeded)
    }

    func testARouteBucketFollowsItsPrefixAndIsDroppedWithIt() throws {
        let key = "plan p { }\nkey plain:alpha { plan p; }\n"
        let old = try pipeline(key + "route /v1/send { upstream u; auth required; rate 1/m burst 1; }\n")
        XCTAssertNil(request(old, "/v1/send", key: "alpha"))
        XCTAssertEqual(request(old, "/v1/send", key: "alpha"), .rateLimitExceeded)
        let moved = try pipeline(key + "route /v2/ { upstream u; auth required; rate 1/m burst 1; }\n"
                                 + "route /v1/send { upstream u; auth required; rate 1/m burst 1; }\n", replacing: old)
        XCTAssertEqual(request(moved, "/v1/send", key: "alpha"), .rateLimitExceeded, "the route's bucket moved with it")
        XCTAssertNil(request(moved, "/v2/x", key: "alpha"), "the new route has buckets of its own")
        let dropped = try pipeline(key + "route /v2/ { upstream u; auth required; rate 1/m burst 1; }\n", replacing: moved)
        XCTAssertEqual(dropped.policies.keyBuckets.storedCount, 1, "only /v2/'s bucket is left")
    }

    func testANewRouteNeverTakesTheSlotOfARouteTheSameReloadRemoved() throws {
        func routes(_ prefixes: [String]) -> String { prefixes.map { "route \($0) { upstream u; }\n" }.joined() }
        let first = try pipeline(routes(["/a", "/b"]))
        XCTAssertEqual(first.policies.routeSlots, [1, 2])
        let second = try pipeline(routes(["/c", "/a"]), replacing: first)
        XCTAssertEqual(second.policies.routeSlots, [3, 1], "/b's slot 2 was just dropped")
        let third = try pipeline(routes(["/c", "/a", "/d"]), replacing: second)
        XCTAssertEqual(third.policies.routeSlots, [3, 1, 2], "a reload later, it is free again")
    }

    func testRequestsInFlightReleaseTheirSlotsIntoTheCountTheNewConfigurationChecks() throws {
        let route = "route /v1/ { upstream u; auth required; }\nkey plain:alpha { plan p; }\n"
        let old = try pipeline("global_concurrency 5;\nplan p { concurrency 1; }\n" + route)
        let (error, held) = admit(old, "/v1/x", key: "alpha")
        XCTAssertNil(error)
        let new = try pipeline("global_concurrency 1;\nplan p { concurrency 2; }\nkey plain:beta { plan p; }\n" + route,
                               replacing: old)
        XCTAssertEqual(new.policies.concurrency.globalInFlight, 1)
        XCTAssertEqual(request(new, "/v1/x", key: "alpha"), .concurrentRequestLimitExceeded, "the new global limit of 1 is taken")
        old.finish(held, outcome: .completed(status: 200))
        XCTAssertEqual(new.policies.concurrency.globalInFlight, 0)
        XCTAssertEqual(new.policies.concurrency.inFlight(try XCTUnwrap(owner(new, "alpha"))), 0)
        XCTAssertNil(request(new, "/v1/x", key: "alpha"))
    }

    func testAQuotaSpentBeforeAReloadStaysSpent() throws {
        let route = "route /v1/ { upstream u; auth required; quota counts POST; }\nkey plain:alpha { plan p; }\n"
        let old = try pipeline("plan p { daily_quota 2; }\n" + route)
        XCTAssertNil(request(old, "/v1/x", key: "alpha", method: "POST"))
        XCTAssertNil(request(old, "/v1/x", key: "alpha", method: "POST"))
        let new = try pipeline("plan p { daily_quota 3; }\nkey plain:other { plan p; }\n" + route, replacing: old)
        XCTAssertNil(request(new, "/v1/x", key: "alpha", method: "POST"), "the raised quota has one more")
        XCTAssertEqual(request(new, "/v1/x", key: "alpha", method: "POST"), .dailyMessageLimitReached)
    }

    func testTheOwnerCostsNoMemoryPerKey() {
        // policy (4) + owner (4) + scopes (8) + expiry (8) + revoked (1): the same stride as without the owner.
        XCTAssertEqual(MemoryLayout<KeyEntry>.stride, 32)
    }

    private func owner(_ pipeline: RequestPipeline, _ key: String) -> UInt32? {
        KeyHash.sha256(key).withUnsafeBufferPointer { digest in
            pipeline.policies.keys.lookup(digest.baseAddress!).map { pipeline.policies.keys.entries[Int($0)].owner }
        }
    }

    private func day(_ pipeline: RequestPipeline) -> Int64 { pipeline.policies.calendar.day(wallMs: wall) }
}
