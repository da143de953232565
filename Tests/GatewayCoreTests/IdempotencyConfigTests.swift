import XCTest
@testable import GatewayCore

final class IdempotencyConfigTests: XCTestCase {
    func testDefaults() throws {
        let config = try parseConfig(minimalConfig + "route / { upstream u; }")
        XCTAssertEqual(config.idempotency, IdempotencyConfig())
        XCTAssertEqual(config.idempotency.limits, IdempotencyLimits(ttlMs: 86_400_000, maxMemory: 256 << 20, maxResponseSize: 1 << 20))
        XCTAssertEqual(config.idempotency.conflictStatus, 409)
        XCTAssertNil(config.idempotency.journalPath)
        XCTAssertEqual(config.idempotency.sync, .interval(ms: 1000))
        XCTAssertEqual(config.routes[0].idempotency.mode, .optional)
        XCTAssertEqual(config.routes[0].idempotency.methods, ["POST", "PATCH"])
    }

    func testEveryDirective() throws {
        let config = try parseConfig(minimalConfig + """
            route /v1/ { upstream u; idempotency required; idempotency_methods POST PUT DELETE; }
            route /v2/ { upstream u; idempotency off; }
            idempotency {
                ttl 1h;
                max_memory 1g;
                max_response_size 2m;
                conflict_status 422;
                journal state/idempotency.journal;
                fsync interval;
                fsync_interval 250ms;
            }
            """)
        let idempotency = config.idempotency
        XCTAssertEqual(idempotency.limits, IdempotencyLimits(ttlMs: 3_600_000, maxMemory: 1 << 30, maxResponseSize: 2 << 20))
        XCTAssertEqual(idempotency.conflictStatus, 422)
        XCTAssertEqual(idempotency.journalPath, "/nonexistent/state/idempotency.journal", "relative to the config's directory")
        XCTAssertEqual(idempotency.sync, .interval(ms: 250))
        XCTAssertEqual(config.routes[0].idempotency.mode, .required)
        XCTAssertEqual(config.routes[0].idempotency.methods, ["POST", "PUT", "DELETE"])
        XCTAssertEqual(config.routes[1].idempotency.mode, .off)

        for (text, policy) in [("always", JournalSyncPolicy.always), ("never", .never)] {
            let other = try parseConfig(minimalConfig + "idempotency { fsync \(text); journal /var/lib/g.journal; }")
            XCTAssertEqual(other.idempotency.sync, policy)
            XCTAssertEqual(other.idempotency.journalPath, "/var/lib/g.journal")
        }
        XCTAssertNil(try parseConfig(minimalConfig + "idempotency { journal off; }").idempotency.journalPath)
    }

    func testErrors() {
        assertConfigError(minimalConfig + "route / { upstream u; idempotency maybe; }", at: "test.conf:3:35",
                          ["'idempotency'", "required or optional or off", "\"maybe\""])
        assertConfigError(minimalConfig + "route / { upstream u; idempotency_methods POST get; }", at: "test.conf:3:48",
                          ["upper-case HTTP method"])
        assertConfigError(minimalConfig + "route / { upstream u; idempotency_methods POST GET; }", at: "test.conf:3:48",
                          ["GET and HEAD need no key"])
        assertConfigError(minimalConfig + "idempotency { ttl 0s; }", at: "test.conf:3:19", ["'ttl'", "1s...30d"])
        assertConfigError(minimalConfig + "idempotency { conflict_status 410; }", at: "test.conf:3:31", ["409 or 422"])
        assertConfigError(minimalConfig + "idempotency { fsync sometimes; }", at: "test.conf:3:21", ["always or interval or never"])
        assertConfigError(minimalConfig + "idempotency { max_response_size 65m; }", at: "test.conf:3:33", ["1k...64m"])
        assertConfigError(minimalConfig + "idempotency {\n    max_memory 16m;\n}", at: "test.conf:4:5",
                          ["'max_memory'", "too small", "64 shards"])
        assertConfigError(minimalConfig + "idempotency { unknown_outcome_lock 60s; }", at: "test.conf:3:15",
                          ["'unknown_outcome_lock' has been removed", "until its 'ttl' ends", "never executes the request a second time"])
        assertConfigError(minimalConfig + "idempotency { tll 1h; }", at: "test.conf:3:15", ["did you mean 'ttl'?"])
        assertConfigError(minimalConfig + "route / { upstream u; ttl 1h; }", at: "test.conf:3:23",
                          ["inside the 'idempotency' block"])
        assertConfigError(minimalConfig + "idempotency required;", at: "test.conf:3:1", ["needs a block", "idempotency { ... }"])
        assertConfigError(minimalConfig + "idempotency { }\nidempotency { }", at: "test.conf:4:1", ["duplicate 'idempotency'"])
    }
}
