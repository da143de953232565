import Foundation
import XCTest

/// README, "One error language": upstream errors in either dialect come out in the gateway's
/// configured vocabulary (README, "Error reference": how upstream answers are rewritten), table-driven over
/// upstream dialect × upstream error × gateway vocabulary, against real binaries.
final class ErrorTranslationTests: XCTestCase {
    /// Gateways in front of their own mock, one per client vocabulary.
    var snake: Deployment!
    var upper: Deployment!
    var snakeMock: UInt16 = 0
    var upperMock: UInt16 = 0

    static let routes = """
    route /v1/ { upstream messaging; }
    route /v1/raw/ { upstream messaging; errors passthrough; }
    """

    override func setUpWithError() throws {
        snake = Deployment()
        snakeMock = try snake.startMock()
        try snake.startGateway("""
        upstream messaging { server 127.0.0.1:\(snakeMock); }
        \(Self.routes)
        errors { retry_after_default 4s; }
        """)
        upper = Deployment()
        upperMock = try upper.startMock(dialect: "upper")
        try upper.startGateway("""
        upstream messaging { server 127.0.0.1:\(upperMock); }
        \(Self.routes)
        errors { vocabulary upper; retry_after_default 4s; }
        """)
    }

    override func tearDown() {
        snake.stop()
        upper.stop()
    }

    enum Vocabulary: String, CaseIterable { case snake, upper }
    enum Dialect: String, CaseIterable { case snake, upper }

    func gateway(_ vocabulary: Vocabulary) -> Deployment { vocabulary == .snake ? snake : upper }
    func mockPort(_ vocabulary: Vocabulary) -> UInt16 { vocabulary == .snake ? snakeMock : upperMock }

    enum RetryExpectation {
        /// No Retry-After header and no details.retry_after_s.
        case absent
        /// Retry-After present, its value within `range`, and equal to details.retry_after_s.
        case seconds(ClosedRange<Int>)
    }

    struct Row {
        var name: String
        /// Path and query, with `{D}` for the dialect and `{code:snake_code:UPPER_CODE}` for a code in that dialect.
        var target: @Sendable (Dialect) -> String
        var status: Int
        var snakeCode: String
        var upperCode: String
        var message: String
        /// Entries that must be in details, besides the mock's `"hint":"from mock"`.
        var details: [String: String] = [:]
        var retry: RetryExpectation = .absent
    }

    static func code(_ dialect: Dialect, _ snake: String, _ upper: String) -> String { dialect == .snake ? snake : upper }

    static let offline = "Phone+offline+%22now%22"
    static let offlineText = #"Phone offline "now""#

    static let rows: [Row] = [
        Row(name: "session_not_found 404", target: { "/v1/sessions/missing?dialect=\($0)" }, status: 404,
            snakeCode: "session_not_found", upperCode: "SESSION_NOT_FOUND", message: "Session not found",
            details: ["session_id": "missing"]),
        Row(name: "session_disconnected 409", target: { "/v1/sessions/disconnected?dialect=\($0)" }, status: 409,
            snakeCode: "session_disconnected", upperCode: "SESSION_DISCONNECTED",
            message: "Session is disconnected; reconnect the phone", details: ["session_id": "disconnected"]),
        Row(name: "session_disconnected 400",
            target: { "/v1/sessions/x?fail=json&status=400&message=\(offline)&dialect=\($0)&code=\(code($0, "session_disconnected", "SESSION_DISCONNECTED"))" },
            status: 400, snakeCode: "session_disconnected", upperCode: "SESSION_DISCONNECTED", message: offlineText),
        Row(name: "invalid_api_key 401",
            target: { "/v1/sessions/x?fail=json&status=401&message=Invalid+API+key&dialect=\($0)&code=\(code($0, "invalid_api_key", "UNAUTHORIZED"))" },
            status: 401, snakeCode: "invalid_api_key", upperCode: "UNAUTHORIZED", message: "Invalid API key"),
        Row(name: "SERVER_ERROR 500", target: { "/v1/sessions/x?fail=json&status=500&dialect=\($0)" }, status: 500,
            snakeCode: "internal_server_error", upperCode: "SERVER_ERROR", message: "mock failure", retry: .seconds(4...4)),
        Row(name: "SERVER_ERROR 502",
            target: { "/v1/sessions/x?fail=json&status=502&message=bad+hop&dialect=\($0)&code=\(code($0, "bad_gateway", "SERVER_ERROR"))" },
            status: 502, snakeCode: "bad_gateway", upperCode: "SERVER_ERROR", message: "bad hop", retry: .seconds(4...4)),
        Row(name: "rate limit 429, Retry-After seconds", target: { "/v1/messages/text?fail=429&retry_after=7&dialect=\($0)" },
            status: 429, snakeCode: "rate_limit_exceeded", upperCode: "RATE_LIMITED", message: "Too many requests",
            retry: .seconds(7...7)),
        Row(name: "rate limit 429, Retry-After HTTP-date", target: { "/v1/messages/text?fail=429&retry_after=date:20&dialect=\($0)" },
            status: 429, snakeCode: "rate_limit_exceeded", upperCode: "RATE_LIMITED", message: "Too many requests",
            retry: .seconds(18...21)),
        Row(name: "service_unavailable 503 without Retry-After", target: { "/v1/sessions/x?fail=503&dialect=\($0)" },
            status: 503, snakeCode: "service_unavailable", upperCode: "SERVICE_UNAVAILABLE",
            message: "Service temporarily unavailable", retry: .seconds(4...4)),
        Row(name: "service_unavailable 503 with Retry-After", target: { "/v1/sessions/x?fail=503&retry_after=12&dialect=\($0)" },
            status: 503, snakeCode: "service_unavailable", upperCode: "SERVICE_UNAVAILABLE",
            message: "Service temporarily unavailable", retry: .seconds(12...12)),
        Row(name: "unknown code 418",
            target: { "/v1/sessions/x?fail=json&status=418&message=short+and+stout&dialect=\($0)&code=\(code($0, "weird_code", "WEIRD_CODE"))" },
            status: 418, snakeCode: "weird_code", upperCode: "WEIRD_CODE", message: "short and stout"),
        Row(name: "message_sending_failed 500",
            target: { "/v1/messages/text?fail=json&status=500&message=\(offline)&dialect=\($0)&code=\(code($0, "message_sending_failed", "MESSAGE_SENDING_FAILED"))" },
            status: 500, snakeCode: "message_sending_failed", upperCode: "MESSAGE_SENDING_FAILED", message: offlineText,
            retry: .seconds(4...4)),
        Row(name: "message_not_found 404", target: { "/v1/messages/missing?dialect=\($0)" }, status: 404,
            snakeCode: "message_not_found", upperCode: "MESSAGE_NOT_FOUND", message: "Message not found",
            details: ["message_id": "missing"]),
    ]

    func testUpstreamErrorsAreTranslatedForEveryDialectAndVocabulary() throws {
        var checked = 0
        for vocabulary in Vocabulary.allCases {
            let c = try RawClient(port: gateway(vocabulary).gatewayPort)
            for dialect in Dialect.allCases {
                for (index, row) in Self.rows.enumerated() {
                    let label = "\(row.name), upstream \(dialect), client \(vocabulary)"
                    let requestID = "tr-\(vocabulary)-\(dialect)-\(index)"
                    let response = try c.exchange(get(row.target(dialect), headers: "X-Request-Id: \(requestID)\r\n"))
                    let expectedCode = vocabulary == .snake ? row.snakeCode : row.upperCode
                    let retryRequired: Bool
                    switch row.retry {
                    case .absent: retryRequired = false
                    case .seconds: retryRequired = true
                    }
                    let error = assertEnvelope(response, status: row.status, code: expectedCode, retryAfter: retryRequired, label)
                    XCTAssertEqual(error["request_id"] as? String, requestID, label)
                    XCTAssertEqual(error["message"] as? String, row.message, "[\(label)] message kept")
                    let details = error.details
                    XCTAssertEqual(details["hint"] as? String, "from mock", "[\(label)] upstream details kept: \(response.text)")
                    for (key, value) in row.details {
                        XCTAssertEqual(details[key] as? String, value, "[\(label)] details.\(key)")
                    }
                    XCTAssertNil(details["upstream_status"], "[\(label)] a usable body is translated, not replaced")
                    if case .seconds(let range) = row.retry, let seconds = response.header("Retry-After").flatMap({ Int($0) }) {
                        XCTAssertTrue(range.contains(seconds), "[\(label)] Retry-After \(seconds) not in \(range)")
                    }
                    checked += 1
                }
            }
        }
        XCTAssertEqual(checked, 2 * 2 * Self.rows.count)
    }

    func testUpstream500CarriesRetryAfterAsARetryClass() throws {
        // The error reference: internal_server_error is class "retry", and "Retry-After is sent on every
        // response whose class is retry": a rewritten upstream 500 without its own Retry-After gets
        // retry_after_default (the upstream's own value wins: see ErrorUpstreamTranslatorTests).
        for vocabulary in Vocabulary.allCases {
            let response = try RawClient(port: gateway(vocabulary).gatewayPort).exchange(get("/v1/sessions/x?fail=json&status=500"))
            assertEnvelope(response, status: 500, code: vocabulary == .snake ? "internal_server_error" : "SERVER_ERROR",
                           retryAfter: true, "\(vocabulary)")
            XCTAssertEqual(response.header("Retry-After"), "4", "[\(vocabulary)] retry_after_default")
        }
    }

    func testUnusableBodiesGetTheGenericEnvelopeForTheStatus() throws {
        // (query, status, snake code, UPPER code, Retry-After expected)
        let rows: [(String, Int, String, String, Bool)] = [
            ("fail=truncated_json&status=500", 500, "internal_server_error", "SERVER_ERROR", true),
            ("fail=truncated_json&status=409", 409, "invalid_request", "VALIDATION_ERROR", false),
            ("fail=truncated_json&status=503", 503, "service_unavailable", "SERVICE_UNAVAILABLE", true),
            ("fail=text&status=500", 500, "internal_server_error", "SERVER_ERROR", true),
            ("fail=text&status=404", 404, "resource_not_found", "NOT_FOUND", false),
            ("fail=text&status=429", 429, "rate_limit_exceeded", "RATE_LIMITED", true),
            ("fail=status&status=401", 401, "invalid_api_key", "UNAUTHORIZED", false),
            ("fail=status&status=504", 504, "upstream_timeout", "SERVER_ERROR", true),
            ("fail=html502", 502, "bad_gateway", "SERVER_ERROR", true),
            ("fail=oversized", 500, "internal_server_error", "SERVER_ERROR", true),
            ("fail=oversized&status=503", 503, "service_unavailable", "SERVICE_UNAVAILABLE", true),
            // Never retryable: the same request fails the same way, so no Retry-After invites one.
            ("fail=status&status=501", 501, "not_implemented", "NOT_IMPLEMENTED", false),
            ("fail=text&status=505", 505, "not_implemented", "NOT_IMPLEMENTED", false),
            ("fail=status&status=414", 414, "uri_too_long", "VALIDATION_ERROR", false),
        ]
        for vocabulary in Vocabulary.allCases {
            let c = try RawClient(port: gateway(vocabulary).gatewayPort)
            for dialect in Dialect.allCases {
                for (query, status, snakeCode, upperCode, retry) in rows {
                    let label = "\(query), upstream \(dialect), client \(vocabulary)"
                    // One keep-alive connection for all: the gateway must consume the dropped bodies completely.
                    let response = try c.exchange(get("/v1/sessions/x?\(query)&dialect=\(dialect)"))
                    let error = assertEnvelope(response, status: status, code: vocabulary == .snake ? snakeCode : upperCode,
                                               retryAfter: retry, label)
                    XCTAssertEqual((error.details["upstream_status"] as? NSNumber)?.intValue, status, "[\(label)] details.upstream_status")
                    XCTAssertNil(error.details["hint"], "[\(label)] the unusable upstream body is dropped")
                    XCTAssertLessThan(response.body.count, 1024, "[\(label)] no upstream padding in the envelope")
                    if retry { XCTAssertEqual(response.header("Retry-After"), "4", "[\(label)] retry_after_default") }
                }
            }
        }
    }

    func testErrorBodyWithinTheRewriteBufferIsTranslatedWithItsDetails() throws {
        // The same oversized switch, but 1000 bytes of padding: fits in the 64k rewrite buffer.
        let response = try RawClient(port: upper.gatewayPort).exchange(get("/v1/sessions/x?fail=oversized&size=1000&dialect=snake"))
        let error = assertEnvelope(response, status: 500, code: "SERVER_ERROR", retryAfter: true)
        XCTAssertEqual(response.header("Retry-After"), "4", "retry_after_default")
        XCTAssertEqual((error.details["padding"] as? String)?.count, 1000)
        XCTAssertEqual(error["message"] as? String, "oversized mock error")
    }

    func testErrorBodyJustOverTheRewriteBufferGetsTheGenericEnvelope() throws {
        let response = try RawClient(port: snake.gatewayPort).exchange(get("/v1/sessions/x?fail=oversized&size=66000"))
        let error = assertEnvelope(response, status: 500, code: "internal_server_error", retryAfter: true)
        XCTAssertEqual(response.header("Retry-After"), "4", "retry_after_default")
        XCTAssertEqual((error.details["upstream_status"] as? NSNumber)?.intValue, 500)
    }

    func testMapOverrideChangesCodeAndStatus() throws {
        let deployment = Deployment()
        defer { deployment.stop() }
        let mock = try deployment.startMock(dialect: "upper")
        try deployment.startGateway("""
        upstream messaging { server 127.0.0.1:\(mock); }
        route /v1/ { upstream messaging; }
        errors { vocabulary upper; map SESSION_DISCONNECTED session_disconnected 409; }
        """)
        let c = try RawClient(port: deployment.gatewayPort)
        // The upstream says 400 SESSION_DISCONNECTED: the override sends its own code and status, verbatim.
        let overridden = try c.exchange(get("/v1/sessions/x?fail=json&status=400&code=SESSION_DISCONNECTED&message=\(Self.offline)"))
        let error = assertEnvelope(overridden, status: 409, code: "session_disconnected", retryAfter: false)
        XCTAssertEqual(error["message"] as? String, Self.offlineText)
        XCTAssertEqual(error.details["hint"] as? String, "from mock")
        // The override matches the upstream spelling exactly: a snake-dialect upstream is translated as usual.
        let other = try c.exchange(get("/v1/sessions/x?fail=json&status=400&code=session_disconnected&dialect=snake"))
        assertEnvelope(other, status: 400, code: "SESSION_DISCONNECTED", retryAfter: false)
        // Other codes are untouched by the map.
        let notFound = try c.exchange(get("/v1/sessions/missing"))
        assertEnvelope(notFound, status: 404, code: "SESSION_NOT_FOUND", retryAfter: false)
    }

    /// A response straight from the mock, bypassing the gateway.
    func direct(_ port: UInt16, _ target: String) throws -> WireResponse {
        try RawClient(port: port).exchange(get(target, headers: "Connection: close\r\n"))
    }

    func testPassthroughRouteStreamsUpstreamErrorsUnchanged() throws {
        let targets = [
            "/v1/raw/x?fail=json&status=409&code=session_disconnected&message=\(Self.offline)",
            "/v1/raw/x?fail=json&status=500&dialect=upper",
            "/v1/raw/x?fail=html502",
            "/v1/raw/x?fail=text&status=503",
            "/v1/raw/x?fail=oversized",
        ]
        for vocabulary in Vocabulary.allCases {
            let c = try RawClient(port: gateway(vocabulary).gatewayPort)
            for target in targets {
                let label = "\(target) [\(vocabulary)]"
                let expected = try direct(mockPort(vocabulary), target)
                let response = try c.exchange(get(target))
                XCTAssertEqual(response.status, expected.status, label)
                XCTAssertEqual(response.body, expected.body, "[\(label)] body must be streamed unchanged")
                XCTAssertEqual(response.header("Content-Type"), expected.header("Content-Type"), label)
                XCTAssertEqual(response.headers("Retry-After"), expected.headers("Retry-After"), "[\(label)] nothing added")
                XCTAssertNotNil(response.header("X-Request-Id"), label)
            }
        }
    }

    func testSuccessfulResponsesAreByteIdenticalToTheUpstreams() throws {
        let targets = ["/v1/sessions/abc", "/v1/messages/m-42", "/v1/bytes/70000", "/v1/bytes/5000?chunked=1",
                       "/v1/bytes/0", "/v1/sessions/x?fail=status&status=204"]
        for vocabulary in Vocabulary.allCases {
            let c = try RawClient(port: gateway(vocabulary).gatewayPort)
            for target in targets {
                let label = "\(target) [\(vocabulary)]"
                let expected = try direct(mockPort(vocabulary), target)
                let response = try c.exchange(get(target))
                XCTAssertEqual(response.status, expected.status, label)
                XCTAssertEqual(response.body.count, expected.body.count, label)
                XCTAssertEqual(sha256Hex(response.body), sha256Hex(expected.body), "[\(label)] body must be untouched")
                XCTAssertEqual(response.header("Content-Type"), expected.header("Content-Type"), label)
                XCTAssertNil(response.header("Retry-After"), label)
            }
        }
    }

    func testEmptyUpstreamBodiesKeepContentLengthZeroOnKeepAlive() throws {
        // Without a length (or chunking, or Connection: close) RFC 9112 §6.3 would make the body run until
        // the connection closes: the next response on a kept-alive connection would be swallowed.
        for target in ["/v1/bytes/0", "/v1/sessions/x?fail=status&status=302", "/v1/sessions/x?fail=status&status=200"] {
            let expected = try direct(snakeMock, target)
            XCTAssertEqual(expected.header("Content-Length"), "0", "the mock frames it: \(target)")
            let c = try RawClient(port: snake.gatewayPort, timeout: 2)
            try c.send(get(target) + get("/v1/sessions/next"))
            let first = try c.readResponse()
            XCTAssertEqual(first.status, expected.status, target)
            XCTAssertEqual(first.headers("Content-Length"), ["0"], "[\(target)] \(first.headers)")
            XCTAssertNil(first.header("Transfer-Encoding"), target)
            XCTAssertNotEqual(first.header("Connection")?.lowercased(), "close", "[\(target)] the connection is kept")
            // The pipelined second request gets its own response, not swallowed as "body".
            let second = try c.readResponse()
            XCTAssertEqual(second.status, 200, "[\(target)] the next response on the connection")
            XCTAssertEqual((second.json["data"] as? [String: Any])?["id"] as? String, "next", target)
        }
    }

    func testClientContentLengthZeroIsForwarded() throws {
        let c = try RawClient(port: snake.gatewayPort)
        let response = try c.exchange("POST /v1/echo HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n")
        XCTAssertEqual(response.status, 200, response.text)
        XCTAssertEqual(response.json["method"] as? String, "POST")
        let lengths = (response.json["headers"] as? [[String]] ?? []).filter { $0[0].lowercased() == "content-length" }.map { $0[1] }
        XCTAssertEqual(lengths, ["0"], "the upstream sees the client's Content-Length: 0: \(response.text)")
        XCTAssertEqual((response.json["body_length"] as? NSNumber)?.intValue, 0)
        // And the connection is still in step.
        XCTAssertEqual(try c.exchange(get("/v1/sessions/after")).status, 200)
    }

    func testClientRequestIDReachesTheUpstreamAndTheEnvelope() throws {
        let c = try RawClient(port: snake.gatewayPort)
        let echoed = try c.exchange(get("/v1/echo", headers: "X-Request-Id: trace-5-abc\r\n"))
        XCTAssertEqual(echoed.status, 200)
        let upstreamIDs = (echoed.json["headers"] as? [[String]] ?? []).filter { $0[0].lowercased() == "x-request-id" }.map { $0[1] }
        XCTAssertEqual(upstreamIDs, ["trace-5-abc"], "exactly the client's id reaches the upstream")
        XCTAssertEqual(echoed.header("X-Request-Id"), "trace-5-abc")

        let failed = try c.exchange(get("/v1/sessions/missing", headers: "X-Request-Id: trace-5-abc\r\n"))
        let error = assertEnvelope(failed, status: 404, code: "session_not_found", retryAfter: false)
        XCTAssertEqual(error["request_id"] as? String, "trace-5-abc")
    }

    func testMintedRequestIDReachesTheUpstreamAndTheEnvelope() throws {
        let c = try RawClient(port: upper.gatewayPort)
        let echoed = try c.exchange(get("/v1/echo"))
        let minted = try XCTUnwrap(echoed.header("X-Request-Id"))
        let upstreamIDs = (echoed.json["headers"] as? [[String]] ?? []).filter { $0[0].lowercased() == "x-request-id" }.map { $0[1] }
        XCTAssertEqual(upstreamIDs, [minted], "the minted id is the one the upstream sees")
        // And on an error path, the envelope's id is what the upstream logged: the mock saw the same header.
        let failed = try c.exchange(get("/v1/sessions/x?fail=json&status=422&code=INVALID_PHONE_NUMBER"))
        let error = assertEnvelope(failed, status: 422, code: "INVALID_PHONE_NUMBER", retryAfter: false)
        XCTAssertEqual(error["request_id"] as? String, failed.header("X-Request-Id"))
        XCTAssertNotEqual(error["request_id"] as? String, minted, "a new id per request")
    }
}
