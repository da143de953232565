import Foundation
import XCTest
@testable import GatewayCore

final class PolicyConfigTests: XCTestCase {
    private let plan = "plan free { rate 100/m burst 20; concurrency 5; daily_quota 1000; }\n"
    private let testHash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

    func testPlansKeysAndTopLevelDirectives() throws {
        let config = try parseConfig(minimalConfig + plan + """
        key sha256:\(testHash) { plan free; scopes messages:write sessions:read; expires 2027-01-01T00:00:00Z; rate 10/s burst 5; }
        key sha256:\(String(repeating: "A", count: 64)) { plan free; revoked; }
        anonymous { rate 10/s; }
        global_concurrency 1000;
        rate_limit_headers legacy;
        daily_quota_reset 06:30;
        route /v1/messages { upstream u; auth required; scope messages:write; rate 10/h burst 5; quota counts POST PUT; }
        route /v1/ { upstream u; quota counts; }
        """)
        let access = config.access
        XCTAssertEqual(access.policies.map(\.name), ["free", "free"])
        XCTAssertEqual(access.policies[0].limits, PolicyLimits(rate: TokenRate(count: 100, periodMs: 60_000, burst: 20), concurrency: 5, dailyQuota: 1000))
        XCTAssertEqual(access.policies[1].limits.rate, TokenRate(count: 10, periodMs: 1000, burst: 5))
        XCTAssertEqual(access.policies[1].limits.concurrency, 5)
        XCTAssertEqual(access.keys.count, 2)
        XCTAssertEqual(access.keys.entries[0], KeyEntry(policy: 1, scopes: 0b11, expiresAtMs: 1_798_761_600_000))
        XCTAssertEqual(access.keys.entries[1], KeyEntry(policy: 0, revoked: true))
        XCTAssertEqual(access.scopeNames, ["messages:write", "sessions:read"])
        XCTAssertEqual(access.anonymousRate, TokenRate(count: 10, periodMs: 1000, burst: 10))
        XCTAssertEqual(access.globalConcurrency, 1000)
        XCTAssertEqual(access.headers, .legacy)
        XCTAssertEqual(access.quotaResetOffsetMs, 23_400_000)
        XCTAssertTrue(access.warnings.isEmpty)
        let messages = config.routes[0]
        XCTAssertEqual(messages.auth, .required)
        XCTAssertEqual(messages.scopeMask, 1)
        XCTAssertEqual(messages.rate, TokenRate(count: 10, periodMs: 3_600_000, burst: 5))
        XCTAssertEqual(messages.quota, .methods([.post, .put]))
        XCTAssertEqual(config.routes[1].auth, .public)
        XCTAssertEqual(config.routes[1].quota, .all)
    }

    func testPlainKeysAreHashedAndWarnedAboutWithoutTheKey() throws {
        let config = try parseConfig(minimalConfig + plan + "key plain:test { plan free; }\n")
        XCTAssertNotNil(KeyHash.parseHex(testHash)!.withUnsafeBufferPointer { config.access.keys.lookup($0.baseAddress!) })
        XCTAssertEqual(config.access.warnings.count, 1)
        XCTAssertTrue(config.access.warnings[0].hasPrefix("test.conf:4:5: key 9f86d081 is written in plain text"))
        XCTAssertFalse(config.access.warnings[0].contains("plain:test"))
    }

    func testExpiryFormats() {
        XCTAssertEqual(ConfigValues.timestampMs("1970-01-01T00:00:00Z"), 0)
        XCTAssertEqual(ConfigValues.timestampMs("2024-02-29"), 1_709_164_800_000)
        XCTAssertEqual(ConfigValues.timestampMs("1970-01-01T02:00:00+02:00"), 0)
        XCTAssertEqual(ConfigValues.timestampMs("1970-01-01T00:00:00-01:30"), 5_400_000)
        for bad in ["2023-02-29", "2027-13-01", "2027-01-01T24:00:00Z", "2027-01-01 00:00:00Z", "2027-01-01T00:00:00"] {
            XCTAssertNil(ConfigValues.timestampMs(bad), bad)
        }
    }

    func testErrors() {
        let base = minimalConfig + plan
        assertConfigError(base + "plan free { }", at: "test.conf:4:1", ["duplicate 'plan free'", "test.conf:3:1"])
        assertConfigError(base + "plan a { rate 100; }", at: "test.conf:4:15", ["'rate'", "10/s"])
        assertConfigError(base + "plan a { rate 10/s 5; }", at: "test.conf:4:20", ["'burst N'"])
        assertConfigError(base + "plan a { rate 10/s burst 0; }", at: "test.conf:4:26", ["rate burst", "1...10000000"])
        assertConfigError(base + "plan a { concurrency 0; }", at: "test.conf:4:22", ["'concurrency'"])
        assertConfigError(base + "plan a { daily_quota x; }", at: "test.conf:4:22", ["'daily_quota'"])
        assertConfigError(base + "plan a { scopes x; }", at: "test.conf:4:10", ["'scopes' is not allowed inside a 'plan' block", "inside a 'key' block"])
        assertConfigError(base + "key abc { plan free; }", at: "test.conf:4:5", ["sha256:<64 hex digits>", "hash-key", "plain:KEY", "3 characters"])
        assertConfigError(base + "key \(testHash) { plan free; }", at: "test.conf:4:5", ["needs its 'sha256:' prefix", "sha256:<64 hex digits>", "plain:KEY"])
        assertConfigError(base + "key sha256:abc { plan free; }", at: "test.conf:4:5", ["sha256:<64 hex digits>", "10 characters"])
        assertConfigError(base + "key plain: { plan free; }", at: "test.conf:4:5", ["a key after 'plain:'"])
        assertConfigError(base + "key sha256:\(testHash) { scopes a; }", at: "test.conf:4:1", ["has no plan"])
        assertConfigError(base + "key sha256:\(testHash) { plan fre; }", at: "test.conf:4:84", ["no plan named 'fre'", "did you mean 'free'"])
        assertConfigError(base + "key sha256:\(testHash) { plan free; expires tomorrow; }", at: "test.conf:4:98", ["'expires'", "2027-01-01T00:00:00Z"])
        assertConfigError(base + "key sha256:\(testHash) { plan free; revoked yes; }", at: "test.conf:4:98", ["'revoked': too many arguments"])
        assertConfigError(base + "key sha256:\(testHash) { plan free; }\nkey plain:test { plan free; }", at: "test.conf:5:5", ["duplicate key", "9f86d081"])
        assertConfigError(base + "anonymous { concurrency 1; }", at: "test.conf:4:13", ["'concurrency' is not allowed inside the 'anonymous' block"])
        assertConfigError(base + "global_concurrency 0;", at: "test.conf:4:20", ["'global_concurrency'"])
        assertConfigError(base + "rate_limit_headers draft;", at: "test.conf:4:20", ["ietf or legacy or both or off"])
        assertConfigError(base + "daily_quota_reset 25:00;", at: "test.conf:4:19", ["HH:MM"])
        assertConfigError(base + "route / { upstream u; auth maybe; }", at: "test.conf:4:28", ["required or public"])
        assertConfigError(base + "route / { upstream u; scope a; }", at: "test.conf:4:23", ["never be checked", "auth required"])
        assertConfigError(base + "route / { upstream u; quota counts FETCH; }", at: "test.conf:4:36", ["'quota'", "POST"])
        assertConfigError(base + "route / { upstream u; quota sometimes; }", at: "test.conf:4:29", ["counts [METHOD...] or off"])
        assertConfigError(base + "keys_file missing.list;", at: "test.conf:4:11", ["cannot open", "/nonexistent/missing.list"])
    }

    func testKeysFile() throws {
        let directory = NSTemporaryDirectory() + "policy-keys-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let other = KeyHash.hex(KeyHash.sha256("other"))
        try """
        # comment line

        sha256:\(testHash) free
        sha256:\(other)\tfree scopes=a,b expires=2027-01-01 burst=2 concurrency=1 daily_quota=3 revoked # trailing comment\r
        """.write(toFile: directory + "/keys.list", atomically: true, encoding: .utf8)
        let config = try GatewayConfig.parse(text: minimalConfig + plan + "keys_file keys.list;", file: "test.conf", baseDirectory: directory)
        let keys = config.access.keys
        XCTAssertEqual(keys.count, 2)
        XCTAssertEqual(keys.entries[0], KeyEntry(policy: 0))
        XCTAssertEqual(keys.entries[1], KeyEntry(policy: 1, scopes: 0b11, expiresAtMs: 1_798_761_600_000, revoked: true))
        XCTAssertEqual(config.access.policies[1].limits,
                       PolicyLimits(rate: TokenRate(count: 100, periodMs: 60_000, burst: 2), concurrency: 1, dailyQuota: 3))

        func failure(_ line: String) -> String {
            try? line.write(toFile: directory + "/bad.list", atomically: true, encoding: .utf8)
            do {
                _ = try GatewayConfig.parse(text: minimalConfig + plan + "keys_file bad.list;", file: "test.conf", baseDirectory: directory)
                return "no error"
            } catch {
                return error.description.replacingOccurrences(of: directory + "/", with: "")
            }
        }
        let hash = "sha256:" + testHash
        XCTAssertEqual(failure("\n  abc free"), "bad.list:2:3: keys file: expected sha256:<64 hex digits> (the hash 'gateway hash-key KEY' prints), got a value of 3 characters")
        XCTAssertEqual(failure("\(testHash) free"), "bad.list:1:1: keys file: a hash needs its 'sha256:' prefix; expected sha256:<64 hex digits> (the hash 'gateway hash-key KEY' prints)")
        XCTAssertTrue(failure("plain:secret free").hasPrefix("bad.list:1:1: keys file: plain-text keys are not accepted here"))
        XCTAssertFalse(failure("plain:secret free").contains("secret"))
        XCTAssertTrue(failure(hash).hasPrefix("bad.list:1:72: keys file: expected a plan name"))
        XCTAssertTrue(failure("\(hash) fre").hasPrefix("bad.list:1:73: 'plan': no plan named 'fre'; did you mean 'free'?"))
        XCTAssertTrue(failure("\(hash) free colour=red").hasPrefix("bad.list:1:78: keys file: unknown option 'colour=red'"))
        XCTAssertTrue(failure("\(hash) free rate=5").hasPrefix("bad.list:1:83: 'rate': expected a rate"))
        XCTAssertTrue(failure("\(hash) free\n\(hash) free").hasPrefix("bad.list:2:1: duplicate key"))
    }
}
