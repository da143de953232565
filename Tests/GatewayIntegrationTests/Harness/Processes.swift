import Foundation
import XCTest

/// Where `swift build` put the binaries under test.
enum Binaries {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static var gateway: String { path("gateway") }
    static var mockUpstream: String { path("mock-upstream") }

    /// `GATEWAY_BUILD_DIR` (a directory holding `gateway` and `mock-upstream`, e.g. a sanitizer build's
    /// `.build-tsan/debug`) or `GATEWAY_BINARY` (the gateway alone) choose other binaries than `.build`'s.
    private static func path(_ name: String) -> String {
        let environment = ProcessInfo.processInfo.environment
        if name == "gateway", let binary = environment["GATEWAY_BINARY"], !binary.isEmpty { return binary }
        if let directory = environment["GATEWAY_BUILD_DIR"], !directory.isEmpty {
            return URL(fileURLWithPath: directory).appendingPathComponent(name).path
        }
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
    private var reachedEOF = false

    init(_ executable: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil }
            guard let self else { return }
            self.lock.lock()
            if data.isEmpty { self.reachedEOF = true } else { self.captured.append(data) }
            self.lock.unlock()
        }
        try process.run()
    }

    var output: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: captured, as: UTF8.self)
    }

    private var outputComplete: Bool {
        lock.lock()
        defer { lock.unlock() }
        return reachedEOF
    }

    var pid: Int32 { process.processIdentifier }

    var isRunning: Bool { process.isRunning }

    /// SIGTERM; a gateway drains, and what it still has in flight after a moment is cut off
    /// with a second SIGTERM, so no test waits for a `shutdown_timeout`.
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        if waitForExit(timeout: 1) == nil { process.terminate() }
        process.waitUntilExit()
    }

    /// The exit status, or nil if the process is still running after `timeout` seconds.
    func waitForExit(timeout: TimeInterval) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(5_000) }
        if process.isRunning { return nil }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Waits until `text` appears in the output. If the process exits first, its last words are
    /// collected (up to EOF on the pipe) before giving up, so the error shows why it exited.
    func waitForOutput(_ text: String, timeout: TimeInterval = 10) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if output.contains(text) { return }
            if !process.isRunning { break }
            usleep(20_000)
        }
        if !process.isRunning {
            let drained = Date().addingTimeInterval(1)
            while !outputComplete && Date() < drained { usleep(10_000) }
            if output.contains(text) { return }
            throw HarnessError("'\(text)' did not appear: the process exited with status \(process.terminationStatus); "
                               + "output:\n\(output)")
        }
        throw HarnessError("'\(text)' did not appear within \(timeout) s; output so far:\n\(output)")
    }

    deinit { stop() }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The ports `freePort()` has handed out in this test process. The kernel may well give a port
/// it just released to the next `bind(0)`, so without this two parts of one test (a gateway and
/// its mock, a "dead" server and the gateway) could be handed the same port.
private final class PortLedger: @unchecked Sendable {
    private let lock = NSLock()
    private var handedOut: Set<UInt16> = []

    func claim(_ port: UInt16) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return handedOut.insert(port).inserted
    }
}

private let portLedger = PortLedger()

/// A port nobody listens on right now (bound and released by the kernel's choice), and never
/// handed out before by this process. Another process may still take it before it is used:
/// `Deployment` retries a start that fails with EADDRINUSE.
func freePort() -> UInt16 {
    for _ in 0..<1000 {
        let port = kernelChosenPort()
        if port != 0 && portLedger.claim(port) { return port }
    }
    fatalError("no free port found")
}

/// Calls `body` with 127.0.0.1:`port` as a socket address and its length (for bind or connect).
func withLoopbackAddress<T>(_ port: UInt16, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = port.bigEndian
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
}

/// A listening socket on 127.0.0.1:`port`, held as another process would hold it.
func occupy(_ port: UInt16, reusePort: Bool = false) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var one: Int32 = 1
    if reusePort { setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size)) }
    let bound = withLoopbackAddress(port) { bind(fd, $0, $1) }
    guard bound == 0, listen(fd, 8) == 0 else {
        close(fd)
        throw HarnessError("cannot occupy \(port): errno \(errno)")
    }
    return fd
}

private func kernelChosenPort() -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    if bound != 0 { return 0 }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return UInt16(bigEndian: address.sin_port)
}

/// Whether a child that failed to start did so only because its port was taken meanwhile
/// (gateway: "bind: Address already in use"; mock-upstream: "cannot bind ...: errno 98").
private func failedOnPortInUse(_ child: ChildProcess) -> Bool {
    if child.isRunning { return false }
    let output = child.output
    return output.contains("Address already in use") || output.contains("errno \(EADDRINUSE)")
}

/// Listening TCP sockets on 127.0.0.1:`port` or *:`port`, whoever owns them (from /proc/net/tcp).
func listeningSockets(port: UInt16) -> Int {
    guard let table = readProcFile("/proc/net/tcp") else { return -1 }
    let suffix = String(format: ":%04X", port)
    var count = 0
    for line in table.split(separator: "\n").dropFirst() {
        let fields = line.split(separator: " ")
        guard fields.count > 3, fields[3] == "0A", fields[1].hasSuffix(suffix) else { continue }
        if fields[1].hasPrefix("0100007F:") || fields[1].hasPrefix("00000000:") { count += 1 }
    }
    return count
}

/// Starts mock upstreams and a gateway in front of them for one test.
final class Deployment {
    private(set) var mocks: [(port: UInt16, process: ChildProcess)] = []
    private(set) var gateway: ChildProcess?
    /// Where the gateway listens; a fresh port is taken if another process grabbed this one first.
    private(set) var gatewayPort = freePort()
    let configPath = NSTemporaryDirectory() + "gateway-test-\(UUID().uuidString).conf"
    /// Starts that lost a port race before one succeeded (the children's output, for diagnosis).
    private(set) var portRaces: [String] = []
    private static let startAttempts = 4

    /// Starts a mock on `port`, or on a fresh port (retried with another one should it be taken
    /// before the mock binds it). An explicit port is used as is: failing to bind it is an error.
    @discardableResult
    func startMock(dialect: String = "snake", port: UInt16? = nil) throws -> UInt16 {
        for attempt in 1...Self.startAttempts {
            let chosen = port ?? freePort()
            let mock = try ChildProcess(Binaries.mockUpstream, ["--port", "\(chosen)", "--dialect", dialect])
            do {
                try mock.waitForOutput("listening")
            } catch {
                if port == nil && attempt < Self.startAttempts && failedOnPortInUse(mock) {
                    portRaces.append("mock on \(chosen): \(mock.output)")
                    continue
                }
                mock.stop()
                throw error
            }
            mocks.append((chosen, mock))
            return chosen
        }
        fatalError("unreachable")
    }

    /// `GATEWAY_TEST_IO_ENGINE=epoll|io_uring` runs every gateway these tests start on that engine
    /// (`./dev.sh test` runs the integration tests once more on the engine `auto` did not pick).
    static let engineLine = ProcessInfo.processInfo.environment["GATEWAY_TEST_IO_ENGINE"].map { "io_engine \($0);" } ?? ""

    /// Writes a config with `body` (upstream and route blocks etc.) and starts the gateway on it.
    /// When the port turns out to be taken by another process (the gateway exits with EADDRINUSE, or
    /// someone else's SO_REUSEPORT listener shares it), it starts again on a fresh port; any other
    /// failure to start is reported with the gateway's output.
    func startGateway(_ body: String, workers: Int = 2, extra: String = "") throws {
        for attempt in 1...Self.startAttempts {
            try writeConfig(body, workers: workers, extra: extra)
            let process = try ChildProcess(Binaries.gateway, ["--config", configPath])
            let lastAttempt = attempt == Self.startAttempts
            do {
                try process.waitForOutput("listening")
            } catch {
                if !lastAttempt && failedOnPortInUse(process) {
                    portRaces.append("gateway on \(gatewayPort): \(process.output)")
                    gatewayPort = freePort()
                    continue
                }
                process.stop()
                throw error
            }
            // The gateway binds with SO_REUSEPORT: a listener of another process on the same port would
            // silently take part of the connections. Exactly one listener per worker must be there.
            let listeners = listeningSockets(port: gatewayPort)
            if listeners > workers {
                process.stop()
                let race = "gateway on \(gatewayPort): \(listeners) listeners for \(workers) worker(s)"
                if lastAttempt { throw HarnessError("\(race); earlier attempts: \(portRaces)") }
                portRaces.append(race)
                gatewayPort = freePort()
                continue
            }
            gateway = process
            return
        }
    }

    /// The config file `startGateway` runs (and a reload reads): the gateway's listen line, then the rest.
    func writeConfig(_ body: String, workers: Int = 2, extra: String = "") throws {
        let engine = (extra + body).contains("io_engine") ? "" : Self.engineLine
        let text = """
        listen 127.0.0.1:\(gatewayPort);
        workers \(workers);
        \(engine)
        \(extra)
        \(body)
        """
        try text.write(toFile: configPath, atomically: true, encoding: .utf8)
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
