import Foundation
import XCTest

extension Deployment {
    /// Sends SIGHUP and waits until the gateway logs the outcome: the `configuration reloaded` or
    /// `reload failed` line it wrote for this reload.
    @discardableResult
    func reload() throws -> String {
        let gateway = try XCTUnwrap(self.gateway)
        let before = outcomes(gateway.output).count
        XCTAssertEqual(kill(gateway.pid, SIGHUP), 0)
        return try waitForReloadOutcome(after: before)
    }

    /// Waits for the outcome line of the reload after the first `after` ones.
    func waitForReloadOutcome(after count: Int, timeout: TimeInterval = 10) throws -> String {
        let gateway = try XCTUnwrap(self.gateway)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let lines = outcomes(gateway.output)
            if lines.count > count { return lines[count] }
            if !gateway.isRunning { break }
            usleep(5_000)
        }
        throw HarnessError("no reload outcome within \(timeout) s; output:\n\(gateway.output)")
    }

    func outcomes(_ output: String) -> [String] {
        output.split(separator: "\n").map(String.init)
            .filter { $0.contains("configuration reloaded from") || $0.contains("reload failed") }
    }
}
