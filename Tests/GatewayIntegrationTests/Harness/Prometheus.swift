import Foundation
import XCTest

/// A scrape of `/metrics` parsed by a real Prometheus text parser: the `prometheus_client`
/// package's (./dev.sh deps installs it). Samples by `name{label="value",...}` with labels
/// sorted by name, so tests can look series up by text.
struct Scrape {
    var samples: [String: Double]
    /// Family name (as the parser reports it) to its type.
    var types: [String: String]

    subscript(_ series: String) -> Double? { samples[series] }

    static let parser = """
    import json, sys
    from prometheus_client.parser import text_string_to_metric_families
    samples, types = {}, {}
    for family in text_string_to_metric_families(sys.stdin.read()):
        types[family.name] = family.type
        for s in family.samples:
            labels = ",".join('%s="%s"' % (k, v) for k, v in sorted(s.labels.items()))
            samples[s.name + ("{" + labels + "}" if labels else "")] = s.value
    print(json.dumps({"samples": samples, "types": types}))
    """

    /// GETs `/metrics` from the admin port and parses it; a parse failure fails the test.
    static func take(adminPort: UInt16, file: StaticString = #filePath, line: UInt = #line) throws -> Scrape {
        let response = try RawClient(port: adminPort).exchange(get("/metrics"))
        XCTAssertEqual(response.status, 200, file: file, line: line)
        XCTAssertEqual(response.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8", file: file, line: line)
        return try parse(response.text)
    }

    static func parse(_ text: String) throws -> Scrape {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", parser]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if err.contains("No module named 'prometheus_client'") {
            throw HarnessError("python3 lacks prometheus_client: run ./dev.sh deps (it installs it)")
        }
        guard process.terminationStatus == 0,
              let json = try JSONSerialization.jsonObject(with: out) as? [String: Any],
              let samples = json["samples"] as? [String: Double], let types = json["types"] as? [String: String] else {
            throw HarnessError("the Prometheus parser refused the exposition: \(err)\n\(text)")
        }
        return Scrape(samples: samples, types: types)
    }
}
