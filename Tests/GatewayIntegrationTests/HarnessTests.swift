import Foundation
import XCTest

/// The harness itself: a port taken between `freePort()` and the child's bind is survived with a
/// fresh port, while any other failure to start is still reported.
final class HarnessTests: XCTestCase {
    var deployment: Deployment!

    override func setUpWithError() throws { deployment = Deployment() }
    override func tearDown() { deployment.stop() }

    func testFreePortNeverHandsOutTheSamePortTwice() {
        let ports = (0..<200).map { _ in freePort() }
        XCTAssertEqual(Set(ports).count, ports.count)
    }

    func testGatewayStartSurvivesATakenPort() throws {
        let mock = try deployment.startMock()
        let taken = deployment.gatewayPort
        let fd = try occupy(taken)
        defer { close(fd) }
        try deployment.startGateway(servers: [mock])
        XCTAssertNotEqual(deployment.gatewayPort, taken)
        XCTAssertEqual(deployment.portRaces.count, 1, "\(deployment.portRaces)")
        XCTAssertTrue(deployment.portRaces.first?.contains("Address already in use") ?? false, "\(deployment.portRaces)")
        XCTAssertEqual(try RawClient(port: deployment.gatewayPort).exchange(get("/v1/sessions/a")).status, 200)
    }

    func testGatewayStartAvoidsAPortSharedWithAnotherListener() throws {
        // The gateway's SO_REUSEPORT would let it share the port with this listener and lose connections to it.
        let mock = try deployment.startMock()
        let shared = deployment.gatewayPort
        let fd = try occupy(shared, reusePort: true)
        defer { close(fd) }
        try deployment.startGateway(servers: [mock])
        XCTAssertNotEqual(deployment.gatewayPort, shared)
        XCTAssertEqual(deployment.portRaces.count, 1, "\(deployment.portRaces)")
        for _ in 0..<4 {
            XCTAssertEqual(try RawClient(port: deployment.gatewayPort).exchange(get("/v1/sessions/a")).status, 200)
        }
    }

    func testMockOnATakenExplicitPortIsAnError() throws {
        let port = freePort()
        let fd = try occupy(port)
        defer { close(fd) }
        XCTAssertThrowsError(try deployment.startMock(port: port)) { error in
            XCTAssertTrue("\(error)".contains("cannot bind"), "\(error)")
        }
    }

    func testABadConfigIsReportedNotRetried() throws {
        XCTAssertThrowsError(try deployment.startGateway("upstream messaging { server 127.0.0.1:1; }\nroute /v1/ { upstream nowhere; }")) { error in
            XCTAssertTrue("\(error)".contains("exited with status"), "\(error)")
            XCTAssertTrue("\(error)".contains("nowhere"), "the gateway's own message: \(error)")
        }
        XCTAssertEqual(deployment.portRaces, [])
    }
}
