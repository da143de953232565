import Foundation
import XCTest

/// `gateway --check-config FILE` and `gateway --config FILE` on good and bad files: the exit
/// status, and errors as `FILE:LINE:COL: message` naming the directive.
final class ConfigCheckTests: XCTestCase {
    private var files: [String] = []

    override func tearDown() {
        for path in files { try? FileManager.default.removeItem(atPath: path) }
    }

    private func config(_ text: String) throws -> String {
        let path = try temporaryConfig(text, name: "config-check")
        files.append(path)
        return path
    }

    private static let valid = """
    listen 127.0.0.1:18080;
    upstream messaging { server 127.0.0.1:19000; }
    route /v1/ { upstream messaging; }

    """

    /// One bad file: where the error must point and what the message must contain.
    private struct BadFile {
        var name: String
        var text: String
        var line: Int
        var column: Int
        var mustContain: [String]
    }

    private static let badFiles: [BadFile] = [
        BadFile(name: "unknown directive with suggestion",
                text: "listen 127.0.0.1:18080;\nworkerz 2;\nupstream messaging { server 127.0.0.1:19000; }\nroute /v1/ { upstream messaging; }\n",
                line: 2, column: 1, mustContain: ["'workerz'", "did you mean 'workers'"]),
        BadFile(name: "unknown directive inside a block",
                text: "listen 127.0.0.1:18080;\nupstream messaging {\n    server 127.0.0.1:19000;\n    conect_timeout 2s;\n}\nroute /v1/ { upstream messaging; }\n",
                line: 4, column: 5, mustContain: ["'conect_timeout'", "did you mean 'connect_timeout'"]),
        BadFile(name: "missing semicolon before the next directive",
                text: "listen 127.0.0.1:18080;\nclient_header_timeout 10s\nclient_body_timeout 30s;\nupstream messaging { server 127.0.0.1:19000; }\nroute /v1/ { upstream messaging; }\n",
                line: 3, column: 1, mustContain: ["'client_header_timeout'", "missing ';'", "line 2"]),
        BadFile(name: "missing semicolon inside a block",
                text: "listen 127.0.0.1:18080;\nupstream messaging { server 127.0.0.1:19000 }\nroute /v1/ { upstream messaging; }\n",
                line: 2, column: 44, mustContain: ["'server'", "missing ';'"]),
        BadFile(name: "missing semicolon at end of file",
                text: "listen 127.0.0.1:18080;\nupstream messaging { server 127.0.0.1:19000; }\nroute /v1/ { upstream messaging; }\nworkers 2",
                line: 4, column: 10, mustContain: ["'workers'", "missing ';'"]),
        BadFile(name: "bad duration",
                text: "listen 127.0.0.1:18080;\nclient_header_timeout 10parsecs;\nupstream messaging { server 127.0.0.1:19000; }\nroute /v1/ { upstream messaging; }\n",
                line: 2, column: 23, mustContain: ["'client_header_timeout'", "duration", "10parsecs"]),
        BadFile(name: "bad duration inside upstream",
                text: "listen 127.0.0.1:18080;\nupstream messaging {\n    server 127.0.0.1:19000;\n    response_timeout soon;\n}\nroute /v1/ { upstream messaging; }\n",
                line: 4, column: 22, mustContain: ["'response_timeout'", "duration", "soon"]),
        BadFile(name: "unknown upstream in a route, with suggestion",
                text: "listen 127.0.0.1:18080;\nupstream messaging { server 127.0.0.1:19000; }\nroute /v1/ {\n    upstream mesaging;\n}\n",
                line: 4, column: 14, mustContain: ["'upstream'", "'mesaging'", "did you mean 'messaging'"]),
        BadFile(name: "unknown upstream in a route, no close name",
                text: "listen 127.0.0.1:18080;\nupstream messaging { server 127.0.0.1:19000; }\nroute /v1/ { upstream billing; }\n",
                line: 3, column: 23, mustContain: ["'upstream'", "'billing'"]),
        BadFile(name: "unknown server option",
                text: "listen 127.0.0.1:18080;\nupstream messaging { server 127.0.0.1:19000 wieght=2; }\nroute /v1/ { upstream messaging; }\n",
                line: 2, column: 45, mustContain: ["'server'", "wieght", "did you mean 'weight='"]),
        BadFile(name: "bad vocabulary",
                text: valid + "errors { vocabulary camel; }\n",
                line: 4, column: 21, mustContain: ["'vocabulary'", "camel", "snake or upper"]),
        BadFile(name: "map with a bad status",
                text: valid + "errors {\n    map SESSION_DISCONNECTED session_disconnected 999;\n}\n",
                line: 5, column: 51, mustContain: ["'map'", "999"]),
        BadFile(name: "unclosed block",
                text: "listen 127.0.0.1:18080;\nupstream messaging { server 127.0.0.1:19000; }\nroute /v1/ { upstream messaging;\n",
                line: 3, column: 1, mustContain: ["'route'", "'}'"]),
        BadFile(name: "the same listen address twice",
                text: "listen 127.0.0.1:18080;\nlisten 127.0.0.1:18080;\nupstream messaging { server 127.0.0.1:19000; }\nroute /v1/ { upstream messaging; }\n",
                line: 2, column: 8, mustContain: ["duplicate 'listen 127.0.0.1:18080'", "already listened on at"]),
        BadFile(name: "directive in the wrong block",
                text: "listen 127.0.0.1:18080;\nupstream messaging { server 127.0.0.1:19000; max_body 1m; }\nroute /v1/ { upstream messaging; }\n",
                line: 2, column: 46, mustContain: ["'max_body'", "route"]),
    ]

    /// `FILE:LINE:COL:` at the start of the gateway's error line (after the `gateway: ` prefix).
    private func assertPointsAt(_ stderr: String, path: String, _ bad: BadFile, file: StaticString = #filePath, line: UInt = #line) {
        let location = "\(path):\(bad.line):\(bad.column): "
        XCTAssertTrue(stderr.contains(location), "[\(bad.name)] expected '\(location)' in:\n\(stderr)", file: file, line: line)
        for text in bad.mustContain {
            XCTAssertTrue(stderr.contains(text), "[\(bad.name)] expected '\(text)' in:\n\(stderr)", file: file, line: line)
        }
        XCTAssertEqual(stderr.split(separator: "\n").count, 1, "[\(bad.name)] one error line:\n\(stderr)", file: file, line: line)
    }

    func testShippedConfigurationIsValid() throws {
        let shipped = Binaries.root.appendingPathComponent("gateway.conf").path
        let run = try runGateway(["--check-config", shipped])
        XCTAssertEqual(run.exitStatus, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("valid"), run.stdout)
        XCTAssertEqual(run.stderr, "")
    }

    func testMinimalConfigurationIsValid() throws {
        let run = try runGateway(["--check-config", try config(Self.valid)])
        XCTAssertEqual(run.exitStatus, 0, run.stderr)
    }

    func testEveryDocumentedDirectiveIsAccepted() throws {
        // The shipped file's commented-out examples, switched on, must be valid too.
        let shipped = try String(contentsOfFile: Binaries.root.appendingPathComponent("gateway.conf").path, encoding: .utf8)
        let enabled = shipped
            .replacingOccurrences(of: "    # server 127.0.0.1:9001", with: "    server 127.0.0.1:9001")
            .replacingOccurrences(of: "    # map SESSION_DISCONNECTED", with: "    map SESSION_DISCONNECTED")
            .replacingOccurrences(of: "    # health_check ", with: "    health_check ")
        XCTAssertNotEqual(enabled, shipped, "the examples were not found in gateway.conf")
        let run = try runGateway(["--check-config", try config(enabled)])
        XCTAssertEqual(run.exitStatus, 0, run.stderr)
    }

    func testBadFilesFailCheckConfigWithLocationAndDirective() throws {
        for bad in Self.badFiles {
            let path = try config(bad.text)
            let run = try runGateway(["--check-config", path])
            XCTAssertNotNil(run.exitStatus, "[\(bad.name)] --check-config did not exit")
            XCTAssertNotEqual(run.exitStatus, 0, "[\(bad.name)] must fail")
            XCTAssertFalse(run.stdout.contains("valid"), "[\(bad.name)] \(run.stdout)")
            assertPointsAt(run.stderr, path: path, bad)
        }
    }

    func testBadFilesMakeGatewayFailFastWithTheSameMessage() throws {
        for bad in Self.badFiles.prefix(6) {
            let path = try config(bad.text)
            let check = try runGateway(["--check-config", path])
            let run = try runGateway(["--config", path], timeout: 3)
            XCTAssertNotNil(run.exitStatus, "[\(bad.name)] gateway kept running on a bad config")
            XCTAssertNotEqual(run.exitStatus, 0, "[\(bad.name)]")
            XCTAssertLessThan(run.elapsed, 2, "[\(bad.name)] must fail fast")
            XCTAssertFalse(run.stderr.contains("listening"), "[\(bad.name)]")
            XCTAssertEqual(run.stderr, check.stderr, "[\(bad.name)] same message as --check-config")
            assertPointsAt(run.stderr, path: path, bad)
        }
    }

    func testMissingFileFails() throws {
        let path = NSTemporaryDirectory() + "config-check-missing-\(UUID().uuidString).conf"
        for mode in ["--check-config", "--config"] {
            let run = try runGateway([mode, path], timeout: 3)
            XCTAssertNotNil(run.exitStatus, mode)
            XCTAssertNotEqual(run.exitStatus, 0, mode)
            XCTAssertTrue(run.stderr.contains(path), "\(mode): \(run.stderr)")
        }
    }

    func testBadCommandLineIsAUsageError() throws {
        let run = try runGateway(["--cofig", "x.conf"])
        XCTAssertEqual(run.exitStatus, 2)
        XCTAssertTrue(run.stderr.contains("usage"), run.stderr)
    }

    func testVersionIsPrinted() throws {
        let run = try runGateway(["--version"])
        XCTAssertEqual(run.exitStatus, 0, run.stderr)
        XCTAssertNotNil(run.stdout.range(of: #"^gateway [0-9]+\.[0-9]+\.[0-9]+\n$"#, options: .regularExpression), run.stdout)
        XCTAssertEqual(run.stderr, "")
    }

    func testMissingSemicolonBeforeABlockDirectiveMentionsTheSemicolon() throws {
        // `workers 2` without ';' followed by `upstream m { ... }` reads as `workers 2 upstream m { ... }`:
        // the message names the directive, its line and the likely mistake.
        let path = try config("listen 127.0.0.1:18080;\nworkers 2\nupstream messaging { server 127.0.0.1:19000; }\nroute /v1/ { upstream messaging; }\n")
        let run = try runGateway(["--check-config", path])
        XCTAssertNotEqual(run.exitStatus, 0)
        XCTAssertTrue(run.stderr.contains("\(path):2:"), run.stderr)
        XCTAssertTrue(run.stderr.contains("'workers'"), run.stderr)
        XCTAssertTrue(run.stderr.contains("(missing ';' at the end of line 2?)"), "the message should point at the missing ';': \(run.stderr)")
    }
}
