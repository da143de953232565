import XCTest
@testable import GatewayCore

/// The limit and Idempotency-Key stages over Redis, driven through the real pipeline with a fake
/// store link: what they send, how a reply resumes them, and what they give back or undo.
final class StoreStageTests: XCTestCase {
    private final class FakeLink: StoreLink {
        var sent: [(command: RESPCommand, stage: any StoreStage, undo: [UInt8])] = []
        var posted: [RESPCommand] = []
        let leases = LeaseBook(seed: 0xC0FFEE)
        var isCluster = false
        var allowance: LocalAllowance?

        func send(_ command: RESPCommand, slot: Int, for stage: any StoreStage, context: RequestContext, undo: [UInt8]) {
            sent.append((command, stage, undo))
        }

        func post(_ command: RESPCommand, slot: Int) { posted.append(command) }
    }

    private let config = minimalConfig + """
    store redis://127.0.0.1:6379;
    rate_limit_headers ietf;
    plan free { rate 60/m burst 3; concurrency 2; daily_quota 5; }
    key plain:alpha { plan free; }
    plan counted { rate 60/m burst 10; daily_quota 100; }
    key plain:beta { plan counted; }
    route /v1/ { upstream u; auth required; quota counts POST; idempotency optional; }
    route /v2/ { upstream u; auth required; rate 100/s burst 50; quota counts POST; }
    """
    private var pipeline: RequestPipeline!
    private let link = FakeLink()

    override func setUpWithError() throws {
        let parsed = try parseConfig(config)
        pipeline = RequestPipeline(config: parsed, idempotency: IdempotencyStage(config: parsed.idempotency,
                                                                                  store: IdempotencyStore(limits: parsed.idempotency.limits)))
    }

    /// Runs the chain on a request, answering each store round trip with the next of `replies`.
    private func admit(_ request: String, replies: [RESPValue], context: RequestContext = RequestContext(),
                       now: UInt64 = 1_000) -> RequestPipeline.Admission {
        let input = bytes(request)
        return input.withUnsafeBufferPointer { b in
            var parser = RequestHeadParser(limits: testHeadLimits)
            guard case .complete = parser.parse(b.baseAddress!, count: b.count) else { return .rejected(GatewayError(.invalidRequest, "unparsed")) }
            context.reset(method: parser.head.method, monotonicMillis: now, wallMillis: 1_800_000_000_000)
            context.clientAddress = Array("10.0.0.1".utf8)
            context.storeLink = link
            var admission = pipeline.requestHead(parser.head, bytes: b.baseAddress!, context: context)
            for reply in replies {
                guard case .suspended = admission, let waiting = link.sent.last else { break }
                admission = pipeline.resume(with: waiting.stage.storeReplied(.value(reply), context: context), parser.head,
                                            bytes: b.baseAddress!, context: context)
            }
            return admission
        }
    }

    private func answer(_ numbers: [Int64]) -> RESPValue { .array(numbers.map { .integer($0) }) }

    func testOneRoundTripAdmitsAndTheSlotsGoBackOnce() {
        let context = RequestContext()
        guard case .admitted = admit("GET /v1/x HTTP/1.1\r\nHost: t\r\nX-API-Key: alpha\r\n\r\n", replies: [answer([0, 0, 2, 1000, -1, -1, -1, -1])],
                                     context: context) else { return XCTFail("not admitted") }
        XCTAssertEqual(link.sent.count, 1, "one round trip")
        XCTAssertTrue(String(decoding: link.sent[0].command.bytes, as: UTF8.self).contains("EVALSHA"))
        XCTAssertTrue(text(context.extraResponseHeaders).contains("RateLimit: \"free\";r=2;t=1\r\n"))
        XCTAssertEqual(link.leases.count, 1, "the lease is renewed while the request runs")
        pipeline.finish(context, outcome: .completed(status: 200))
        pipeline.finish(context, outcome: .completed(status: 200))
        XCTAssertEqual(link.posted.count, 1, "released exactly once")
        XCTAssertTrue(String(decoding: link.posted[0].bytes, as: UTF8.self).contains("ZREM"))
        XCTAssertEqual(link.leases.count, 0)
    }

    func testRefusalsAndTheFailurePolicy() {
        guard case .rejected(let limited) = admit("GET /v1/x HTTP/1.1\r\nHost: t\r\nX-API-Key: alpha\r\n\r\n",
                                                  replies: [answer([1, 1500, 0, 1500, -1, -1, -1, -1])]) else { return XCTFail() }
        XCTAssertEqual(limited.kind, .rateLimitExceeded)
        XCTAssertEqual(limited.retryAfterSeconds, 2)
        guard case .rejected(let spent) = admit("POST /v1/x HTTP/1.1\r\nHost: t\r\nX-API-Key: alpha\r\nContent-Length: 0\r\n\r\n",
                                                replies: [answer([4, 3_600_000, 1, 0, -1, -1, -1, 0])]) else { return XCTFail() }
        XCTAssertEqual(spent.kind, .dailyMessageLimitReached)
        XCTAssertEqual(spent.retryAfterSeconds, 3600)
        guard case .admitted = admit("GET /v1/x HTTP/1.1\r\nHost: t\r\nX-API-Key: alpha\r\n\r\n",
                                     replies: [.error(Array("ERR something".utf8))]) else { return XCTFail("limits fail open") }
        XCTAssertTrue(link.posted.isEmpty, "nothing to give back for requests that took nothing")
    }

    func testAnAbandonedRequestGivesBackWhatTheReplyTook() {
        _ = admit("POST /v1/x HTTP/1.1\r\nHost: t\r\nX-API-Key: alpha\r\nContent-Length: 0\r\n\r\n", replies: [])
        let waiting = link.sent[0]
        waiting.stage.storeAbandoned(.value(answer([0, 0, 2, 0, -1, -1, 20000, -1])), undo: waiting.undo, link: link)
        let release = String(decoding: link.posted.last?.bytes ?? [], as: UTF8.self)
        XCTAssertTrue(release.contains("release") && release.contains("20000"), release)
        waiting.stage.storeAbandoned(.value(answer([3, 0, 2, 0, -1, -1, -1, -1])), undo: waiting.undo, link: link)
        XCTAssertEqual(link.posted.count, 1, "a refusal took nothing")
    }

    /// The owed part of an admit command: units, key rate, route rate, quota flag.
    private func owed(_ command: RESPCommand) -> [String] {
        guard case .value(.array(let items), _) = RESPParser.parse(command.bytes) else { return [] }
        return items.suffix(8).map { if case .bulk(let b) = $0 { String(decoding: b, as: UTF8.self) } else { "?" } }
    }

    func testALocalAllowanceAdmitsWithoutRoundTripsAndTheNextCommandPaysWhatIsOwed() {
        link.allowance = LocalAllowance(burst: 3)
        let get = "GET /v2/x HTTP/1.1\r\nHost: t\r\nX-API-Key: beta\r\n\r\n"
        // The key's bucket holds 7 more, the route's 40: a credit of min(3, 7, 40).
        guard case .admitted = admit(get, replies: [answer([0, 0, 7, 500, 40, 10, -1, -1])]) else { return XCTFail() }
        XCTAssertEqual(owed(link.sent[0].command), ["0", "0", "0", "0", "0", "0", "0", "0"])
        for spent in 1...3 {
            let local = RequestContext()
            guard case .admitted = admit(get, replies: [], context: local, now: 1_500) else { return XCTFail("local \(spent)") }
            XCTAssertTrue(local.admittedLocally)
            XCTAssertTrue(text(local.extraResponseHeaders).contains("\"counted\";r=\(7 - spent);"), text(local.extraResponseHeaders))
            XCTAssertEqual(local.rateLimitRemaining, 7 - spent)
        }
        XCTAssertEqual(link.sent.count, 1, "three requests admitted without a round trip")
        let asked = RequestContext()
        guard case .admitted = admit(get, replies: [answer([0, 0, 3, 500, 36, 10, -1, -1])], context: asked, now: 1_600) else { return XCTFail() }
        XCTAssertFalse(asked.admittedLocally)
        XCTAssertEqual(link.sent.count, 2)
        XCTAssertEqual(owed(link.sent[1].command), ["3", "60", "60000", "10", "100", "1000", "50", "0"], "the three owed, under the GET's limits")
        guard case .admitted = admit(get, replies: [], now: 1_700) else { return XCTFail() }
        XCTAssertEqual(link.sent.count, 2, "a fresh credit")
        // A POST counts against the quota too: other limits, so Redis is asked; it carries the GET's owed unit.
        let post = "POST /v2/x HTTP/1.1\r\nHost: t\r\nX-API-Key: beta\r\nContent-Length: 0\r\n\r\n"
        guard case .rejected = admit(post, replies: [answer([1, 900, 0, 900, 30, 10, -1, -1])], now: 1_800) else { return XCTFail() }
        XCTAssertEqual(owed(link.sent[2].command), ["1", "60", "60000", "10", "100", "1000", "50", "0"])
        guard case .rejected = admit(get, replies: [answer([1, 800, 0, 800, 30, 10, -1, -1])], now: 1_900) else {
            return XCTFail("a refusal ends the credit")
        }
        XCTAssertEqual(link.sent.count, 4)
        guard case .admitted = admit(get, replies: [answer([0, 0, 5, 0, 30, 10, -1, -1])], now: 2_000) else { return XCTFail() }
        guard case .admitted = admit(get, replies: [], now: 2_999) else { return XCTFail() }
        XCTAssertEqual(link.sent.count, 5)
        guard case .admitted = admit(get, replies: [answer([0, 0, 5, 0, 30, 10, -1, -1])], now: 3_000) else { return XCTFail() }
        XCTAssertEqual(link.sent.count, 6, "a credit lasts a second")
        XCTAssertEqual(owed(link.sent[5].command).first, "1")
    }

    func testRequestsThatHoldASlotInRedisAlwaysAsk() {
        link.allowance = LocalAllowance(burst: 5)
        let get = "GET /v1/x HTTP/1.1\r\nHost: t\r\nX-API-Key: alpha\r\n\r\n"
        for round in 1...3 {
            let context = RequestContext()
            guard case .admitted = admit(get, replies: [answer([0, 0, 2, 1000, -1, -1, -1, -1])], context: context) else { return XCTFail() }
            XCTAssertEqual(link.sent.count, round, "concurrency 2: a slot in Redis every time")
            XCTAssertFalse(context.admittedLocally)
            pipeline.finish(context, outcome: .completed(status: 200))
        }
        XCTAssertEqual(link.allowance?.count, 0)
    }

    func testAnAbandonedCommandEndsTheUnitsItCarried() throws {
        let allowance = LocalAllowance(burst: 2)
        link.allowance = allowance
        let get = "GET /v2/x HTTP/1.1\r\nHost: t\r\nX-API-Key: beta\r\n\r\n"
        guard case .admitted = admit(get, replies: [answer([0, 0, 9, 0, 40, 10, -1, -1])]) else { return XCTFail() }
        guard case .admitted = admit(get, replies: [], now: 1_100) else { return XCTFail() }
        guard case .admitted = admit(get, replies: [], now: 1_100) else { return XCTFail() }
        guard case .suspended = admit(get, replies: [], now: 1_200) else { return XCTFail("the credit is spent") }
        let waiting = try XCTUnwrap(link.sent.last)
        XCTAssertEqual(owed(waiting.command).first, "2")
        waiting.stage.storeAbandoned(.value(answer([0, 0, 6, 0, 37, 10, -1, -1])), undo: waiting.undo, link: link)
        XCTAssertTrue(allowance.sweep(now: 2_100).isEmpty, "nothing owed")
        XCTAssertEqual(allowance.count, 0, "and nothing in flight: the key is forgotten")
    }

    func testIdempotencyReservesWithSetNXAndFailsClosed() {
        let request = "POST /v1/x HTTP/1.1\r\nHost: t\r\nX-API-Key: alpha\r\nIdempotency-Key: k1\r\nContent-Length: 0\r\n\r\n"
        let context = RequestContext()
        guard case .admitted = admit(request, replies: [answer([0, 0, 2, 0, -1, -1, 20000, -1]), .null], context: context) else {
            return XCTFail("a free key is reserved")
        }
        let reserve = String(decoding: link.sent[1].command.bytes, as: UTF8.self)
        XCTAssertTrue(reserve.hasPrefix("*7\r\n$3\r\nSET\r\n") && reserve.contains("NX") && reserve.contains("GET"), reserve)
        guard case .rejected(let inFlight) = admit(request, replies: [answer([0, 0, 2, 0, -1, -1, 20000, -1]),
                                                                      .bulk(IdempotencyValue.reservation(inFlightUntil: .max))]) else {
            return XCTFail()
        }
        XCTAssertEqual(inFlight.kind, .idempotencyConflict)
        XCTAssertEqual(inFlight.retryAfterSeconds, 1)
        let down = RequestContext()
        let input = bytes(request)
        input.withUnsafeBufferPointer { b in
            var parser = RequestHeadParser(limits: testHeadLimits)
            _ = parser.parse(b.baseAddress!, count: b.count)
            down.reset(method: .post, monotonicMillis: 1, wallMillis: 1)
            down.storeLink = link
            guard case .suspended = pipeline.requestHead(parser.head, bytes: b.baseAddress!, context: down) else { return XCTFail() }
            let limits = link.sent.last!.stage.storeReplied(.unavailable("down"), context: down)
            guard case .suspended = pipeline.resume(with: limits, parser.head, bytes: b.baseAddress!, context: down) else { return XCTFail() }
            guard case .reject(let closed) = link.sent.last!.stage.storeReplied(.unavailable("down"), context: down) else {
                return XCTFail("idempotency fails closed")
            }
            XCTAssertEqual(closed.kind, .serviceUnavailable)
            XCTAssertNotNil(closed.retryAfterSeconds)
        }
    }

    func testStoreDirectives() throws {
        XCTAssertEqual(try parseConfig(minimalConfig).store, StoreConfig())
        let both = try parseConfig(minimalConfig + "store_failure closed;").store
        XCTAssertFalse(both.limitsFailOpen || both.idempotencyFailOpen)
        let ipv6 = try parseConfig(minimalConfig + "store redis://[::1]:7000/2;").store.backend
        XCTAssertEqual(ipv6, .redis(RedisEndpoint(host: "::1", port: 7000, database: 2)))
        assertConfigError(minimalConfig + "store redis://cache;", at: "test.conf:3:7", ["'store'", "redis://HOST:PORT"])
        assertConfigError(minimalConfig + "store redis://cache:6379/x;", at: "test.conf:3:7", ["database number"])
        assertConfigError(minimalConfig + "store memcached://cache:1;", at: "test.conf:3:7", ["local, or redis://"])
        assertConfigError(minimalConfig + "store redis://c:1 tls tls;", at: "test.conf:3:23", ["duplicate option 'tls'"])
        assertConfigError(minimalConfig + "store redis://c:1 user=x;", at: "test.conf:3:19", ["password=SECRET or tls"])
        assertConfigError(minimalConfig + "store local tls;", at: "test.conf:3:13", ["nothing after 'local'"])
        assertConfigError(minimalConfig + "store_failure limits=maybe;", at: "test.conf:3:15", ["open or closed"])
        assertConfigError(minimalConfig + "store_failure quotas=open;", at: "test.conf:3:15", ["unknown option 'quotas='"])
        assertConfigError(minimalConfig + "store_command_timeout 1ms;", at: "test.conf:3:23", ["10ms...1m"])
    }

    func testStoreSyncDirective() throws {
        XCTAssertEqual(try parseConfig(minimalConfig).store.localBurst, 0, "off by default")
        XCTAssertEqual(try parseConfig(minimalConfig + "store redis://c:1;\nstore_sync local_burst=16;").store.localBurst, 16)
        XCTAssertEqual(try parseConfig(minimalConfig + "store_sync local_burst=1000;").store.localBurst, 1000)
        XCTAssertEqual(try parseConfig(minimalConfig + "store_sync local_burst=0;").store.localBurst, 0)
        XCTAssertEqual(try parseConfig(minimalConfig + "store_sync off;").store.localBurst, 0)
        XCTAssertEqual(try parseConfig(minimalConfig + "store local;\nstore_sync local_burst=5;").store.localBurst, 5,
                       "accepted with a local store, which has no round trip to save")
        assertConfigError(minimalConfig + "store_sync local_burst=1001;", at: "test.conf:3:12", ["'store_sync local_burst='", "0...1000"])
        assertConfigError(minimalConfig + "store_sync local_burst=-1;", at: "test.conf:3:12", ["0...1000", "\"-1\""])
        assertConfigError(minimalConfig + "store_sync local_burst=lots;", at: "test.conf:3:12", ["an integer in 0...1000"])
        assertConfigError(minimalConfig + "store_sync burst=5;", at: "test.conf:3:12", ["unknown option 'burst='", "local_burst="])
        assertConfigError(minimalConfig + "store_sync on;", at: "test.conf:3:12", ["expected off or local_burst=N", "\"on\""])
        assertConfigError(minimalConfig + "store_sync;", at: "test.conf:3:1", ["store_sync"])
        assertConfigError(minimalConfig + "store_sync off local_burst=2;", at: "test.conf:3:16", ["too many arguments", "store_sync off|local_burst=N;"])
        assertConfigError(minimalConfig + "store_sync off;\nstore_sync local_burst=2;", at: "test.conf:4:1", ["duplicate 'store_sync'"])
    }
}
