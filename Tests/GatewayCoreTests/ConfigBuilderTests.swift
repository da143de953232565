import XCTest
@testable import GatewayCore

/// Smallest valid config; tests append the directives they exercise.
let minimalConfig = "listen 8080;\nupstream u { server 127.0.0.1:9000; }\n"

func parseConfig(_ text: String) throws(ConfigError) -> GatewayConfig {
    try GatewayConfig.parse(text: text, file: "test.conf", baseDirectory: "/nonexistent")
}

/// Asserts that `text` fails with an error at `at` ("file:line:col") whose message contains every `mentions` entry.
func assertConfigError(
    _ text: String, at: String, _ mentions: [String], file: StaticString = #filePath, line: UInt = #line
) {
    do {
        _ = try parseConfig(text)
        XCTFail("expected an error for:\n\(text)", file: file, line: line)
    } catch {
        let description = error.description
        XCTAssertTrue(description.hasPrefix(at + ": "), "wrong position: \(description)", file: file, line: line)
        for word in mentions {
            XCTAssertTrue(description.contains(word), "'\(word)' missing from: \(description)", file: file, line: line)
        }
    }
}

final class ConfigBuilderTests: XCTestCase {
    func testDefaults() throws {
        let config = try parseConfig(minimalConfig + "route / { upstream u; }")
        XCTAssertEqual(config.sourceFile, "test.conf")
        XCTAssertEqual(config.listen, [ListenAddress(host: "0.0.0.0", port: 8080)])
        XCTAssertNil(config.workers)
        XCTAssertEqual(config.accessLog, AccessLogConfig(destination: .off, format: .json))
        XCTAssertNil(config.adminListen)
        let client = config.client
        XCTAssertEqual(client.headerTimeoutMs, 10_000)
        XCTAssertEqual(client.bodyTimeoutMs, 30_000)
        XCTAssertEqual(client.keepaliveTimeoutMs, 75_000)
        XCTAssertEqual(client.sendTimeoutMs, 60_000)
        XCTAssertEqual(client.keepaliveRequests, 10_000)
        XCTAssertEqual(client.maxRequestLine, 8192)
        XCTAssertEqual(client.maxHeaderSize, 16_384)
        XCTAssertEqual(client.maxHeaders, 100)
        let upstream = try XCTUnwrap(config.upstreams["u"])
        XCTAssertEqual(upstream.name, "u")
        XCTAssertEqual(upstream.servers, [UpstreamServer(host: "127.0.0.1", port: 9000, weight: 1, maxFails: 1, failTimeoutMs: 10_000)])
        XCTAssertEqual(upstream.connectTimeoutMs, 2_000)
        XCTAssertEqual(upstream.responseTimeoutMs, 30_000)
        XCTAssertEqual(upstream.keepalive, 64)
        XCTAssertEqual(upstream.keepaliveTimeoutMs, 60_000)
        XCTAssertEqual(upstream.maxResponseHeaderSize, 32_768)
        let route = config.routes[0]
        XCTAssertEqual(route.prefix, "/")
        XCTAssertEqual(route.upstream, "u")
        XCTAssertNil(route.methods)
        XCTAssertEqual(route.maxBody, 1 << 20)
        XCTAssertEqual(route.errors, .rewrite)
        XCTAssertEqual(config.errors.vocabulary, .snake)
        XCTAssertEqual(config.errors.retryAfterDefaultSeconds, 5)
        XCTAssertEqual(config.errors.rewriteBufferSize, 65_536)
        XCTAssertEqual(config.errors.overrides, [])
    }

    func testEveryDirective() throws {
        let config = try parseConfig("""
            listen 127.0.0.1:8080;
            listen [::1]:8443;
            workers 4;
            client_header_timeout 5s;
            client_body_timeout 500ms;
            keepalive_timeout 2m;
            send_timeout 1h;
            keepalive_requests 50;
            max_request_line 4k;
            max_header_size 1m;
            max_headers 20;
            access_log on;
            upstream "messaging" {
                server 10.0.0.1:9000 weight=3 max_fails=0 fail_timeout=1m;
                server backend.local:9001;
                connect_timeout 250ms;
                response_timeout 1d;
                keepalive 0;
                keepalive_timeout 90;
                max_response_header 64k;
            }
            route /v1/ {
                upstream messaging;
                methods GET POST M-SEARCH;
                max_body 100m;
                errors passthrough;
            }
            errors {
                vocabulary upper;
                retry_after_default 1500ms;
                rewrite_buffer 1m;
                map SESSION_DISCONNECTED session_disconnected 409;
                map rate.limited TOO_MANY 429;
            }
            """)
        XCTAssertEqual(config.listen, [ListenAddress(host: "127.0.0.1", port: 8080), ListenAddress(host: "::1", port: 8443)])
        XCTAssertEqual(config.workers, 4)
        XCTAssertEqual(config.client.headerTimeoutMs, 5_000)
        XCTAssertEqual(config.client.bodyTimeoutMs, 500)
        XCTAssertEqual(config.client.keepaliveTimeoutMs, 120_000)
        XCTAssertEqual(config.client.sendTimeoutMs, 3_600_000)
        XCTAssertEqual(config.client.keepaliveRequests, 50)
        XCTAssertEqual(config.client.maxRequestLine, 4096)
        XCTAssertEqual(config.client.maxHeaderSize, 1 << 20)
        XCTAssertEqual(config.client.maxHeaders, 20)
        XCTAssertEqual(config.accessLog, AccessLogConfig(destination: .stderr, format: .json))
        let upstream = try XCTUnwrap(config.upstreams["messaging"])
        XCTAssertEqual(upstream.servers, [
            UpstreamServer(host: "10.0.0.1", port: 9000, weight: 3, maxFails: 0, failTimeoutMs: 60_000),
            UpstreamServer(host: "backend.local", port: 9001),
        ])
        XCTAssertEqual(upstream.connectTimeoutMs, 250)
        XCTAssertEqual(upstream.responseTimeoutMs, 86_400_000)
        XCTAssertEqual(upstream.keepalive, 0)
        XCTAssertEqual(upstream.keepaliveTimeoutMs, 90_000)
        XCTAssertEqual(upstream.maxResponseHeaderSize, 65_536)
        XCTAssertEqual(config.routes.count, 1)
        XCTAssertEqual(config.routes[0].methods, ["GET", "POST", "M-SEARCH"])
        XCTAssertEqual(config.routes[0].maxBody, 100 << 20)
        XCTAssertEqual(config.routes[0].errors, .passthrough)
        XCTAssertEqual(config.errors.vocabulary, .upper)
        XCTAssertEqual(config.errors.retryAfterDefaultSeconds, 2, "rounded up to whole seconds")
        XCTAssertEqual(config.errors.rewriteBufferSize, 1 << 20)
        XCTAssertEqual(config.errors.overrides, [
            ErrorCodeOverride(upstreamCode: "SESSION_DISCONNECTED", code: "session_disconnected", status: 409),
            ErrorCodeOverride(upstreamCode: "rate.limited", code: "TOO_MANY", status: 429),
        ])
    }

    func testUpstreamMayBeDefinedAfterTheRouteUsingIt() throws {
        let config = try parseConfig("listen 80;\nroute /a { upstream late; }\nupstream late { server h:1; }")
        XCTAssertEqual(config.routes[0].upstream, "late")
    }

    func testBadValuesNameDirectiveAndExpectedForm() {
        let cases: [(String, String, [String])] = [
            ("workers 0;", "3:9", ["'workers'", "auto or an integer in 1...256", "got \"0\""]),
            ("workers many;", "3:9", ["'workers'", "auto or an integer"]),
            ("client_header_timeout 10x;", "3:23", ["'client_header_timeout'", "a duration such as 500ms", "1ms...1d"]),
            ("client_body_timeout 0;", "3:21", ["'client_body_timeout'", "duration"]),
            ("keepalive_timeout 2d;", "3:19", ["'keepalive_timeout'", "1ms...1d"]),
            ("send_timeout -1;", "3:14", ["'send_timeout'"]),
            ("keepalive_requests 0;", "3:20", ["'keepalive_requests'", "an integer in 1...1000000000"]),
            ("max_request_line 100;", "3:18", ["'max_request_line'", "a size such as 512, 16k or 1m, in 256...1m"]),
            ("max_header_size 512;", "3:17", ["'max_header_size'", "1k...1m"]),
            ("max_header_size 2m;", "3:17", ["'max_header_size'", "1k...1m"]),
            ("max_headers lots;", "3:13", ["'max_headers'", "integer"]),
            ("access_log stderr format=xml;", "3:19", ["'access_log'", "format=json or format=text"]),
            ("access_log stderr json;", "3:19", ["'access_log'", "format=json or format=text"]),
            ("access_log a b c;", "3:16", ["'access_log'", "too many arguments", "PATH|stderr|off [format=json|text]"]),
            ("admin_listen 9901;", "3:14", ["'admin_listen'", "HOST:PORT"]),
            ("listen 127.0.0.1;", "3:8", ["'listen'", "HOST:PORT"]),
            ("listen 70000;", "3:8", ["'listen'", "1...65535"]),
            ("upstream v { server 8080; }", "3:21", ["'server'", "HOST:PORT"]),
            ("upstream v { server h:1 weight=0; }", "3:25", ["'server weight='", "1...1000"]),
            ("upstream v { server h:1 max_fails=x; }", "3:25", ["'server max_fails='", "0...1000"]),
            ("upstream v { server h:1 fail_timeout=1y; }", "3:25", ["'server fail_timeout='", "duration"]),
            ("upstream v { server h:1 wieght=2; }", "3:25", ["'server': unknown option 'wieght='", "did you mean 'weight='?"]),
            ("upstream v { server h:1 weight; }", "3:25", ["'server'", "weight=N"]),
            ("upstream v { server h:1 color=red; }", "3:25", ["unknown option 'color='", "expected weight=N"]),
            ("upstream v { server h:1 weight=1 weight=2; }", "3:34", ["duplicate option 'weight='"]),
            ("upstream v { server h:1; keepalive -1; }", "3:36", ["'keepalive'", "0...100000"]),
            ("upstream v { server h:1; max_response_header 100; }", "3:46", ["'max_response_header'", "1k...1m"]),
            ("upstream v { server h:1; connect_timeout 0ms; }", "3:42", ["'connect_timeout'"]),
            ("route v1 { upstream u; }", "3:7", ["'route'", "starting with '/'"]),
            ("route / { upstream u; methods get; }", "3:31", ["'methods'", "upper-case HTTP method"]),
            ("route / { upstream u; methods \"GE T\"; }", "3:31", ["'methods'", "upper-case HTTP method"]),
            ("route / { upstream u; methods GET GET; }", "3:35", ["'methods'", "listed twice"]),
            ("route / { upstream u; max_body lots; }", "3:32", ["'max_body'", "size"]),
            ("route / { upstream u; errors hide; }", "3:30", ["'errors'", "rewrite or passthrough"]),
            ("errors { vocabulary camel; }", "3:21", ["'vocabulary'", "snake or upper"]),
            ("errors { retry_after_default soon; }", "3:30", ["'retry_after_default'", "duration"]),
            ("errors { rewrite_buffer 1g; }", "3:25", ["'rewrite_buffer'", "1k...16m"]),
            ("errors { map A B 600; }", "3:18", ["'map'", "100...599"]),
            ("errors { map A \"b c\" 409; }", "3:16", ["'map'", "error code"]),
            ("errors { map A b 409; map A c 410; }", "3:27", ["'map'", "already mapped"]),
        ]
        for (text, at, mentions) in cases {
            assertConfigError(minimalConfig + text, at: "test.conf:" + at, mentions)
        }
    }

    func testStructuralErrors() {
        let cases: [(String, String, [String])] = [
            ("wokers 4;", "3:1", ["unknown directive 'wokers' at top level", "did you mean 'workers'?"]),
            ("frobnicate;", "3:1", ["unknown directive 'frobnicate'", "expected one of: include, listen"]),
            ("upstream v { sever h:1; }", "3:14", ["inside an 'upstream' block", "did you mean 'server'?"]),
            ("route / { upstream u; max_bdy 1k; }", "3:23", ["did you mean 'max_body'?"]),
            ("errors { vocabluary snake; }", "3:10", ["did you mean 'vocabulary'?"]),
            ("server h:1;", "3:1", ["'server' is not allowed at top level", "inside an 'upstream' block"]),
            ("upstream v { server h:1; include x.conf; }", "3:26", ["'include' is not allowed inside an 'upstream' block"]),
            ("workers 2;\nworkers 3;", "4:1", ["duplicate 'workers'", "already set at test.conf:3:1"]),
            ("errors { }\nerrors { }", "4:1", ["duplicate 'errors'"]),
            ("upstream u { server h:2; }", "3:1", ["duplicate 'upstream u'", "test.conf:2:1"]),
            ("upstream v { server h:1; keepalive 1; keepalive 2; }", "3:39", ["duplicate 'keepalive'"]),
            ("route /a { upstream u; }\nroute /a { upstream u; }", "4:1", ["duplicate 'route /a'", "test.conf:3:1"]),
            ("workers;", "3:1", ["'workers': missing argument", "expected: workers auto|N;"]),
            ("workers 1 2;", "3:11", ["'workers': too many arguments"]),
            ("workers 4\naccess_log on;", "4:1", ["too many arguments", "missing ';' at the end of line 3?"]),
            ("errors x { }", "3:8", ["'errors': too many arguments", "errors { ... }"]),
            ("listen 80 { }", "3:1", ["'listen' does not take a block", "listen [HOST:]PORT [ssl];"]),
            ("upstream v;", "3:1", ["'upstream' needs a block", "upstream NAME { ... }"]),
            ("errors { map A b; }", "3:10", ["'map': too few arguments", "map UPSTREAM_CODE CODE STATUS;"]),
            ("route /b { methods GET; }", "3:1", ["'route /b' has no upstream", "upstream NAME;"]),
        ]
        for (text, at, mentions) in cases {
            assertConfigError(minimalConfig + text, at: "test.conf:" + at, mentions)
        }
    }

    func testValidationErrors() {
        assertConfigError(
            "upstream u { server h:1; }", at: "test.conf:1:1", ["no 'listen' directive", "listen 127.0.0.1:8080;"])
        assertConfigError("listen 80;\nupstream empty { }", at: "test.conf:2:1", ["'upstream empty' has no servers", "server HOST:PORT;"])
        assertConfigError(minimalConfig + "route / {\n  upstream uu;\n}", at: "test.conf:4:12", ["no upstream named 'uu'", "did you mean 'u'?"])
        assertConfigError(minimalConfig + "route / { upstream other_name; }", at: "test.conf:3:20", ["no upstream named 'other_name'", "upstream NAME { ... }"])
        assertConfigError(
            minimalConfig + "max_request_line 16k;\nmax_header_size 8k;", at: "test.conf:3:1",
            ["'max_request_line' (16384) exceeds 'max_header_size' (8192)"])
        assertConfigError(
            minimalConfig + "max_header_size 4k;", at: "test.conf:3:1", ["'max_request_line' (8192) exceeds 'max_header_size' (4096)"])
    }

    func testAccessLogDestinationsAndFormats() throws {
        let cases: [(String, AccessLogConfig)] = [
            ("access_log off;", AccessLogConfig(destination: .off)),
            ("access_log on;", AccessLogConfig(destination: .stderr)),
            ("access_log stderr format=text;", AccessLogConfig(destination: .stderr, format: .text)),
            ("access_log /var/log/gateway/access.log;", AccessLogConfig(destination: .file("/var/log/gateway/access.log"))),
            ("access_log logs/access.log format=json;", AccessLogConfig(destination: .file("/etc/gw/logs/access.log"))),
        ]
        for (text, expected) in cases {
            let config = try GatewayConfig.parse(text: minimalConfig + text, file: "/etc/gw/gateway.conf", baseDirectory: "/etc/gw")
            XCTAssertEqual(config.accessLog, expected, text)
        }
    }

    func testAdminListenIsNeverAPublicListener() throws {
        XCTAssertEqual(try parseConfig("listen 127.0.0.1:8080;\nupstream u { server h:1; }\nadmin_listen 127.0.0.1:9901;").adminListen,
                       ListenAddress(host: "127.0.0.1", port: 9901))
        for (listen, admin) in [("127.0.0.1:8080", "127.0.0.1:8080"), ("8080", "127.0.0.1:8080"), ("[::1]:8080", "[::1]:8080"),
                                ("127.0.0.1:8080", "0.0.0.0:8080")] {
            assertConfigError("listen \(listen);\nupstream u { server h:1; }\nadmin_listen \(admin);", at: "test.conf:3:14",
                              ["'admin_listen'", "is also served by 'listen", "at test.conf:1:8", "expected another port"])
        }
    }

    func testErrorDescriptionFormat() {
        let error = ConfigError(file: "a.conf", line: 3, column: 7, message: "boom")
        XCTAssertEqual(error.description, "a.conf:3:7: boom")
    }
}
