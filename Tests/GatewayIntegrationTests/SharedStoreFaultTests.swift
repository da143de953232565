import Foundation
import GatewayCore
import XCTest

/// The shared store failing: Redis killed and restarted, Redis hung, a gateway killed while it
/// holds concurrency slots; and Redis Cluster's redirections.
final class SharedStoreFaultTests: XCTestCase {
    private var fleet: Fleet?
    private var cluster: RedisCluster?

    override func setUpWithError() throws {
        _ = try RedisServer.binary()
    }

    override func tearDown() {
        fleet?.stop()
        cluster?.stop()
    }

    private func start(instances: Int = 3, redis: RedisServer? = nil, responseTimeout: String = "5s", plans: String) throws -> Fleet {
        let started = try Fleet(instances: instances, redis: redis) { mock in
            """
            rate_limit_headers ietf;
            \(plans)
            upstream messaging { server 127.0.0.1:\(mock); response_timeout \(responseTimeout); }
            route /v1/ { upstream messaging; auth required; }
            """
        }
        fleet = started
        return started
    }

    /// A request, timed.
    private func timed(_ port: UInt16, _ text: String) throws -> (WireResponse, TimeInterval) {
        let start = Date()
        let response = try RawClient(port: port).exchange(text)
        return (response, Date().timeIntervalSince(start))
    }

    private func keyedPost(_ key: String) -> String {
        post("/v1/messages/text", body: "{}", headers: "X-API-Key: k-1\r\nIdempotency-Key: \(key)\r\n")
    }

    func testRequestsFollowTheFailurePolicyWhileRedisIsDownAndTheGatewaysReconnect() throws {
        let fleet = try start(plans: "plan big { rate 1000/s burst 1000; } key plain:k-1 { plan big; }")
        for port in fleet.ports { XCTAssertEqual(try timed(port, keyedPost("before-\(port)")).0.status, 201) }
        fleet.redis.kill()
        let deadline = Date().addingTimeInterval(1.5)
        var n = 0
        while Date() < deadline {
            let port = fleet.ports[n % 3]
            n += 1
            let (limited, limitedTime) = try timed(port, get("/v1/sessions/a", headers: "X-API-Key: k-1\r\n"))
            XCTAssertEqual(limited.status, 200, "limits fail open")
            XCTAssertNil(limited.header("RateLimit"), "no headers from a store that did not answer")
            let (keyed, keyedTime) = try timed(port, keyedPost("down-\(n)"))
            XCTAssertEqual(keyed.status, 503, keyed.text)
            XCTAssertEqual(keyed.errorObject["code"] as? String, "service_unavailable")
            XCTAssertEqual((keyed.errorObject["details"] as? [String: Any])?["reason"] as? String, "store_unavailable")
            XCTAssertNotNil(keyed.header("Retry-After"))
            XCTAssertLessThan(max(limitedTime, keyedTime), 1.0, "no request waits longer than the command timeout")
        }
        try fleet.redis.start()
        for port in fleet.ports {
            XCTAssertTrue(try eventually(timeout: 6, interval: 100_000) { try self.timed(port, self.keyedPost("after-\(port)")).0.status == 201 },
                          "instance on \(port) never reconnected")
            // Every worker of the instance reconnects on its own.
            XCTAssertTrue(eventually(timeout: 6, interval: 100_000) {
                (0..<4).allSatisfy { _ in (try? self.timed(port, get("/v1/sessions/a", headers: "X-API-Key: k-1\r\n")).0.header("RateLimit")) != nil }
            })
        }
        let log = fleet.gateways[0].gateway?.output ?? ""
        XCTAssertTrue(log.contains("is unavailable"), log)
        XCTAssertTrue(log.contains("is reachable again"), log)
    }

    func testAHungRedisCostsOneTimeoutNotOnePerRequest() throws {
        let fleet = try start(instances: 1, plans: "plan big { rate 1000/s burst 1000; } key plain:k-1 { plan big; }")
        let port = fleet.ports[0]
        XCTAssertEqual(try timed(port, keyedPost("warm")).0.status, 201)
        let pid = try XCTUnwrap(fleet.redis.process?.pid)
        kill(pid, SIGSTOP)
        defer { kill(pid, SIGCONT) }
        var times: [TimeInterval] = []
        for i in 0..<8 {
            let (response, time) = try timed(port, keyedPost("hung-\(i)"))
            XCTAssertEqual(response.status, 503)
            times.append(time)
        }
        XCTAssertLessThan(times.max() ?? 9, 1.0, "\(times)")
        XCTAssertLessThan(times.dropFirst(2).reduce(0, +), 0.5, "after the first timeout the breaker answers at once: \(times)")
        kill(pid, SIGCONT)
        XCTAssertTrue(try eventually(timeout: 6, interval: 100_000) { try self.timed(port, self.keyedPost("back")).0.status == 201 })
    }

    func testAnUnknownOutcomeLocksTheKeyOnEveryInstance() throws {
        let fleet = try start(responseTimeout: "1s", plans: "plan p { } key plain:k-1 { plan p; }")
        let request = post("/v1/messages/text?delay_ms=1500", body: "{}", headers: "X-API-Key: k-1\r\nIdempotency-Key: slow-1\r\n")
        XCTAssertEqual(try timed(fleet.ports[0], request).0.status, 504)
        for port in fleet.ports {
            let locked = try timed(port, request).0
            XCTAssertEqual(locked.status, 409)
            XCTAssertEqual((locked.errorObject["details"] as? [String: Any])?["reason"] as? String, "outcome_unknown")
            XCTAssertNil(locked.header("Retry-After"))
        }
        XCTAssertEqual(try mockStats(port: fleet.mock).paths["POST /v1/messages/text"], 1, "never sent a second time")
    }

    func testPasswordAndDatabase() throws {
        let redis = try RedisServer(extra: ["--requirepass", "s3cret"])
        let fleet = try Fleet(instances: 1, redis: redis, store: "/3 password=s3cret") { mock in
            """
            plan small { rate 1/m burst 1; }
            key plain:k-1 { plan small; }
            upstream messaging { server 127.0.0.1:\(mock); }
            route /v1/ { upstream messaging; auth required; }
            """
        }
        self.fleet = fleet
        let statuses = try (0..<2).map { _ in try timed(fleet.ports[0], get("/v1/x", headers: "X-API-Key: k-1\r\n")).0.status }
        XCTAssertEqual(statuses, [200, 429])
        XCTAssertEqual(try redis.command(["AUTH", "s3cret"], ["SELECT", "3"], ["DBSIZE"]).integer, 1, "the bucket lives in database 3")
        let wrong = try Fleet(instances: 1, redis: redis, store: " password=wrong") { mock in
            "key plain:k-1 { plan p; } plan p { } upstream messaging { server 127.0.0.1:\(mock); } route /v1/ { upstream messaging; }"
        }
        defer { wrong.stop() }
        XCTAssertTrue(eventually { wrong.gateways[0].gateway?.output.contains("WRONGPASS") ?? false }, wrong.gateways[0].gateway?.output ?? "")
    }

    func testTheSlotsOfAKilledGatewayComeBackWithinTheirLease() throws {
        // response_timeout 1s: a slot's lease is 1 s + 2 s of margin.
        let fleet = try start(responseTimeout: "1s", plans: "plan two { concurrency 2; } key plain:k-1 { plan two; }")
        let victim = fleet.ports[0], survivor = fleet.ports[1]
        for i in 0..<2 {
            let request = get("/v1/sessions/a?delay_ms=900&i=\(i)", headers: "X-API-Key: k-1\r\n")
            Thread.detachNewThread { _ = try? RawClient(port: victim).exchange(request) }
        }
        XCTAssertTrue(try eventually(timeout: 5) { try mockStats(port: fleet.mock).requests >= 2 })
        fleet.kill(0)
        let killedAt = Date()
        XCTAssertEqual(try timed(survivor, get("/v1/sessions/b", headers: "X-API-Key: k-1\r\n")).0.status, 429,
                       "the dead gateway's slots are still held")
        let back = try eventually(timeout: 5, interval: 100_000) {
            try self.timed(survivor, get("/v1/sessions/b", headers: "X-API-Key: k-1\r\n")).0.status == 200
        }
        let after = Date().timeIntervalSince(killedAt)
        XCTAssertTrue(back, "the slots never came back")
        XCTAssertLessThanOrEqual(after, 3.5, "the slots came back only after \(after) s; the lease is 3 s")
    }

    func testARedisClusterIsFollowedWhereverAKeyLives() throws {
        let cluster = try RedisCluster()
        self.cluster = cluster
        // One key per node, found by the slot of its tag, and one more for Idempotency-Key away from the seed.
        func node(of key: String) throws -> UInt16 {
            var prefix: [UInt8] = []
            KeyHash.sha256(key).withUnsafeBytes { StoreKeys.prefix(apiKeyDigest: $0, into: &prefix) }
            return try cluster.node(serving: String(decoding: prefix, as: UTF8.self)).port
        }
        var keys: [UInt16: String] = [:]
        for i in 0..<200 where keys.count < 3 {
            let port = try node(of: "k-\(i)")
            if keys[port] == nil { keys[port] = "k-\(i)" }
        }
        XCTAssertEqual(keys.count, 3)
        let keyed = try XCTUnwrap((0..<200).map { "i-\($0)" }.first { try node(of: $0) == cluster.nodes[2].port })
        let lines = keys.values.map { "key plain:\($0) { plan small; }" }.joined(separator: "\n")
        let fleet = try start(instances: 2, redis: cluster.nodes[0],
                              plans: "plan small { rate 1/m burst 3; }\nplan big { rate 100/s; }\n\(lines)\nkey plain:\(keyed) { plan big; }")
        for key in keys.values {
            let statuses = try (0..<4).map { i in
                try timed(fleet.ports[i % 2], get("/v1/sessions/a", headers: "X-API-Key: \(key)\r\n")).0.status
            }
            XCTAssertEqual(statuses, [200, 200, 200, 429], key)
        }
        let request = post("/v1/messages/text", body: "{}", headers: "X-API-Key: \(keyed)\r\nIdempotency-Key: c-1\r\n")
        let first = try timed(fleet.ports[0], request).0
        let replay = try timed(fleet.ports[1], request).0
        XCTAssertEqual(first.status, 201)
        XCTAssertEqual(replay.header("Idempotent-Replayed"), "true")
        XCTAssertEqual(replay.body, first.body)
        XCTAssertEqual(try mockStats(port: fleet.mock).paths["POST /v1/messages/text"], 1)
    }
}
