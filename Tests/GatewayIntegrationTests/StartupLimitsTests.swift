import Foundation
import XCTest

/// Start-up that runs into the machine's limits fails with an error, never a trap.
final class StartupLimitsTests: XCTestCase {
    func testMoreWorkersThanDescriptorsIsAnErrorNotACrash() throws {
        // 40 workers need 40 listening sockets and 40 epoll descriptors: more than a hard limit of 64.
        let path = try temporaryConfig("""
        listen 127.0.0.1:\(freePort());
        workers 40;
        upstream messaging { server 127.0.0.1:9; }
        route /v1/ { upstream messaging; }

        """, name: "limits")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "ulimit -n 64 && exec \"$0\" --config \"$1\"", Binaries.gateway, path]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(process.terminationReason, .exit, stderr)
        XCTAssertEqual(process.terminationStatus, 1, stderr)
        XCTAssertTrue(stderr.hasPrefix("gateway: cannot start: "), stderr)
        XCTAssertTrue(stderr.contains("Too many open files"), stderr)
        XCTAssertFalse(stderr.contains("listening"), stderr)
    }
}
