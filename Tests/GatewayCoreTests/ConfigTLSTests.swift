import XCTest
@testable import GatewayCore

/// The TLS directives as the builder reads them: listeners, certificates paired in order, upstream
/// TLS per server or per block, defaults, and the settings that would silently do nothing.
final class ConfigTLSTests: XCTestCase {
    private let certs = "ssl_certificate a.pem;\nssl_certificate_key a.key;\n"

    func testDefaults() throws {
        let config = try parseConfig(minimalConfig)
        XCTAssertEqual(config.listen.map(\.ssl), [false])
        XCTAssertTrue(config.tls.certificates.isEmpty)
        XCTAssertEqual(config.tls.minVersion, .tls12)
        XCTAssertEqual(config.tls.maxVersion, .tls13)
        XCTAssertEqual(config.tls.ciphers, "HIGH:!aNULL:!MD5")
        XCTAssertTrue(config.tls.sessionTickets)
        XCTAssertEqual(config.tls.handshakeTimeoutMs, 10_000)
        XCTAssertEqual(config.upstreams["u"]?.servers.map(\.tls), [false])
        XCTAssertNil(config.upstreams["u"]?.tls.trustedCertificate)
    }

    func testTLSAndPlainListenersCoexistAndCertificatesPairInOrder() throws {
        let config = try parseConfig(minimalConfig + "listen 8443 ssl;\n" + certs + "ssl_certificate /b.pem;\nssl_certificate_key /b.key;\n")
        XCTAssertEqual(config.listen.map(\.ssl), [false, true])
        XCTAssertEqual(config.tls.certificates.map(\.chain.path), ["/nonexistent/a.pem", "/b.pem"])
        XCTAssertEqual(config.tls.certificates.map(\.key.path), ["/nonexistent/a.key", "/b.key"])
        XCTAssertEqual(config.tls.certificates[0].chain.location, SourceLocation(file: "test.conf", line: 4, column: 17))
    }

    func testProtocols() throws {
        let only12 = try parseConfig(minimalConfig + "ssl_protocols TLSv1.2;")
        XCTAssertEqual([only12.tls.minVersion, only12.tls.maxVersion], [.tls12, .tls12])
        let both = try parseConfig(minimalConfig + "ssl_protocols TLSv1.3 TLSv1.2;")
        XCTAssertEqual([both.tls.minVersion, both.tls.maxVersion], [.tls12, .tls13])
    }

    func testUpstreamTLSPerServerOrForTheWholeBlock() throws {
        let perServer = try parseConfig("listen 8080;\nupstream u { server a.example:443 tls weight=2; server 127.0.0.1:80; }\n")
        XCTAssertEqual(perServer.upstreams["u"]?.servers.map(\.tls), [true, false])
        XCTAssertEqual(perServer.upstreams["u"]?.servers.first?.weight, 2)
        let block = try parseConfig("listen 8080;\nupstream u { server 127.0.0.1:1; server 127.0.0.1:2; tls on; tls_server_name api.example.com; }\n")
        XCTAssertEqual(block.upstreams["u"]?.servers.map(\.tls), [true, true])
        XCTAssertEqual(block.upstreams["u"]?.tls.serverName, "api.example.com")
    }

    func testErrors() {
        assertConfigError(minimalConfig + "listen 8443 ssl;", at: "test.conf:3:8", ["'listen ... ssl' needs a certificate", "ssl_certificate"])
        assertConfigError(minimalConfig + "listen 8443 tls;", at: "test.conf:3:13", ["'listen'", "'ssl'"])
        assertConfigError(minimalConfig + "ssl_certificate a.pem;", at: "test.conf:3:17", ["a.pem", "has no 'ssl_certificate_key'"])
        assertConfigError(minimalConfig + certs + "ssl_certificate_key b.key;", at: "test.conf:5:21",
                          ["b.key", "has no 'ssl_certificate' before it"])
        assertConfigError(minimalConfig + "ssl_protocols TLSv1.1;", at: "test.conf:3:15", ["'ssl_protocols'", "TLSv1.2 or TLSv1.3"])
        assertConfigError(minimalConfig + "ssl_protocols TLSv1.3 TLSv1.3;", at: "test.conf:3:23", ["listed twice"])
        assertConfigError(minimalConfig + "ssl_session_tickets maybe;", at: "test.conf:3:21", ["on or off"])
        assertConfigError("listen 8080;\nupstream u { server 127.0.0.1:1 tls=on; }", at: "test.conf:2:33", ["'tls' alone"])
        assertConfigError("listen 8080;\nupstream u { server 127.0.0.1:1 tls tls; }", at: "test.conf:2:37", ["duplicate option 'tls'"])
        assertConfigError("listen 8080;\nupstream u { server 127.0.0.1:1; tls_server_name a.example; }", at: "test.conf:2:34",
                          ["'tls_server_name' has no effect", "tls on"])
        assertConfigError("listen 8080;\nupstream u { server 127.0.0.1:1 tls; tls_server_name -bad-.example; }", at: "test.conf:2:54",
                          ["DNS host name"])
        assertConfigError("listen 8080;\nupstream u { server 127.0.0.1:1 tls; tls_certificate c.pem; }", at: "test.conf:2:54",
                          ["'tls_certificate' needs 'tls_certificate_key'"])
    }
}
