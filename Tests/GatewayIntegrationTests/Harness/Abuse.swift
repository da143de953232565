import Foundation
import XCTest

/// Helpers for the abuse suites (slow clients, upstream faults, descriptor exhaustion).

/// Resident set size of a process in KiB (VmRSS in /proc/PID/status), or -1.
func residentKiB(pid: Int32) -> Int {
    guard let status = readProcFile("/proc/\(pid)/status") else { return -1 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
    }
    return -1
}

/// Open descriptors of a process (entries of /proc/PID/fd), or -1.
func openDescriptors(pid: Int32) -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
}

/// The local port a connected socket got.
func localPort(of fd: Int32) -> UInt16 {
    var address = sockaddr_in()
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return UInt16(bigEndian: address.sin_port)
}

/// The TCP state (hex, as in /proc/net/tcp: 01 ESTABLISHED, 04 FIN_WAIT1, 06 TIME_WAIT, 08 CLOSE_WAIT...)
/// of the socket whose local port is `local` and remote port is `remote`; nil when there is none.
func tcpState(localPort local: UInt16, remotePort remote: UInt16) -> String? {
    guard let table = readProcFile("/proc/net/tcp") else { return nil }
    let l = String(format: ":%04X", local), r = String(format: ":%04X", remote)
    for line in table.split(separator: "\n").dropFirst() {
        let fields = line.split(separator: " ")
        if fields.count > 3 && fields[1].hasSuffix(l) && fields[2].hasSuffix(r) { return String(fields[3]) }
    }
    return nil
}

/// Waits until the socket is readable (data or EOF); false on timeout.
func waitReadable(_ fd: Int32, timeoutMs: Int32) -> Bool {
    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    return poll(&p, 1, timeoutMs) > 0
}

/// A well-behaved client running beside an attack: one keep-alive connection, a GET every
/// `intervalMs`, each timed. Reconnects (counted as a failure) if the connection breaks.
final class LatencyProbe: @unchecked Sendable {
    private let port: UInt16
    private let path: String
    private let intervalMs: UInt32
    private let lock = NSLock()
    private var latencies: [Double] = []
    private var failures: [String] = []
    private var running = true
    private var finished = false

    init(port: UInt16, path: String = "/v1/sessions/probe", intervalMs: UInt32 = 50) {
        self.port = port
        self.path = path
        self.intervalMs = intervalMs
        let thread = Thread { [self] in run() }
        thread.start()
    }

    private func run() {
        var client: RawClient?
        while isRunning {
            do {
                if client == nil { client = try RawClient(port: port, timeout: 3) }
                let started = Date()
                let response = try client!.exchange(get(path))
                let ms = Date().timeIntervalSince(started) * 1000
                lock.lock()
                if response.status == 200 { latencies.append(ms) } else { failures.append("status \(response.status)") }
                lock.unlock()
            } catch {
                lock.lock()
                failures.append("\(error)")
                lock.unlock()
                client = nil
            }
            usleep(intervalMs * 1000)
        }
        lock.lock()
        finished = true
        lock.unlock()
    }

    private var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        return running
    }

    struct Report: CustomStringConvertible {
        var count: Int
        var failures: [String]
        var p50: Double, p95: Double, max: Double
        var description: String {
            String(format: "%d requests, %d failures, p50 %.1f ms, p95 %.1f ms, max %.1f ms", count, failures.count, p50, p95, max)
        }
    }

    /// Stops the probe and returns what it measured.
    func stop() -> Report {
        lock.lock()
        running = false
        lock.unlock()
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            lock.lock()
            let done = finished
            lock.unlock()
            if done { break }
            usleep(10_000)
        }
        lock.lock()
        defer { lock.unlock() }
        let sorted = latencies.sorted()
        func at(_ q: Double) -> Double { sorted.isEmpty ? .infinity : sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))] }
        return Report(count: sorted.count, failures: failures, p50: at(0.5), p95: at(0.95), max: sorted.last ?? .infinity)
    }

    /// Asserts the bystander was served throughout: every request 200, p95 under `p95Ms`, none over `maxMs`.
    static func assertHealthy(_ report: Report, p95Ms: Double = 200, maxMs: Double = 1000, minCount: Int = 5,
                              file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(report.failures, [], "the concurrent normal client failed: \(report)", file: file, line: line)
        XCTAssertGreaterThanOrEqual(report.count, minCount, "the concurrent client made too few requests: \(report)", file: file, line: line)
        XCTAssertLessThan(report.p95, p95Ms, "concurrent client latency: \(report)", file: file, line: line)
        XCTAssertLessThan(report.max, maxMs, "concurrent client latency: \(report)", file: file, line: line)
    }
}
