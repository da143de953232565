import Foundation
import XCTest

/// Passive health is one state per server for the whole process: with two workers, the failures
/// that eject a dead server are counted once, not once per worker, and the ejection keeps every
/// worker away from it.
final class SharedHealthTests: XCTestCase {
    var deployment: Deployment!

    override func setUpWithError() throws { deployment = Deployment() }
    override func tearDown() { deployment.stop() }

    func testAnEjectionObservedByOneWorkerHoldsForTheOther() throws {
        let live = try deployment.startMock()
        let dead = freePort()
        try deployment.startGateway("""
        upstream messaging { server 127.0.0.1:\(live); server 127.0.0.1:\(dead) max_fails=3 fail_timeout=30s; }
        route /v1/ { upstream messaging; }
        """, workers: 2)
        // Every request on a new connection: the kernel spreads them over both workers' listeners,
        // so each worker sees far more than max_fails of the dead server's turns.
        for i in 0..<40 {
            let response = try RawClient(port: deployment.gatewayPort).exchange(get("/v1/sessions/s", headers: "Connection: close\r\n"))
            XCTAssertEqual(response.status, 200, "request \(i): \(response.text)")
        }
        XCTAssertEqual(try mockStats(port: live).paths["GET /v1/sessions/s"], 40)
        try deployment.gateway!.waitForOutput("server 127.0.0.1:\(dead) ejected", timeout: 3)
        let output = deployment.gateway!.output
        // Per-worker health would need max_fails refusals in each worker (6) and eject twice.
        let attempts = output.components(separatedBy: "server 127.0.0.1:\(dead): connect").count - 1
        XCTAssertEqual(attempts, 3, "max_fails=3 connection attempts for the whole process:\n\(output)")
        let ejections = output.components(separatedBy: "server 127.0.0.1:\(dead) ejected").count - 1
        XCTAssertEqual(ejections, 1, "ejected once, for both workers:\n\(output)")
    }
}
