import Foundation
import XCTest

/// Idempotency-Key through the real binary, with the mock counting upstream executions.
final class IdempotencyTests: XCTestCase {
    var deployment: Deployment!
    var mockPort: UInt16 = 0

    override func setUpWithError() throws {
        deployment = Deployment()
        mockPort = try deployment.startMock()
    }

    override func tearDown() { deployment.stop() }

    func start(_ idempotency: String = "", route: String = "") throws {
        try deployment.startGateway(servers: [mockPort], routeExtra: route, extra: idempotency.isEmpty ? "" : "idempotency { \(idempotency) }")
    }

    func executions(_ path: String = "/v1/messages/text") throws -> Int {
        let stats = try RawClient(port: mockPort).exchange(get("/__mock/stats")).json
        return (stats["paths"] as? [String: Int])?["POST \(path)"] ?? 0
    }

    func send(_ key: String, body: String = #"{"to":"+1555","text":"hi"}"#, path: String = "/v1/messages/text") throws -> WireResponse {
        try RawClient(port: deployment.gatewayPort).exchange(post(path, body: body, headers: "Idempotency-Key: \(key)\r\n"))
    }

    func testRetryIsReplayedWithoutSecondExecution() throws {
        try start()
        let first = try send("k-1")
        XCTAssertEqual(first.status, 201)
        XCTAssertNil(first.header("Idempotent-Replayed"))
        let second = try send("k-1")
        XCTAssertEqual(second.status, 201)
        XCTAssertEqual(second.header("Idempotent-Replayed"), "true")
        XCTAssertEqual(second.body, first.body, "replayed byte for byte")
        XCTAssertEqual(try executions(), 1)
    }

    /// The replay carries the header section the client first got (Server, the mock's own fields,
    /// and the original X-Request-Id, since it is that response); Date, RateLimit*, connection and
    /// framing are written fresh.
    func testReplayCarriesTheHeaderSectionAsFirstSent() throws {
        try start()
        let request = post("/v1/messages/text", body: "{}", headers: "Idempotency-Key: k-h\r\nX-Request-Id: first-request\r\n")
        let first = try RawClient(port: deployment.gatewayPort).exchange(request)
        XCTAssertEqual(first.header("Server"), "mock-upstream")
        let retry = post("/v1/messages/text", body: "{}", headers: "Idempotency-Key: k-h\r\nX-Request-Id: the-retry\r\n")
        let second = try RawClient(port: deployment.gatewayPort).exchange(retry)
        XCTAssertEqual(second.header("Idempotent-Replayed"), "true")
        let fresh: Set<String> = ["date", "ratelimit", "ratelimit-policy", "connection", "content-length", "idempotent-replayed"]
        func kept(_ response: WireResponse) -> [String] {
            response.headers.filter { !fresh.contains($0.0.lowercased()) }.map { "\($0.0): \($0.1)" }
        }
        XCTAssertEqual(kept(second), kept(first))
        XCTAssertTrue(kept(second).contains("Server: mock-upstream"))
        XCTAssertEqual(second.header("X-Request-Id"), "first-request", "the original response, so the original id")
        XCTAssertNotNil(second.header("Date"))
    }

    func testSameKeyDifferentBodyConflicts() throws {
        try start()
        XCTAssertEqual(try send("k-2", body: #"{"text":"a"}"#).status, 201)
        let conflict = try send("k-2", body: #"{"text":"b"}"#)
        XCTAssertEqual(conflict.status, 409)
        XCTAssertEqual(conflict.errorObject["code"] as? String, "idempotency_conflict")
        XCTAssertEqual(try executions(), 1)
    }

    func testConcurrentDuplicatesExecuteOnce() throws {
        try start()
        let path = "/v1/messages/text?delay_ms=600"
        let results = ResultBox()
        let port = deployment.gatewayPort
        let request = post(path, body: "{}", headers: "Idempotency-Key: k-3\r\n")
        DispatchQueue.concurrentPerform(iterations: 6) { _ in
            let status = (try? RawClient(port: port).exchange(request).status) ?? -1
            results.add(status)
        }
        XCTAssertEqual(results.values.filter { $0 == 201 }.count, 1, "\(results.values)")
        XCTAssertEqual(results.values.filter { $0 == 409 }.count, 5, "\(results.values)")
        XCTAssertEqual(try executions("/v1/messages/text"), 1)
    }

    func testServerErrorIsNotCachedAndRetrySucceeds() throws {
        try start()
        let failed = try send("k-4", path: "/v1/messages/text?fail=json&status=500&code=message_sending_failed")
        XCTAssertEqual(failed.status, 500)
        let retry = try send("k-4", path: "/v1/messages/text?fail=json&status=500&code=message_sending_failed")
        XCTAssertEqual(retry.status, 500)
        XCTAssertNil(retry.header("Idempotent-Replayed"), "a 5xx is never replayed: the retry executes")
        XCTAssertEqual(try executions(), 2)
    }

    func testClientErrorIsStoredAndReplayed() throws {
        try start()
        let path = "/v1/messages/text?fail=json&status=400&code=invalid_phone_number"
        let first = try send("k-5", path: path)
        XCTAssertEqual(first.status, 400)
        let replay = try send("k-5", path: path)
        XCTAssertEqual(replay.status, 400)
        XCTAssertEqual(replay.header("Idempotent-Replayed"), "true")
        XCTAssertEqual(try executions(), 1)
        // One rule for the envelope: request_id equals X-Request-Id, and both name the original request.
        let original = try XCTUnwrap(first.header("X-Request-Id"))
        XCTAssertEqual(first.errorObject["request_id"] as? String, original)
        XCTAssertEqual(replay.header("X-Request-Id"), original)
        XCTAssertEqual(replay.errorObject["request_id"] as? String, original)
    }

    func testEntriesExpireAfterTTL() throws {
        try start("ttl 1s;")
        XCTAssertEqual(try send("k-6").status, 201)
        Thread.sleep(forTimeInterval: 1.3)
        XCTAssertNil(try send("k-6").header("Idempotent-Replayed"))
        XCTAssertEqual(try executions(), 2)
    }

    func testRequiredKeyAndSyntax() throws {
        try start(route: "idempotency required;")
        let missing = try RawClient(port: deployment.gatewayPort).exchange(post("/v1/messages/text", body: "{}"))
        XCTAssertEqual(missing.status, 400)
        XCTAssertEqual(missing.errorObject["code"] as? String, "missing_required_parameter")
        XCTAssertEqual((missing.errorObject["details"] as? [String: Any])?["field"] as? String, "Idempotency-Key")
        let bad = try send("\"unterminated")
        XCTAssertEqual(bad.status, 400)
        XCTAssertEqual(bad.errorObject["code"] as? String, "invalid_request")
        XCTAssertEqual(try executions(), 0)
    }

    /// The key stays "outcome unknown" until the entry's TTL (unit-tested to the millisecond), and
    /// the 409 carries no Retry-After that would invite a resend before then.
    func testUpstreamTimeoutLocksTheKeyUntilItsTTL() throws {
        try deployment.startGateway(servers: [mockPort], upstreamExtra: "response_timeout 300ms;", extra: "idempotency { ttl 1h; }")
        let timedOut = try send("k-7", path: "/v1/messages/text?delay_ms=1000")
        XCTAssertEqual(timedOut.status, 504)
        let retry = try send("k-7", path: "/v1/messages/text?delay_ms=1000")
        XCTAssertEqual(retry.status, 409, "the first send may have happened: never risk a second one")
        XCTAssertEqual((retry.errorObject["details"] as? [String: Any])?["reason"] as? String, "outcome_unknown")
        XCTAssertNil(retry.header("Retry-After"), "no invitation to resend")
        XCTAssertEqual(try executions(), 1)
    }

    func testKeysOfDifferentClientsNeverCollide() throws {
        try deployment.startGateway(servers: [mockPort], routeExtra: "auth required;", extra: """
        plan p { rate 1000/s; }
        key plain:alice-key { plan p; }
        key plain:bob-key { plan p; }
        """)
        func send(_ apiKey: String, _ text: String) throws -> WireResponse {
            try RawClient(port: deployment.gatewayPort).exchange(post("/v1/messages/text", body: #"{"text":"\#(text)"}"#,
                headers: "Idempotency-Key: shared-key\r\nAuthorization: Bearer \(apiKey)\r\n"))
        }
        XCTAssertEqual(try send("alice-key", "from alice").status, 201)
        let bob = try send("bob-key", "from bob")
        XCTAssertEqual(bob.status, 201)
        XCTAssertNil(bob.header("Idempotent-Replayed"), "another client's key is another namespace")
        XCTAssertEqual(try send("alice-key", "from alice").header("Idempotent-Replayed"), "true")
        XCTAssertEqual(try send("bob-key", "from bob").header("Idempotent-Replayed"), "true")
        XCTAssertEqual(try executions(), 2)
    }

    /// Entries belong to the API key itself (its digest), not to its position in the key list:
    /// after a restart with another key inserted in front, the same client's retry is replayed and
    /// the other key does not get the first one's response.
    func testEntriesFollowTheKeyWhenTheKeyListChanges() throws {
        let journal = NSTemporaryDirectory() + "idem-\(UUID().uuidString).journal"
        defer { try? FileManager.default.removeItem(atPath: journal) }
        func start(_ keys: [String]) throws {
            let lines = keys.map { "key plain:\($0) { plan p; }" }.joined(separator: "\n")
            try deployment.startGateway(servers: [mockPort], routeExtra: "auth required;",
                                        extra: "plan p { rate 1000/s; }\n\(lines)\nidempotency { journal \(journal); fsync always; }")
        }
        func send(_ apiKey: String) throws -> WireResponse {
            try RawClient(port: deployment.gatewayPort).exchange(post("/v1/messages/text", body: #"{"text":"hi"}"#,
                headers: "Idempotency-Key: same-key\r\nAuthorization: Bearer \(apiKey)\r\n"))
        }
        try start(["alice-key"])
        let first = try send("alice-key")
        XCTAssertEqual(first.status, 201)
        deployment.gateway?.stop()

        try start(["carol-key", "alice-key"])
        let retry = try send("alice-key")
        XCTAssertEqual(retry.header("Idempotent-Replayed"), "true", "alice's retry is answered from her entry")
        XCTAssertEqual(retry.body, first.body)
        XCTAssertEqual(try executions(), 1)
        let carol = try send("carol-key")
        XCTAssertEqual(carol.status, 201)
        XCTAssertNil(carol.header("Idempotent-Replayed"), "carol never gets alice's stored response")
        XCTAssertEqual(try executions(), 2)
    }

    /// The reservation is journaled before the request is forwarded: a gateway killed while the
    /// upstream works leaves the key "outcome unknown" after restart, and the retry gets 409.
    func testCrashMidRequestNeverLetsTheRetryExecuteAgain() throws {
        let journal = NSTemporaryDirectory() + "idem-\(UUID().uuidString).journal"
        defer { try? FileManager.default.removeItem(atPath: journal) }
        try start("journal \(journal);")
        let port = deployment.gatewayPort, path = "/v1/messages/text?delay_ms=3000"
        let request = post(path, body: "{}", headers: "Idempotency-Key: k-crash\r\n")
        DispatchQueue.global().async { _ = try? RawClient(port: port).exchange(request) }
        let deadline = Date().addingTimeInterval(5)
        while try executions() == 0 && Date() < deadline { usleep(20_000) }
        XCTAssertEqual(try executions(), 1, "the upstream has the request")
        let gateway = try XCTUnwrap(deployment.gateway)
        kill(gateway.pid, SIGKILL)
        gateway.process.waitUntilExit()

        try start("journal \(journal);")
        let retry = try send("k-crash", body: "{}", path: path)
        XCTAssertEqual(retry.status, 409)
        XCTAssertEqual((retry.errorObject["details"] as? [String: Any])?["reason"] as? String, "outcome_unknown")
        XCTAssertNil(retry.header("Retry-After"))
        XCTAssertEqual(try executions(), 1)
    }

    /// The journal is compacted while the gateway runs: once the stored entries expire, the
    /// background thread rewrites the file down to its live part, and it still loads cleanly.
    func testJournalIsCompactedOnline() throws {
        let journal = NSTemporaryDirectory() + "idem-\(UUID().uuidString).journal"
        defer { try? FileManager.default.removeItem(atPath: journal) }
        try start("ttl 2s; journal \(journal);")
        let pad = String(repeating: "p", count: 7000)  // echoed back: about 7 KB stored per key
        for i in 0..<170 {
            let request = post("/v1/echo", body: "{}", headers: "Idempotency-Key: fill-\(i)\r\nX-Pad: \(pad)\r\n")
            XCTAssertEqual(try RawClient(port: deployment.gatewayPort).exchange(request).status, 200)
        }
        func size() -> Int { ((try? FileManager.default.attributesOfItem(atPath: journal))?[.size] as? Int) ?? -1 }
        XCTAssertGreaterThan(size(), 1 << 20)
        let deadline = Date().addingTimeInterval(10)
        while size() > 64 << 10 && Date() < deadline { usleep(100_000) }
        XCTAssertLessThan(size(), 64 << 10, "compacted once the entries expired")
        XCTAssertTrue(deployment.gateway?.output.contains("idempotency journal compacted:") ?? false)

        XCTAssertEqual(try send("after").status, 201)
        XCTAssertEqual(try send("after").header("Idempotent-Replayed"), "true")
        deployment.gateway?.stop()
        try start("ttl 1h; journal \(journal);")
        XCTAssertTrue(deployment.gateway?.output.contains(" 0 bytes skipped") ?? false, deployment.gateway?.output ?? "")
        XCTAssertEqual(try send("after").header("Idempotent-Replayed"), "true")
        XCTAssertEqual(try executions(), 1)
    }

    func testJournalKeepsReplaysAcrossRestart() throws {
        let journal = NSTemporaryDirectory() + "idem-\(UUID().uuidString).journal"
        defer { try? FileManager.default.removeItem(atPath: journal) }
        try start("journal \(journal); fsync always;")
        let first = try send("k-8")
        XCTAssertEqual(first.status, 201)
        deployment.gateway?.stop()
        try start("journal \(journal); fsync always;")
        let replay = try send("k-8")
        XCTAssertEqual(replay.header("Idempotent-Replayed"), "true")
        XCTAssertEqual(replay.body, first.body)
        XCTAssertEqual(try executions(), 1)
    }
}

final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var values: [Int] = []
    func add(_ value: Int) {
        lock.lock()
        values.append(value)
        lock.unlock()
    }
}
