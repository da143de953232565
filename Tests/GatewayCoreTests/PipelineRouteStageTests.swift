import XCTest
@testable import GatewayCore

final class PipelineRouteStageTests: XCTestCase {
    private enum Outcome: Equatable {
        case proceed(prefix: String)
        case reject(GatewayErrorKind, message: String, details: [String: ErrorDetail], extraHeaders: String)
    }

    private func route(_ prefix: String, _ methods: [String]? = nil, maxBody: Int64 = 1 << 20, upstream: Int = 0) -> CompiledRoute {
        CompiledRoute(config: RouteConfig(prefix: prefix, upstream: "u\(upstream)", methods: methods, maxBody: maxBody),
                      upstreamIndex: upstream, index: 0)
    }

    private func admit(_ stage: RouteStage, _ request: String, file: StaticString = #filePath, line: UInt = #line) -> Outcome? {
        var input = bytes(request)
        let context = RequestContext()
        return input.withUnsafeMutableBufferPointer { b -> Outcome? in
            // As the gateway does: the stage sees the head after the target was normalised in place.
            var parser = RequestHeadParser(limits: testHeadLimits)
            guard case .complete = parser.parse(b.baseAddress!, count: b.count), parser.normalizeTarget(b.baseAddress!) == nil else {
                XCTFail("request did not parse: \(request)", file: file, line: line)
                return nil
            }
            context.reset(method: parser.head.method, monotonicMillis: 0, wallMillis: 0)
            switch stage.onRequestHead(parser.head, bytes: UnsafePointer(b.baseAddress!), context: context) {
            case .proceed:
                guard let matched = context.route else {
                    XCTFail("proceed without a route", file: file, line: line)
                    return nil
                }
                return .proceed(prefix: matched.config.prefix)
            case .reject(let error):
                XCTAssertNil(context.route, "a rejected request has no route", file: file, line: line)
                return .reject(error.kind, message: error.message,
                               details: Dictionary(uniqueKeysWithValues: error.details.map { ($0.0, $0.1) }),
                               extraHeaders: text(context.extraResponseHeaders))
            case .suspend, .answerAfterBody:
                XCTFail("the route stage never waits nor answers from a body", file: file, line: line)
                return nil
            }
        }
    }

    private func get(_ path: String, method: String = "GET", extra: String = "") -> String {
        "\(method) \(path) HTTP/1.1\r\nHost: h\r\n\(extra)\r\n"
    }

    func testLongestPrefixWins() {
        let stage = RouteStage(routes: [route("/v1/"), route("/"), route("/v1/users"), route("/v2")])
        let cases: [(String, String)] = [
            ("/v1/users/42", "/v1/users"), ("/v1/users", "/v1/users"), ("/v1/user", "/v1/"), ("/v1/", "/v1/"),
            ("/v1", "/"), ("/v2", "/v2"), ("/v2x/y", "/v2"), ("/", "/"), ("/other", "/"),
            ("/v1/users?x=1", "/v1/users"), ("/v1?/users", "/"), ("/v2?q", "/v2"),
        ]
        for (path, prefix) in cases {
            XCTAssertEqual(admit(stage, get(path)), .proceed(prefix: prefix), path)
        }
    }

    func testTheNormalisedPathIsMatched() {
        let stage = RouteStage(routes: [route("/v1/admin/"), route("/v1/"), route("/healthz")])
        let cases: [(String, String)] = [
            ("/v1/x/../admin/a", "/v1/admin/"), ("/v1/x/%2e%2e/admin/a", "/v1/admin/"), ("/v1/x/.%2e/admin/a", "/v1/admin/"),
            ("/v1/%61dmin/a", "/v1/admin/"), ("/v1//admin/a", "/v1/admin/"), ("/v1/./admin/a", "/v1/admin/"),
            ("/healthz/../v1/sessions/demo", "/v1/"), ("http://h/v1/x/../admin/?q=/../", "/v1/admin/"),
            ("/v1/admin?/../x", "/v1/"),
        ]
        for (target, prefix) in cases {
            XCTAssertEqual(admit(stage, get(target)), .proceed(prefix: prefix), target)
        }
    }

    func testNoMatchIs404() {
        let stage = RouteStage(routes: [route("/api"), route("/api/v2/long/prefix")])
        let notFound = Outcome.reject(.resourceNotFound, message: "No route matches this path", details: [:], extraHeaders: "")
        for path in ["/", "/ap", "/API", "/other/api", "/ap?i", "/api/../x", "/%41pi"] {
            XCTAssertEqual(admit(stage, get(path)), notFound, path)
        }
        XCTAssertEqual(admit(stage, get("/api?x")), .proceed(prefix: "/api"))
        XCTAssertEqual(admit(RouteStage(routes: []), get("/")), notFound)
    }

    func testMethodNotAllowed() {
        let stage = RouteStage(routes: [route("/ro", ["GET", "HEAD"]), route("/custom", ["POST", "PURGE"]), route("/any")])
        let roRejected = Outcome.reject(.methodNotAllowed, message: "Method not allowed on this route",
                                        details: ["allowed": .string("GET, HEAD")], extraHeaders: "Allow: GET, HEAD\r\n")
        XCTAssertEqual(admit(stage, get("/ro/x")), .proceed(prefix: "/ro"))
        XCTAssertEqual(admit(stage, get("/ro/x", method: "HEAD")), .proceed(prefix: "/ro"))
        for method in ["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PURGE", "get"] {
            XCTAssertEqual(admit(stage, get("/ro/x", method: method)), roRejected, method)
        }
        let customRejected = Outcome.reject(.methodNotAllowed, message: "Method not allowed on this route",
                                            details: ["allowed": .string("POST, PURGE")], extraHeaders: "Allow: POST, PURGE\r\n")
        XCTAssertEqual(admit(stage, get("/custom", method: "PURGE")), .proceed(prefix: "/custom"))
        XCTAssertEqual(admit(stage, get("/custom", method: "POST")), .proceed(prefix: "/custom"))
        for method in ["GET", "PURG", "PURGES", "purge", "X"] {
            XCTAssertEqual(admit(stage, get("/custom", method: method)), customRejected, method)
        }
        for method in ["GET", "POST", "DELETE", "PURGE", "BREW"] {
            XCTAssertEqual(admit(stage, get("/any", method: method)), .proceed(prefix: "/any"), method)
        }
    }

    func testDeclaredBodyOverTheLimit() {
        let stage = RouteStage(routes: [route("/small", maxBody: 10), route("/none", ["GET"], maxBody: 0)])
        XCTAssertEqual(admit(stage, get("/small", method: "POST", extra: "Content-Length: 10\r\n")), .proceed(prefix: "/small"))
        XCTAssertEqual(admit(stage, get("/small", method: "POST", extra: "Transfer-Encoding: chunked\r\n")), .proceed(prefix: "/small"),
                       "a chunked body is limited while it streams")
        XCTAssertEqual(admit(stage, get("/small", method: "POST", extra: "Content-Length: 11\r\n")),
                       .reject(.requestTooLarge, message: "Request body exceeds the limit of 10 bytes",
                               details: ["limit": .int(10)], extraHeaders: ""))
        XCTAssertEqual(admit(stage, get("/none", extra: "Content-Length: 0\r\n")), .proceed(prefix: "/none"))
        // 405 is decided before 413.
        guard case .reject(let kind, _, _, _)? = admit(stage, get("/none", method: "PUT", extra: "Content-Length: 5\r\n")) else {
            return XCTFail("expected a rejection")
        }
        XCTAssertEqual(kind, .methodNotAllowed)
    }

    func testCompiledRouteMethodMask() {
        let limited = route("/x", ["GET", "DELETE", "MKCOL"])
        XCTAssertEqual(limited.allowHeader, "GET, DELETE, MKCOL")
        let cases: [(HTTPMethod, String, Bool)] = [
            (.get, "GET", true), (.delete, "DELETE", true), (.head, "HEAD", false), (.post, "POST", false),
            (.put, "PUT", false), (.patch, "PATCH", false), (.options, "OPTIONS", false),
            (.other, "MKCOL", true), (.other, "MKCO", false), (.other, "MKCOLS", false), (.other, "mkcol", false),
        ]
        for (method, name, expected) in cases {
            let allowed = bytes(name).withUnsafeBufferPointer { limited.allows(method, name: $0.baseAddress!, length: $0.count) }
            XCTAssertEqual(allowed, expected, name)
        }
        let open = route("/y", nil, upstream: 3)
        XCTAssertEqual(open.upstreamIndex, 3)
        for (method, name) in [(HTTPMethod.get, "GET"), (.patch, "PATCH"), (.other, "ANYTHING")] {
            XCTAssertTrue(bytes(name).withUnsafeBufferPointer { open.allows(method, name: $0.baseAddress!, length: $0.count) }, name)
        }
        let none = route("/z", [])
        XCTAssertFalse(bytes("GET").withUnsafeBufferPointer { none.allows(.get, name: $0.baseAddress!, length: 3) })
        XCTAssertFalse(bytes("X").withUnsafeBufferPointer { none.allows(.other, name: $0.baseAddress!, length: 1) })
    }

    func testTooLargeError() {
        let error = RouteStage.tooLarge(route("/", maxBody: 1 << 20))
        XCTAssertEqual(error.kind, .requestTooLarge)
        XCTAssertEqual(error.message, "Request body exceeds the limit of 1048576 bytes")
        XCTAssertEqual(error.details.map(\.0), ["limit"])
        XCTAssertEqual(error.details.first?.1, .int(1_048_576))
    }
}
