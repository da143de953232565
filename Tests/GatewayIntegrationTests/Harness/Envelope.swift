import Foundation
import XCTest

/// Checks that `response` is the catalog's error envelope (README, "Error reference") with the given
/// status and code: `Content-Type: application/json`, `{"success":false,"error":{"code","message",
/// "request_id"}}` (plus an optional `details` object), request_id == X-Request-Id, and
/// `Retry-After` present (and equal to details.retry_after_s) exactly when `retryAfter` is true.
/// Returns the `error` object for further checks.
@discardableResult
func assertEnvelope(_ response: WireResponse, status: Int, code: String, retryAfter: Bool,
                    _ label: String = "", file: StaticString = #filePath, line: UInt = #line) -> [String: Any] {
    let where_ = label.isEmpty ? "" : "[\(label)] "
    XCTAssertEqual(response.status, status, "\(where_)status; body: \(response.text)", file: file, line: line)
    XCTAssertEqual(response.header("Content-Type"), "application/json", "\(where_)Content-Type", file: file, line: line)
    guard let root = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] else {
        XCTFail("\(where_)body is not a JSON object: \(response.text)", file: file, line: line)
        return [:]
    }
    XCTAssertEqual(Set(root.keys), ["success", "error"], "\(where_)top-level keys", file: file, line: line)
    XCTAssertTrue(response.text.replacingOccurrences(of: " ", with: "").contains("\"success\":false"),
                  "\(where_)success must be the JSON literal false: \(response.text)", file: file, line: line)
    let error = root["error"] as? [String: Any] ?? [:]
    XCTAssertTrue(Set(error.keys).isSubset(of: ["code", "message", "details", "request_id"]),
                  "\(where_)unexpected keys in error: \(error.keys.sorted())", file: file, line: line)
    XCTAssertEqual(error["code"] as? String, code, "\(where_)error.code; body: \(response.text)", file: file, line: line)
    let message = error["message"] as? String
    XCTAssertNotNil(message, "\(where_)error.message missing", file: file, line: line)
    XCTAssertFalse(message?.isEmpty ?? true, "\(where_)error.message empty", file: file, line: line)
    let requestID = error["request_id"] as? String
    XCTAssertNotNil(requestID, "\(where_)error.request_id missing", file: file, line: line)
    XCTAssertFalse(requestID?.isEmpty ?? true, "\(where_)error.request_id empty", file: file, line: line)
    XCTAssertEqual(requestID, response.header("X-Request-Id"), "\(where_)request_id vs X-Request-Id", file: file, line: line)
    if let details = error["details"] {
        XCTAssertNotNil(details as? [String: Any], "\(where_)details must be an object", file: file, line: line)
    }
    let details = error["details"] as? [String: Any] ?? [:]
    let header = response.headers("Retry-After")
    if retryAfter {
        XCTAssertEqual(header.count, 1, "\(where_)exactly one Retry-After expected, got \(header)", file: file, line: line)
        let seconds = header.first.flatMap { Int($0) }
        XCTAssertNotNil(seconds, "\(where_)Retry-After must be whole seconds: \(header)", file: file, line: line)
        XCTAssertEqual((details["retry_after_s"] as? NSNumber)?.intValue, seconds,
                       "\(where_)details.retry_after_s vs Retry-After", file: file, line: line)
    } else {
        XCTAssertEqual(header, [], "\(where_)no Retry-After expected", file: file, line: line)
        XCTAssertNil(details["retry_after_s"], "\(where_)no details.retry_after_s expected", file: file, line: line)
    }
    return error
}

extension Dictionary where Key == String, Value == Any {
    /// `error.details` of an envelope's error object.
    var details: [String: Any] { self["details"] as? [String: Any] ?? [:] }
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: TimeInterval = 5, interval: useconds_t = 20_000, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        usleep(interval)
    }
    return try condition()
}

/// The mock's own counters (`GET /__mock/stats`), asked directly, not through the gateway.
struct MockStatsSnapshot {
    var requests: Int
    var paths: [String: Int]
}

func mockStats(port: UInt16) throws -> MockStatsSnapshot {
    let response = try RawClient(port: port, timeout: 5).exchange(get("/__mock/stats", headers: "Connection: close\r\n"))
    guard response.status == 200 else { throw HarnessError("mock stats on \(port): status \(response.status)") }
    let json = response.json
    let paths = (json["paths"] as? [String: Any] ?? [:]).mapValues { ($0 as? NSNumber)?.intValue ?? 0 }
    return MockStatsSnapshot(requests: (json["requests"] as? NSNumber)?.intValue ?? -1, paths: paths)
}

func resetMock(port: UInt16) throws {
    let response = try RawClient(port: port, timeout: 5).exchange(
        "POST /__mock/reset HTTP/1.1\r\nHost: mock\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    guard response.status == 200 else { throw HarnessError("mock reset on \(port): status \(response.status)") }
}

/// The whole of a /proc file (its reported size is 0, so read until EOF).
func readProcFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY)
    if fd < 0 { return nil }
    defer { close(fd) }
    var data: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        data.append(contentsOf: chunk[0..<n])
    }
    return String(decoding: data, as: UTF8.self)
}

/// Whether every thread of `pid` is stopped (state T in /proc/PID/task/*/stat).
func allThreadsStopped(_ pid: Int32) -> Bool {
    guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task"), !tasks.isEmpty else { return false }
    return tasks.allSatisfy { task in
        guard let stat = readProcFile("/proc/\(pid)/task/\(task)/stat"), let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(close, offsetBy: 2)] == "T"
    }
}

/// TCP connections in FIN_WAIT2 or TIME_WAIT whose local or remote port is `port` (from /proc/net/tcp): each is
/// a connection that was closed, so a low count after many requests means connections were reused.
func timeWaitConnections(port: UInt16) -> Int {
    guard let table = readProcFile("/proc/net/tcp") else { return -1 }
    let hexPort = String(format: ":%04X", port)
    var count = 0
    for line in table.split(separator: "\n").dropFirst() {
        let fields = line.split(separator: " ")
        guard fields.count > 3 else { continue }
        // local_address rem_address st; FIN_WAIT2 (05) and TIME_WAIT (06): closed by this host.
        if (fields[3] == "06" || fields[3] == "05") && (fields[1].hasSuffix(hexPort) || fields[2].hasSuffix(hexPort)) { count += 1 }
    }
    return count
}

/// Established TCP connections towards `port` (remote side == port) from /proc/net/tcp.
func establishedConnections(toPort port: UInt16) -> Int {
    guard let table = readProcFile("/proc/net/tcp") else { return -1 }
    let hexPort = String(format: ":%04X", port)
    var count = 0
    for line in table.split(separator: "\n").dropFirst() {
        let fields = line.split(separator: " ")
        guard fields.count > 3 else { continue }
        if fields[3] == "01" && fields[2].hasSuffix(hexPort) { count += 1 }
    }
    return count
}

/// The result of running the gateway binary to completion (or until it was stopped).
struct GatewayRun {
    /// Exit status; nil when it was still running at the deadline and had to be terminated.
    var exitStatus: Int32?
    var stdout: String
    var stderr: String
    var elapsed: TimeInterval
}

/// Runs `gateway ARGS` and waits at most `timeout` for it to exit (then terminates it).
func runGateway(_ arguments: [String], timeout: TimeInterval = 5) throws -> GatewayRun {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: Binaries.gateway)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let started = Date()
    try process.run()
    let deadline = started.addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(10_000) }
    var killed = false
    if process.isRunning {
        killed = true
        process.terminate()
    }
    process.waitUntilExit()
    let elapsed = Date().timeIntervalSince(started)
    let exitStatus: Int32? = killed ? nil : process.terminationStatus
    let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    return GatewayRun(exitStatus: exitStatus, stdout: stdout, stderr: stderr, elapsed: elapsed)
}

/// Writes `text` to a fresh temporary config file and returns its path.
func temporaryConfig(_ text: String, name: String = "gateway-test") throws -> String {
    let path = NSTemporaryDirectory() + "\(name)-\(UUID().uuidString).conf"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}
