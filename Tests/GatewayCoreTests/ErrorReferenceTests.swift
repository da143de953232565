import Foundation
import XCTest
@testable import GatewayCore

/// The repository carries its own error reference (README, "Error reference"), in step with the
/// catalog in code, and no file points to documents outside the repository.
final class ErrorReferenceTests: XCTestCase {
    private static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    func testReadmeHasARowForEveryCode() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let section = readme.components(separatedBy: "## Error reference").dropFirst().first ?? ""
        XCTAssertFalse(section.isEmpty, "README has no 'Error reference' section")
        for kind in GatewayErrorKind.allCases {
            let start = "| \(kind.snakeCode) | \(kind.upperCode) | \(kind.status) | "
            let row = section.split(separator: "\n").first { $0.hasPrefix(start) }
            XCTAssertNotNil(row, "no row starting '\(start)'")
            let retryClass = row.map { $0.dropFirst(start.count).prefix { $0 != "|" } } ?? ""
            XCTAssertEqual(retryClass.hasPrefix("retry"), kind.retryable, "retry class of \(kind.snakeCode): '\(retryClass)'")
        }
    }

    func testNoFilePointsOutsideTheRepository() throws {
        // Spelled in pieces so this file does not match itself.
        let outside = ["/wo" + "rk/", "../sha" + "red", "error-cat" + "alog.md"]
        var offenders: [String] = []
        for top in ["Sources", "Tests", "benchmarks", ".ci", "README.md", "gateway.conf", "dev.sh", "Package.swift"] {
            let url = Self.root.appendingPathComponent(top)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else { continue }
            let files = isDirectory.boolValue
                ? FileManager.default.enumerator(at: url, includingPropertiesForKeys: nil)?.compactMap { $0 as? URL } ?? [] : [url]
            for file in files {
                let relative = String(file.path.dropFirst(Self.root.path.count + 1))
                // Run output, not part of the repository (.gitignore).
                if relative.hasPrefix("benchmarks/results/tmp/") || relative.hasPrefix("Tests/Fuzz/crashes/") { continue }
                guard let text = try? String(contentsOf: file, encoding: .utf8) else { continue }
                for needle in outside where text.contains(needle) {
                    offenders.append("\(relative): \(needle)")
                }
            }
        }
        XCTAssertEqual(offenders, [])
    }
}
