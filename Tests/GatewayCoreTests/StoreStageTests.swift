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
    route /v1/ { upstream u; auth required; quota counts POST; idempotency optional; }
    """
    private var pipeline: RequestPipeline!
    private let link = FakeLink()

    override func setUpWithError() throws {
        let parsed = try parseConfig(config)
        pipeline = RequestPipeline(config: parsed, idempotency: IdempotencyStage(config: parsed.idempotency,
                                                                                  store: IdempotencyStore(limits: parsed.idempotency.limits)))
    }

    /// Runs the chain on a request, answering each store round trip with the next of `replies`.
    private func admit(_ request: String, replies: [RESPValue], context: RequestContext = RequestContext()) -> RequestPipeline.Admission {
        let input = bytes(request)
        return input.withUnsafeBufferPointer { b in
            var parser = RequestHeadParser(limits: testHeadLimits)
            guard case .complete = parser.parse(b.baseAddress!, count: b.count) else { return .rejected(GatewayError(.invalidRequest, "unparsed")) }
            context.reset(method: parser.head.method, monotonicMillis: 1_000, wallMillis: 1_800_000_000_000)
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
        guard case .admitted = admit("GET /v1/x HTTP/1.1\r\nHost: t\r\nX-API-Key: alpha\r\n\r\n", replies: [answer([0, 0, 2, 1000, -1, -1, -1])],
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
                                                  replies: [answer([1, 1500, 0, 1500, -1, -1, -1])]) else { return XCTFail() }
        XCTAssertEqual(limited.kind, .rateLimitExceeded)
        XCTAssertEqual(limited.retryAfterSeconds, 2)
        guard case .rejected(let spent) = admit("POST /v1/x HTTP/1.1\r\nHost: t\r\nX-API-Key: alpha\r\nContent-Length: 0\r\n\r\n",
                                                replies: [answer([4, 3_600_000, 1, 0, -1, -1, -1])]) else { return XCTFail() }
        XCTAssertEqual(spent.kind, .dailyMessageLimitReached)
        XCTAssertEqual(spent.retryAfterSeconds, 3600)
        guard case .admitted = admit("GET /v1/x HTTP/1.1\r\nHost: t\r\nX-API-Key: alpha\r\n\r\n",
                                     replies: [.error(Array("ERR something".utf8))]) else { return XCTFail("limits fail open") }
        XCTAssertTrue(link.posted.isEmpty, "nothing to give back for requests that took nothing")
    }

    func testAnAbandonedRequestGivesBackWhatTheReplyTook() {
        _ = admit("POST /v1/x HTTP/1.1\r\nHost: t\r\nX-API-Key: alpha\r\nContent-Length: 0\r\n\r\n", replies: [])
        let waiting = link.sent[0]
        waiting.stage.storeAbandoned(.value(answer([0, 0, 2, 0, -1, -1, 20000])), undo: waiting.undo, link: link)
        let release = String(decoding: link.posted.last?.bytes ?? [], as: UTF8.self)
        XCTAssertTrue(release.contains("release") && release.contains("20000"), release)
        waiting.stage.storeAbandoned(.value(answer([3, 0, 2, 0, -1, -1, -1])), undo: waiting.undo, link: link)
        XCTAssertEqual(link.posted.count, 1, "a refusal took nothing")
    }

    func testIdempotencyReservesWithSetNXAndFailsClosed() {
        let request = "POST /v1/x HTTP/1.1\r\nHost: t\r\nX-API-Key: alpha\r\nIdempotency-Key: k1\r\nContent-Length: 0\r\n\r\n"
        let context = RequestContext()
        guard case .admitted = admit(request, replies: [answer([0, 0, 2, 0, -1, -1, 20000]), .null], context: context) else {
            return XCTFail("a free key is reserved")
        }
        let reserve = String(decoding: link.sent[1].command.bytes, as: UTF8.self)
        XCTAssertTrue(reserve.hasPrefix("*7\r\n$3\r\nSET\r\n") && reserve.contains("NX") && reserve.contains("GET"), reserve)
        guard case .rejected(let inFlight) = admit(request, replies: [answer([0, 0, 2, 0, -1, -1, 20000]),
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
}
