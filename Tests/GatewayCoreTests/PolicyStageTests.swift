import XCTest
@testable import GatewayCore

/// The policy stages driven through the real pipeline with an injected clock.
final class PolicyStageTests: XCTestCase {
    static let day: UInt64 = 86_400_000
    private let config = minimalConfig + """
    anonymous { rate 1/s burst 2; }
    rate_limit_headers both;
    plan free { rate 60/m burst 3; concurrency 1; daily_quota 2; }
    key plain:alpha { plan free; scopes messages:write; }
    key plain:beta { plan free; concurrency 2; expires 2030-01-01T00:00:00Z; }
    key plain:gone { plan free; revoked; }
    route /v1/messages { upstream u; auth required; scope messages:write; quota counts POST; }
    route /v1/ { upstream u; auth required; }
    route /public { upstream u; auth public; }
    """
    private var pipeline: RequestPipeline!
    private var wall = 20_000 * day
    private var mono: UInt64 = 1_000

    override func setUpWithError() throws {
        pipeline = RequestPipeline(config: try parseConfig(config))
    }

    private func admit(_ path: String, method: String = "GET", key: String? = nil, header: String = "X-API-Key",
                       context: RequestContext = RequestContext()) -> GatewayError? {
        let keyLine = key.map { header == "Authorization" ? "Authorization: Bearer \($0)\r\n" : "\(header): \($0)\r\n" } ?? ""
        let input = bytes("\(method) \(path) HTTP/1.1\r\nHost: t\r\n\(keyLine)\r\n")
        return input.withUnsafeBufferPointer { b in
            var parser = RequestHeadParser(limits: testHeadLimits)
            guard case .complete = parser.parse(b.baseAddress!, count: b.count) else { return GatewayError(.invalidRequest, "unparsed") }
            context.reset(method: parser.head.method, monotonicMillis: mono, wallMillis: wall)
            context.clientAddress = Array("10.0.0.1".utf8)
            return pipeline.admit(parser.head, bytes: b.baseAddress!, context: context)
        }
    }

    /// Admits and finishes at once, as a completed exchange.
    private func request(_ path: String, method: String = "GET", key: String? = nil) -> GatewayError? {
        let context = RequestContext()
        let error = admit(path, method: method, key: key, context: context)
        if error == nil { pipeline.finish(context, outcome: .completed(status: 200)) }
        return error
    }

    func testAuthenticationOutcomes() {
        XCTAssertEqual(request("/v1/x")?.kind, .missingApiKey)
        XCTAssertEqual(request("/v1/x", key: "nope")?.kind, .invalidApiKey)
        XCTAssertNil(request("/v1/x", key: "alpha"))
        let context = RequestContext()
        XCTAssertNil(admit("/v1/x", key: "beta", header: "Authorization", context: context))
        XCTAssertEqual(context.apiKeyIdentity, 1)
        pipeline.finish(context, outcome: .completed(status: 200))
    }

    func testRevokedExpiredAndScopes() {
        XCTAssertEqual(request("/v1/x", key: "gone")?.kind, .invalidApiKey)
        wall = UInt64(ConfigValues.timestampMs("2030-01-01T00:00:00Z")!)
        XCTAssertEqual(request("/v1/x", key: "beta")?.kind, .expiredApiKey)
        wall -= 1
        let forbidden = request("/v1/messages", key: "beta")
        XCTAssertEqual(forbidden?.kind, .insufficientPermissions)
        XCTAssertEqual(forbidden?.details.first?.1, .string("messages:write"))
        XCTAssertNil(request("/v1/messages", key: "alpha"))
    }

    func testAnonymousBucketAnswers429BeforeThe401() {
        XCTAssertEqual(request("/v1/x", key: "guess1")?.kind, .invalidApiKey)
        XCTAssertEqual(request("/v1/x")?.kind, .missingApiKey)
        let throttled = request("/v1/x", key: "guess2")
        XCTAssertEqual(throttled?.kind, .rateLimitExceeded)
        XCTAssertEqual(throttled?.retryAfterSeconds, 1)
        XCTAssertEqual(request("/public")?.kind, .rateLimitExceeded, "public routes share the client's bucket")
        XCTAssertNil(request("/v1/x", key: "alpha"), "a valid key is not held back by the anonymous bucket")
        mono += 1000
        XCTAssertNil(request("/public"))
    }

    func testKeyBucketAndHeaders() {
        let context = RequestContext()
        XCTAssertNil(admit("/v1/x", key: "alpha", context: context))
        XCTAssertEqual(text(context.extraResponseHeaders), """
        RateLimit-Policy: "free";q=60;w=60\r
        RateLimit: "free";r=2;t=1\r
        X-RateLimit-Limit: 60\r
        X-RateLimit-Remaining: 2\r
        X-RateLimit-Reset: 1\r

        """)
        pipeline.finish(context, outcome: .completed(status: 200))
        XCTAssertNil(request("/v1/x", key: "alpha"))
        XCTAssertNil(request("/v1/x", key: "alpha"))
        let refused = request("/v1/x", key: "alpha")
        XCTAssertEqual(refused?.kind, .rateLimitExceeded)
        XCTAssertEqual(refused?.retryAfterSeconds, 1)
        XCTAssertNil(request("/v1/x", key: "beta"), "another key has its own bucket")
    }

    func testRoutePolicyAdvertisesItsRealRateUnderItsOwnName() throws {
        pipeline = RequestPipeline(config: try parseConfig(config + """
        route /v1/burst { upstream u; auth required; rate 10/s burst 5; }
        """))
        let context = RequestContext()
        XCTAssertNil(admit("/v1/burst/x", key: "beta", context: context))
        let headers = text(context.extraResponseHeaders)
        XCTAssertTrue(headers.contains("RateLimit-Policy: \"free\";q=60;w=60, \"/v1/burst\";q=10;w=1\r\n"), headers)
        XCTAssertTrue(headers.contains("RateLimit: \"free\";r=2;t=1, \"/v1/burst\";r=4;t=1\r\n"), headers)
        pipeline.finish(context, outcome: .completed(status: 200))
    }

    func testConcurrencyIsReleasedExactlyOnceWhateverTheOutcome() {
        for outcome in [ExchangeOutcome.clientAborted, .upstreamFailed, .completed(status: 200)] {
            let first = RequestContext()
            XCTAssertNil(admit("/v1/x", key: "alpha", context: first))
            XCTAssertEqual(request("/v1/x", key: "alpha")?.kind, .concurrentRequestLimitExceeded)
            pipeline.finish(first, outcome: outcome)
            mono += 2000
        }
        let overridden = [RequestContext(), RequestContext()]
        for context in overridden { XCTAssertNil(admit("/v1/x", key: "beta", context: context)) }
        let refused = request("/v1/x", key: "beta")
        XCTAssertEqual(refused?.kind, .concurrentRequestLimitExceeded)
        XCTAssertEqual(refused?.retryAfterSeconds, 1)
        for context in overridden { pipeline.finish(context, outcome: .completed(status: 200)) }
    }

    func testQuotaCountsOnlyConfiguredRequestsAndResetsAtTheDayBoundary() {
        wall = 20_001 * Self.day - 5_000
        XCTAssertNil(request("/v1/messages", method: "POST", key: "alpha"))
        XCTAssertNil(request("/v1/messages", method: "GET", key: "alpha"), "GET does not count")
        mono += 5000
        XCTAssertNil(request("/v1/messages", method: "POST", key: "alpha"))
        mono += 5000
        let spent = request("/v1/messages", method: "POST", key: "alpha")
        XCTAssertEqual(spent?.kind, .dailyMessageLimitReached)
        XCTAssertEqual(spent?.retryAfterSeconds, 5)
        wall = 20_001 * Self.day
        XCTAssertNil(request("/v1/messages", method: "POST", key: "alpha"))
    }

    func testQuotaIsRefundedWhenTheUpstreamFails() {
        for outcome in [ExchangeOutcome.upstreamFailed, .completed(status: 502), .completed(status: 201), .clientAborted] {
            let context = RequestContext()
            XCTAssertNil(admit("/v1/messages", method: "POST", key: "alpha", context: context))
            pipeline.finish(context, outcome: outcome)
            mono += 2000
        }
        XCTAssertEqual(request("/v1/messages", method: "POST", key: "alpha")?.kind, .dailyMessageLimitReached)
    }

    func testPublicRoutesIgnoreKeysTheyCannotUse() {
        let context = RequestContext()
        XCTAssertNil(admit("/public", key: "alpha", context: context))
        XCTAssertEqual(context.apiKeyIdentity, 0, "a valid key keeps its identity on a public route")
        pipeline.finish(context, outcome: .completed(status: 200))
        for key in ["upstream-token", "gone"] {
            XCTAssertNil(admit("/public", key: key, context: context))
            XCTAssertNil(context.apiKeyIdentity)
            pipeline.finish(context, outcome: .completed(status: 200))
        }
    }

    func testIdentityIsResetPerRequest() {
        let context = RequestContext()
        XCTAssertNil(admit("/v1/x", key: "alpha", context: context))
        XCTAssertEqual(context.apiKeyIdentity, 0)
        pipeline.finish(context, outcome: .completed(status: 200))
        XCTAssertNil(admit("/public", context: context))
        XCTAssertNil(context.apiKeyIdentity)
    }
}
