import Foundation
import XCTest

/// Where `swift build` put the binaries under test.
enum Binaries {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static var gateway: String { path("gateway") }
    static var mockUpstream: String { path("mock-upstream") }

    private static func path(_ name: String) -> String {
        for configuration in ["debug", "release"] {
            let candidate = root.appendingPathComponent(".build/\(configuration)/\(name)").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return root.appendingPathComponent(".build/debug/\(name)").path
    }
}

/// A child process whose stdout and stderr are captured, killed when the test ends.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var captured = Data()

    init(_ executable: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self else { return }
            self.lock.lock()
            self.captured.append(data)
            self.lock.unlock()
        }
        try process.run()
    }

    var output: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: captured, as: UTF8.self)
    }

    var pid: Int32 { process.processIdentifier }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    /// Waits until `text` appears in the output.
    func waitForOutput(_ text: String, timeout: TimeInterval = 10) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if output.contains(text) { return }
            if !process.isRunning { break }
            usleep(20_000)
        }
        throw HarnessError("'\(text)' did not appear; output so far:\n\(output)")
    }

    deinit { stop() }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A port nobody listens on right now (bound and released by the kernel's choice).
func freePort() -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return UInt16(bigEndian: address.sin_port)
}

/// Starts mock upstreams and a gateway in front of them for one test.
final class Deployment {
    private(set) var mocks: [(port: UInt16, process: ChildProcess)] = []
    private(set) var gateway: ChildProcess?
    let gatewayPort = freePort()
    let configPath = NSTemporaryDirectory() + "gateway-test-\(UUID().uuidString).conf"

    @discardableResult
    func startMock(dialect: String = "snake", port: UInt16 = freePort()) throws -> UInt16 {
        let mock = try ChildProcess(Binaries.mockUpstream, ["--port", "\(port)", "--dialect", dialect])
        try mock.waitForOutput("listening")
        mocks.append((port, mock))
        return port
    }

    /// Writes a config with `body` (upstream and route blocks etc.) and starts the gateway on it.
    func startGateway(_ body: String, workers: Int = 2, extra: String = "") throws {
        let text = """
        listen 127.0.0.1:\(gatewayPort);
        workers \(workers);
        \(extra)
        \(body)
        """
        try text.write(toFile: configPath, atomically: true, encoding: .utf8)
        let process = try ChildProcess(Binaries.gateway, ["--config", configPath])
        gateway = process
        try process.waitForOutput("listening")
    }

    /// The usual shape: one upstream `messaging` with the given servers, one /v1/ route.
    func startGateway(servers: [UInt16], upstreamExtra: String = "", routeExtra: String = "", extra: String = "", workers: Int = 2) throws {
        let lines = servers.map { "server 127.0.0.1:\($0);" }.joined(separator: " ")
        try startGateway("""
        upstream messaging { \(lines) \(upstreamExtra) }
        route /v1/ { upstream messaging; \(routeExtra) }
        """, workers: workers, extra: extra)
    }

    /// Stops the mock listening on `port` (its port then refuses connections).
    func stopMock(port: UInt16) {
        guard let index = mocks.firstIndex(where: { $0.port == port }) else { return }
        mocks[index].process.stop()
        mocks.remove(at: index)
    }

    func stop() {
        gateway?.stop()
        for mock in mocks { mock.process.stop() }
        try? FileManager.default.removeItem(atPath: configPath)
    }

    deinit { stop() }
}
