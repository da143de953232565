import Foundation
import XCTest

/// `Upgrade` end to end: the mock's /v1/tunnel answers 101 and echoes bytes, like a WebSocket server.
final class UpgradeTests: XCTestCase {
    var deployment: Deployment!

    override func setUpWithError() throws {
        deployment = Deployment()
        let mock = try deployment.startMock()
        try deployment.startGateway("""
        upstream messaging { server 127.0.0.1:\(mock); response_timeout 2s; }
        route /v1/tunnel { upstream messaging; upgrade echo websocket; }
        route /v1/ { upstream messaging; }
        """)
    }

    override func tearDown() { deployment.stop() }

    func testAnUpgradedConnectionIsATwoWayTunnel() throws {
        let c = try RawClient(port: deployment.gatewayPort, timeout: 5)
        try c.send("GET /v1/tunnel HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        let switched = try c.readHead()
        XCTAssertEqual(switched.status, 101)
        XCTAssertEqual(switched.header("Upgrade"), "echo")
        XCTAssertEqual(switched.header("Connection")?.lowercased(), "upgrade")
        XCTAssertEqual(switched.header("X-Mock-Tunnel"), "echo")
        XCTAssertNotNil(switched.header("X-Request-Id"))
        for message in ["ping", String(repeating: "x", count: 200_000), "done"] {
            try c.send(message)
            XCTAssertEqual(String(decoding: try c.read(exactly: message.utf8.count), as: UTF8.self), message)
        }
        shutdown(c.fd, Int32(SHUT_WR))
        XCTAssertTrue(c.readUntilClose().closed, "the client's close ends the tunnel")
    }

    func testARouteWithoutUpgradeKeepsSpeakingHTTP() throws {
        let c = try RawClient(port: deployment.gatewayPort)
        let answer = try c.exchange("GET /v1/tunnel-not HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        XCTAssertNotEqual(answer.status, 101)
        let echo = try c.exchange("GET /v1/echo HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        let headers = (echo.json["headers"] as? [[String]] ?? []).map { $0[0].lowercased() }
        XCTAssertFalse(headers.contains("upgrade"), "an Upgrade the route does not allow is hop-by-hop: dropped")
    }
}
