import Foundation
import XCTest

/// Certificates reload with the configuration: new TLS connections get the new ones, a file that
/// cannot be loaded fails the reload, and a listen address can take up `ssl` on the same socket.
final class TLSReloadTests: XCTestCase {
    var deployment: Deployment!
    var fixtures: TLSFixtures!
    var mock: UInt16 = 0
    var tlsPort: UInt16 = 0

    override func setUpWithError() throws {
        fixtures = try TLSFixtures.shared()
        deployment = Deployment()
        mock = try deployment.startMock()
        tlsPort = freePort()
    }

    override func tearDown() { deployment.stop() }

    private func config(listen: String, certificates: [(chain: String, key: String)]) -> String {
        let files = certificates.map { "ssl_certificate \($0.chain);\nssl_certificate_key \($0.key);" }.joined(separator: "\n")
        return """
        listen 127.0.0.1:\(tlsPort)\(listen);
        \(files)
        upstream messaging { server 127.0.0.1:\(mock); }
        route /v1/ { upstream messaging; }
        """
    }

    /// The subject of the certificate a handshake without SNI gets (the first one configured).
    private func presented() throws -> String {
        guard let openssl = toolPath("openssl") else { throw HarnessError("openssl is missing") }
        let run = try runTool(openssl, ["s_client", "-connect", "127.0.0.1:\(tlsPort)", "-CAfile", fixtures.ca, "-noservername"],
                              input: Data(), timeout: 10)
        let text = run.text + run.stderr
        return text.range(of: "subject=CN = [a-z.]+", options: .regularExpression).map { String(text[$0]) } ?? text
    }

    func testNewConnectionsGetTheReloadedCertificates() throws {
        try deployment.startGateway(config(listen: " ssl", certificates: [fixtures.a, fixtures.b]), workers: 1)
        XCTAssertEqual(try presented(), "subject=CN = a.test")

        try deployment.writeConfig(config(listen: " ssl", certificates: [fixtures.b, fixtures.a]), workers: 1)
        XCTAssertTrue(try deployment.reload().contains("(generation 2)"))
        XCTAssertEqual(try presented(), "subject=CN = b.test")

        // A key that does not match its certificate: refused with OpenSSL's reason, the old ones stay.
        try deployment.writeConfig(config(listen: " ssl", certificates: [(fixtures.a.chain, fixtures.b.key)]), workers: 1)
        XCTAssertTrue(try deployment.reload().contains("reload failed"))
        XCTAssertEqual(try presented(), "subject=CN = b.test")
    }

    func testAListenAddressTakesUpSSLOnTheSameSocket() throws {
        try deployment.startGateway(config(listen: "", certificates: [fixtures.a]), workers: 1)
        XCTAssertEqual(try RawClient(port: tlsPort).exchange(get("/v1/sessions/a")).status, 200)
        let keptAlive = try RawClient(port: tlsPort)
        XCTAssertEqual(try keptAlive.exchange(get("/v1/sessions/a")).status, 200)

        try deployment.writeConfig(config(listen: " ssl", certificates: [fixtures.a]), workers: 1)
        try deployment.reload()
        XCTAssertEqual(try presented(), "subject=CN = a.test")
        XCTAssertEqual(try keptAlive.exchange(get("/v1/sessions/a")).status, 200, "a plain connection from before goes on")
        XCTAssertEqual(listeningSockets(port: tlsPort), 1)
    }
}
