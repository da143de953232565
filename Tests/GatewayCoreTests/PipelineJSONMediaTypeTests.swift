import XCTest
@testable import GatewayCore

final class PipelineJSONMediaTypeTests: XCTestCase {
    func testIsJSONMediaType() {
        let cases: [(String, Bool)] = [
            ("application/json", true),
            ("APPLICATION/JSON", true),
            ("Application/Json", true),
            ("application/json; charset=utf-8", true),
            ("application/json;charset=utf-8", true),
            ("application/json ; charset=utf-8", true),
            ("application/json\t; charset=utf-8", true),
            ("application/problem+json", true),
            ("application/vnd.api+json; ext=bulk", true),
            ("application/PROBLEM+JSON", true),
            ("text/json", false),
            ("text/html", false),
            ("text/plain; format=application/json", false),
            ("application/jsonp", false),
            ("application/json-seq", false),
            ("application/xjson", false),
            ("application/json+xml", false),
            ("application/x-json", false),
            ("json", false),
            ("", false),
        ]
        for (value, expected) in cases {
            let got = bytes(value).withUnsafeBufferPointer {
                UpstreamErrorStage.isJSONMediaType($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, $0.count)
            }
            XCTAssertEqual(got, expected, value)
        }
    }
}
