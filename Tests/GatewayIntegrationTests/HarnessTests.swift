import Foundation
import XCTest

/// The harness itself: a port taken between `freePort()` and the child's bind is survived with a
/// fresh port, while any other failure to start is still reported.
final class HarnessTests: XCTestCase {
    var deployment: Deployment!

    override func setUpWithError() throws { deployment = Deployment() }
    override func tearDown() { deployment.stop() }

    /// A listening socket on 127.0.0.1:`port`, as another process would hold it.
    private func occupy(_ port: UInt16, reusePort: Bool = false) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        if reusePort { setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size)) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = port.bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 8) == 0 else {
            close(fd)
            throw HarnessError("cannot occupy \(port): errno \(errno)")
        }
        return fd
    }

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
