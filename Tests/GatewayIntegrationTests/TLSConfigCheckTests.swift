import Foundation
import XCTest

/// Certificate, key and CA files are read by --check-config (and at start): a file OpenSSL cannot
/// use is an error at the line naming it, with the file and OpenSSL's reason.
final class TLSConfigCheckTests: XCTestCase {
    private var files: [String] = []

    override func tearDown() {
        for path in files { try? FileManager.default.removeItem(atPath: path) }
    }

    private func check(_ text: String) throws -> (path: String, run: GatewayRun) {
        let path = try temporaryConfig(text, name: "tls-check")
        files.append(path)
        return (path, try runGateway(["--check-config", path]))
    }

    private func server(_ certificate: String, _ key: String, extra: String = "") -> String {
        """
        listen 127.0.0.1:18443 ssl;
        ssl_certificate \(certificate);
        ssl_certificate_key \(key);
        \(extra)
        upstream u { server 127.0.0.1:19000; }
        route / { upstream u; }

        """
    }

    func testGoodFilesAreValid() throws {
        let f = try TLSFixtures.shared()
        let (_, run) = try check(server(f.a.chain, f.a.key) + "upstream t { server 127.0.0.1:19001 tls; tls_trusted_certificate \(f.ca); "
                                 + "tls_certificate \(f.client.chain); tls_certificate_key \(f.client.key); }\n")
        XCTAssertEqual(run.exitStatus, 0, run.stderr)
    }

    func testUnusableFilesAreErrorsNamingTheFileAndTheReason() throws {
        let f = try TLSFixtures.shared()
        let missing = f.path("missing.pem")
        let cases: [(text: String, at: String, mentions: [String])] = [
            (server(missing, f.a.key), ":2:17: 'ssl_certificate': cannot load \(missing)", ["No such file or directory"]),
            (server(f.a.chain, f.b.key), ":3:21: 'ssl_certificate_key': cannot load \(f.b.key)", ["key values mismatch"]),
            (server(f.a.key, f.a.key), ":2:17: 'ssl_certificate': cannot load \(f.a.key)", ["no start line"]),
            (server(f.a.chain, f.a.key, extra: "ssl_ciphers NOPE;"), ":4:13: 'ssl_ciphers': OpenSSL refuses \"NOPE\"", ["no cipher match"]),
            ("listen 127.0.0.1:18080;\nupstream u { server 127.0.0.1:19001 tls; tls_trusted_certificate \(missing); }\nroute / { upstream u; }\n",
             ":2:66: 'tls_trusted_certificate': cannot load \(missing)", ["No such file or directory"]),
        ]
        for (text, at, mentions) in cases {
            let (path, run) = try check(text)
            XCTAssertNotEqual(run.exitStatus, 0, text)
            XCTAssertTrue(run.stderr.contains(path + at), "expected '\(at)' in: \(run.stderr)")
            for word in mentions { XCTAssertTrue(run.stderr.contains(word), "expected '\(word)' in: \(run.stderr)") }
        }
    }
}
