import Foundation
import XCTest

/// `access_log PATH`: one JSON object per line with every field, written from the loops' buffers,
/// and SIGUSR1 reopening the file after logrotate moved it.
final class AccessLogTests: XCTestCase {
    var deployment: Deployment!
    var directory = ""
    var path: String { directory + "/access.log" }
    static let key = "log-key-\(UUID().uuidString.prefix(8))"
    static let auth = "X-API-Key: \(key)\r\n"

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "access-log-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        deployment = Deployment()
        let mock = try deployment.startMock()
        try deployment.startGateway("""
        plan p { rate 100/s burst 50; }
        key sha256:\(sha256Hex(Array(Self.key.utf8))) { plan p; }
        upstream messaging { server 127.0.0.1:\(mock); }
        route /v1/ { upstream messaging; auth required; idempotency optional; }
        """, extra: "access_log \(path) format=json;")
    }

    override func tearDown() {
        deployment.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func lines(_ file: String) -> [String] {
        ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    private func objects(_ file: String) -> [[String: Any]] {
        lines(file).map { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] ?? ["unparsable": $0] }
    }

    func testEveryLineIsJSONWithEveryField() throws {
        let c = try RawClient(port: deployment.gatewayPort)
        let answers = [try c.exchange(get("/v1/sessions/a?token=hidden", headers: Self.auth)),
                       try c.exchange(get("/v1/sessions/a")),
                       try c.exchange(get("/v1/../elsewhere")),
                       try c.exchange(post("/v1/messages/text", body: "{\"to\":\"x\"}", headers: Self.auth + "Idempotency-Key: j-1\r\n")),
                       try c.exchange(post("/v1/messages/text", body: "{\"to\":\"x\"}", headers: Self.auth + "Idempotency-Key: j-1\r\n")),
                       try c.exchange(post("/v1/messages/text", body: "{\"to\":\"y\"}", headers: Self.auth + "Idempotency-Key: j-1\r\n"))]
        XCTAssertEqual(answers.map(\.status), [200, 401, 404, 201, 201, 409])
        XCTAssertTrue(eventually { lines(path).count == 6 }, "lines: \(lines(path))")
        let logged = objects(path)
        let fields: Set<String> = ["time", "request_id", "client", "method", "path", "route", "status", "error", "key", "upstream",
                                   "server", "upstream_us", "total_us", "bytes_in", "bytes_out", "idempotency", "ratelimit_remaining"]
        for line in logged {
            XCTAssertEqual(Set(line.keys), fields, "\(line)")
            let time = line["time"] as? String ?? ""
            XCTAssertNotNil(time.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#, options: .regularExpression), time)
            XCTAssertEqual(line["client"] as? String, "127.0.0.1")
            XCTAssertGreaterThan(line["bytes_in"] as? Int ?? 0, 0)
            XCTAssertGreaterThan(line["bytes_out"] as? Int ?? 0, 0)
        }
        // Loops write their own buffers: lines of one connection come in order.
        XCTAssertEqual(logged.map { $0["status"] as? Int }, [200, 401, 404, 201, 201, 409])
        XCTAssertEqual(logged.map { $0["idempotency"] as? String }, ["none", "none", "none", "stored", "replayed", "conflict"])
        XCTAssertEqual(logged.map { $0["error"] as? String ?? "-" },
                       ["-", "missing_api_key", "resource_not_found", "-", "-", "idempotency_conflict"])
        let first = logged[0]
        XCTAssertEqual(first["request_id"] as? String, answers[0].header("X-Request-Id"))
        XCTAssertEqual(first["method"] as? String, "GET")
        XCTAssertEqual(first["path"] as? String, "/v1/sessions/a")
        XCTAssertEqual(first["route"] as? String, "/v1/")
        XCTAssertEqual(first["key"] as? String, String(sha256Hex(Array(Self.key.utf8)).prefix(8)))
        XCTAssertEqual(first["upstream"] as? String, "messaging")
        XCTAssertNotNil(first["upstream_us"] as? Int)
        XCTAssertGreaterThanOrEqual(first["total_us"] as? Int ?? 0, first["upstream_us"] as? Int ?? .max)
        XCTAssertEqual(first["ratelimit_remaining"] as? Int, 49)
        XCTAssertEqual(logged[2]["path"] as? String, "/elsewhere", "the normalised path")
        XCTAssertTrue(logged[2]["route"] is NSNull)
        XCTAssertTrue(logged[4]["upstream"] is NSNull, "a replay never reaches the upstream")
        let text = lines(path).joined()
        XCTAssertFalse(text.contains(Self.key), "never the key")
        XCTAssertFalse(text.contains("hidden"), "never the query")
    }

    /// logrotate's way: rename the file, send SIGUSR1, and the next lines go to a new file.
    func testSIGUSR1ReopensTheFileAfterARename() throws {
        guard let gateway = deployment.gateway else { return XCTFail("no gateway") }
        let c = try RawClient(port: deployment.gatewayPort)
        let before = try c.exchange(get("/v1/sessions/a", headers: Self.auth))
        XCTAssertTrue(eventually { lines(path).count == 1 })
        let rotated = path + ".1"
        try FileManager.default.moveItem(atPath: path, toPath: rotated)
        XCTAssertEqual(kill(gateway.pid, SIGUSR1), 0)
        XCTAssertTrue(eventually { gateway.output.contains("access log \(path) reopened") }, gateway.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path), "a new file at the old path")
        let after = try c.exchange(get("/v1/sessions/b", headers: Self.auth))
        XCTAssertTrue(eventually { lines(path).count == 1 })
        XCTAssertEqual(objects(path).first?["request_id"] as? String, after.header("X-Request-Id"))
        XCTAssertEqual(objects(rotated).map { $0["request_id"] as? String }, [before.header("X-Request-Id")])
        XCTAssertTrue(gateway.isRunning)
    }
}

/// SIGUSR1 without a log file to reopen does no harm.
final class AccessLogSignalTests: XCTestCase {
    func testSIGUSR1IsHarmlessWithTheLogOff() throws {
        let deployment = Deployment()
        defer { deployment.stop() }
        let mock = try deployment.startMock()
        try deployment.startGateway(servers: [mock])
        guard let gateway = deployment.gateway else { return XCTFail("no gateway") }
        XCTAssertEqual(kill(gateway.pid, SIGUSR1), 0)
        usleep(200_000)
        XCTAssertTrue(gateway.isRunning)
        XCTAssertEqual(try RawClient(port: deployment.gatewayPort).exchange(get("/v1/sessions/demo")).status, 200)
    }
}

/// A destination that refuses every write (/dev/full: ENOSPC, as a full disk): requests are
/// served as ever, the lost lines are counted in /metrics, and the failure is logged once.
final class AccessLogFullDiskTests: XCTestCase {
    func testAFullDiskCountsDroppedLinesAndNeverStopsServing() throws {
        let deployment = Deployment()
        defer { deployment.stop() }
        let mock = try deployment.startMock()
        let adminPort = freePort()
        try deployment.startGateway(servers: [mock], extra: "access_log /dev/full; admin_listen 127.0.0.1:\(adminPort);")
        let c = try RawClient(port: deployment.gatewayPort)
        for _ in 0..<20 { XCTAssertEqual(try c.exchange(get("/v1/sessions/demo")).status, 200) }
        var dropped = 0.0
        XCTAssertTrue(try eventually {
            dropped = try Scrape.take(adminPort: adminPort)["gateway_access_log_dropped_lines_total"] ?? 0
            return dropped == 20
        }, "dropped \(dropped)")
        let output = deployment.gateway!.output
        XCTAssertEqual(output.components(separatedBy: "access log /dev/full: No space left on device").count - 1, 1, output)
    }
}
