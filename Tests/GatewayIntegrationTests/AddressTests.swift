import Foundation
import XCTest

/// Host names in `server` and `listen`, and a port another gateway already serves.
final class AddressTests: XCTestCase {
    private var deployment: Deployment!
    private var files: [String] = []

    override func setUp() {
        deployment = Deployment()
    }

    override func tearDown() {
        deployment.stop()
        for path in files { try? FileManager.default.removeItem(atPath: path) }
    }

    private func config(_ text: String) throws -> String {
        let path = try temporaryConfig(text, name: "address")
        files.append(path)
        return path
    }

    func testLocalhostUpstreamAndListenAreResolved() throws {
        let mock = try deployment.startMock()
        try deployment.startGateway("""
        upstream messaging { server localhost:\(mock); }
        route /v1/ { upstream messaging; }
        """)
        let response = try RawClient(port: deployment.gatewayPort).exchange(get("/v1/sessions/demo"))
        XCTAssertEqual(response.status, 200, response.text)
    }

    func testTheMachinesHostNameAsAnUpstream() throws {
        // The name the machine calls itself, wherever it resolves (127.0.1.1 on Debian, the container's
        // address in Docker): the mock listens there and the gateway must find it by name.
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count)
        let name = String(cString: buffer)
        guard let address = ipv4Address(of: name), name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" }) else {
            throw XCTSkip("host name '\(name)' does not resolve to an IPv4 address here")
        }
        let port = freePort()
        let mock = try ChildProcess(Binaries.mockUpstream, ["--host", address, "--port", "\(port)"])
        defer { mock.stop() }
        try mock.waitForOutput("listening")
        try deployment.startGateway("""
        upstream messaging { server \(name):\(port); }
        route /v1/ { upstream messaging; }
        """)
        let response = try RawClient(port: deployment.gatewayPort).exchange(get("/v1/sessions/demo"))
        XCTAssertEqual(response.status, 200, response.text)
    }

    func testUnresolvableNameIsAConfigErrorNotACrash() throws {
        let path = try config("""
        listen 127.0.0.1:\(freePort());
        upstream messaging {
            server api.internal.invalid:9000;
        }
        route /v1/ { upstream messaging; }

        """)
        let check = try runGateway(["--check-config", path])
        XCTAssertEqual(check.exitStatus, 1, check.stderr)
        XCTAssertTrue(check.stderr.hasPrefix("gateway: \(path):3:12: 'server': cannot resolve 'api.internal.invalid': "), check.stderr)
        let run = try runGateway(["--config", path], timeout: 10)
        XCTAssertEqual(run.exitStatus, 1, "exits with an error, not a signal: \(run.stderr)")
        XCTAssertEqual(run.stderr, check.stderr)
    }

    func testASecondGatewayOnTheSamePortRefusesToStart() throws {
        let mock = try deployment.startMock()
        try deployment.startGateway(servers: [mock], workers: 2)
        let second = try runGateway(["--config", deployment.configPath], timeout: 5)
        XCTAssertEqual(second.exitStatus, 1, "the second gateway must exit, not share the port: \(second.stderr)")
        XCTAssertTrue(second.stderr.lowercased().contains("address already in use"), second.stderr)
        XCTAssertTrue(second.stderr.contains("\(deployment.configPath):1:8: bind 127.0.0.1:\(deployment.gatewayPort)"), second.stderr)
        XCTAssertFalse(second.stderr.contains("listening"), second.stderr)
        // The first keeps the port to itself and keeps serving.
        XCTAssertEqual(listeningSockets(port: deployment.gatewayPort), 2)
        let response = try RawClient(port: deployment.gatewayPort).exchange(get("/v1/sessions/demo"))
        XCTAssertEqual(response.status, 200, response.text)
    }

    private func ipv4Address(of name: String) -> String? {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &list) == 0, let first = list else { return nil }
        defer { freeaddrinfo(list) }
        var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        let address = first.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
        var copy = address
        guard inet_ntop(AF_INET, &copy, &text, socklen_t(text.count)) != nil else { return nil }
        return String(cString: text)
    }
}
