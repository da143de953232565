import Foundation
import XCTest

/// Signals an operator sends to a running gateway.
final class SignalTests: XCTestCase {
    func testSIGHUPIsLoggedAndLeavesTheGatewayServing() throws {
        let deployment = Deployment()
        defer { deployment.stop() }
        let mock = try deployment.startMock()
        try deployment.startGateway(servers: [mock], workers: 2)
        guard let gateway = deployment.gateway else { return XCTFail("no gateway") }
        let client = try RawClient(port: deployment.gatewayPort)
        let line = "reload is not supported yet; ignoring SIGHUP"
        for round in 1...2 {
            XCTAssertEqual(kill(gateway.pid, SIGHUP), 0)
            let deadline = Date().addingTimeInterval(5)
            while gateway.output.components(separatedBy: line).count - 1 < round && gateway.isRunning && Date() < deadline {
                usleep(10_000)
            }
            XCTAssertEqual(gateway.output.components(separatedBy: line).count - 1, round, "round \(round): \(gateway.output)")
            XCTAssertTrue(gateway.isRunning, "round \(round)")
            let response = try client.exchange(get("/v1/sessions/demo"))
            XCTAssertEqual(response.status, 200, "round \(round): \(response.text)")
        }
    }
}
