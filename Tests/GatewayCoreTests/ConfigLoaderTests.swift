import Foundation
import XCTest
@testable import GatewayCore

final class ConfigLoaderTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "gateway-config-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory + "/conf.d", withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(atPath: directory)
    }

    private func write(_ name: String, _ text: String) throws -> String {
        let path = directory + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testIncludesAreSplicedRelativeToTheIncludingFile() throws {
        _ = try write("conf.d/upstreams.conf", "upstream u {\n  server 127.0.0.1:9000;\n}\ninclude limits.conf;\n")
        _ = try write("conf.d/limits.conf", "max_headers 7;\n")
        let main = try write("main.conf", "listen 8080;\ninclude conf.d/upstreams.conf;\nroute / { upstream u; }\n")
        let config = try GatewayConfig.load(path: main)
        XCTAssertEqual(config.sourceFile, main)
        XCTAssertEqual(config.upstreams["u"]?.servers.first?.port, 9000)
        XCTAssertEqual(config.client.maxHeaders, 7)
        XCTAssertEqual(config.routes.map(\.prefix), ["/"])
    }

    func testParseResolvesIncludesAgainstBaseDirectory() throws {
        _ = try write("listen.conf", "listen 9999;")
        let config = try GatewayConfig.parse(text: "include listen.conf;", file: "inline", baseDirectory: directory)
        XCTAssertEqual(config.listen, [ListenAddress(host: "0.0.0.0", port: 9999)])
    }

    func testErrorsInIncludedFilesNameThatFile() throws {
        let included = try write("conf.d/bad.conf", "# limits\nmax_headers 5;\n  max_hedaers 6;\n")
        let main = try write("main.conf", "listen 8080;\ninclude conf.d/bad.conf;\n")
        XCTAssertThrowsError(try GatewayConfig.load(path: main)) { error in
            XCTAssertEqual(String(describing: error).components(separatedBy: ": ").first, "\(included):3:3")
            XCTAssertTrue(String(describing: error).contains("did you mean 'max_headers'?"))
        }
        _ = try write("conf.d/dup.conf", "listen 1;\nworkers 2;\n")
        let dup = try write("dup.conf", "workers 1;\ninclude conf.d/dup.conf;\n")
        XCTAssertThrowsError(try GatewayConfig.load(path: dup)) { error in
            XCTAssertEqual(String(describing: error), "\(directory)/conf.d/dup.conf:2:1: duplicate 'workers'; it is already set at \(dup):1:1")
        }
        _ = try write("conf.d/syntax.conf", "listen 1")
        let syntax = try write("syntax.conf", "include conf.d/syntax.conf;")
        XCTAssertThrowsError(try GatewayConfig.load(path: syntax)) { error in
            XCTAssertTrue(String(describing: error).hasPrefix("\(directory)/conf.d/syntax.conf:1:9: missing ';'"))
        }
    }

    func testIncludeProblemsPointAtTheIncludeDirective() throws {
        let missing = try write("missing.conf", "listen 1;\n include nope.conf;\n")
        XCTAssertThrowsError(try GatewayConfig.load(path: missing)) { error in
            let description = String(describing: error)
            XCTAssertTrue(description.hasPrefix("\(missing):2:10: cannot open config file \(directory)/nope.conf"), description)
        }
        let cycle = try write("cycle.conf", "listen 1;\ninclude cycle.conf;\n")
        XCTAssertThrowsError(try GatewayConfig.load(path: cycle)) { error in
            XCTAssertTrue(String(describing: error).contains("includes itself"))
        }
        let malformed = try write("malformed.conf", "listen 1;\ninclude a.conf b.conf;\n")
        XCTAssertThrowsError(try GatewayConfig.load(path: malformed)) { error in
            XCTAssertTrue(String(describing: error).contains("'include': too many arguments; expected: include PATH;"))
        }
    }

    func testMissingMainFile() {
        XCTAssertThrowsError(try GatewayConfig.load(path: directory + "/absent.conf")) { error in
            let description = String(describing: error)
            XCTAssertTrue(description.hasPrefix("\(directory)/absent.conf:1:1: cannot open config file"), description)
        }
    }

    func testLargeFileIsReadCompletely() throws {
        let padding = String(repeating: "# padding line for a file larger than one read chunk\n", count: 3000)
        let path = try write("large.conf", padding + "listen 1;\n" + padding + "listen 2;\n")
        XCTAssertEqual(try GatewayConfig.load(path: path).listen.map(\.port), [1, 2])
    }

    /// The shipped gateway.conf documents every directive, so it must always load.
    func testShippedConfigLoads() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../gateway.conf").path
        let config = try GatewayConfig.load(path: path)
        XCTAssertEqual(config.listen, [ListenAddress(host: "127.0.0.1", port: 8080)])
        XCTAssertNil(config.workers)
        XCTAssertEqual(config.upstreams["messaging"]?.servers, [UpstreamServer(host: "127.0.0.1", port: 9000)])
        XCTAssertEqual(config.routes.map(\.prefix), ["/v1/messages", "/v1/", "/healthz"])
        XCTAssertEqual(config.routes[1].methods, ["GET", "POST", "PUT", "PATCH", "DELETE"])
        XCTAssertEqual(config.routes[1].maxBody, 100 << 20)
        XCTAssertEqual(config.routes.map(\.auth), [.required, .required, .public])
        // The demo key documented in the file is the one configured.
        XCTAssertNotNil(KeyHash.sha256("demo-key-123").withUnsafeBufferPointer { config.access.keys.lookup($0.baseAddress!) })
        XCTAssertEqual(config.errors.vocabulary, .snake)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        for context in ConfigContext.allCases {
            for rule in context.rules {
                XCTAssertTrue(text.contains(rule.name + " "), "gateway.conf does not document '\(rule.name)'")
            }
        }
    }
}
