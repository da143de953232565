import XCTest
@testable import GatewayCore

private enum Expect: Equatable {
    case path(String)
    case refused(String)
}

/// Runs the normaliser on a copy of `path`; the result, and whether any byte was written.
private func normalize(_ path: String) -> (Expect, wrote: Bool) {
    var buffer = bytes(path)
    let original = buffer
    let outcome = buffer.withUnsafeMutableBufferPointer { PathNormalizer.normalize($0.baseAddress!, count: $0.count) }
    switch outcome {
    case .normalized(let length):
        return (.path(text(Array(buffer[0..<length]))), buffer != original)
    case .refused(let reason):
        return (.refused(reason.text), buffer != original)
    }
}

final class HTTPPathNormalizerTests: XCTestCase {
    func testNormalisedPaths() {
        let cases: [(String, String)] = [
            // Already canonical: returned as is.
            ("/", "/"),
            ("/v1/sessions/demo", "/v1/sessions/demo"),
            ("/v1/a/", "/v1/a/"),
            ("/a.b/c..d/...", "/a.b/c..d/..."),
            ("/.well-known/x", "/.well-known/x"),
            ("/..a/.b./a..", "/..a/.b./a.."),
            ("/a;b=c/d,e", "/a;b=c/d,e"),
            // Dot-segments (RFC 3986 §5.2.4).
            ("/v1/x/../admin/a", "/v1/admin/a"),
            ("/v1/./admin/a", "/v1/admin/a"),
            ("/v1/admin/.", "/v1/admin/"),
            ("/v1/admin/..", "/v1/"),
            ("/v1/admin/../", "/v1/"),
            ("/a/b/c/../../d", "/a/d"),
            ("/a/./././b", "/a/b"),
            ("/a/..", "/"),
            ("/.", "/"),
            ("/./", "/"),
            ("/a/b/../../..x", "/..x"),
            ("/healthz/../v1/sessions/demo", "/v1/sessions/demo"),
            // Encoded dots are dots.
            ("/v1/x/%2e%2e/admin/a", "/v1/admin/a"),
            ("/v1/x/.%2e/admin/a", "/v1/admin/a"),
            ("/v1/x/%2E./admin/a", "/v1/admin/a"),
            ("/v1/%2e/admin/a", "/v1/admin/a"),
            ("/v1/%2E%2E%2e", "/v1/..."),
            // Unreserved characters decoded, hex case-insensitive.
            ("/v1/%61dmin/a", "/v1/admin/a"),
            ("/v1/%41%5a%7e%2D%5f%30", "/v1/AZ~-_0"),
            ("/%7E/%7e", "/~/~"),
            // Other escapes stay encoded, with upper-case hex.
            ("/a%20b", "/a%20b"),
            ("/a%3a%3B%c3%a9", "/a%3A%3B%C3%A9"),
            ("/a%25/b", "/a%25/b"),
            ("/a%252e%252e/b", "/a%252e%252e/b"),
            ("/q%3F", "/q%3F"),
            // Repeated slashes merged.
            ("/v1//admin/a", "/v1/admin/a"),
            ("//v1///admin//", "/v1/admin/"),
            ("//", "/"),
            ("/a//..//b", "/b"),
            ("/v1/.//admin", "/v1/admin"),
        ]
        for (input, expected) in cases {
            XCTAssertEqual(normalize(input).0, .path(expected), input)
            // Normalising twice changes nothing more.
            XCTAssertEqual(normalize(expected).0, .path(expected), "again: \(expected)")
        }
    }

    func testRefusedPaths() {
        let cases: [(String, String)] = [
            ("/..", "path goes above the root"),
            ("/../v1", "path goes above the root"),
            ("/a/../..", "path goes above the root"),
            ("/a/../../b", "path goes above the root"),
            ("/%2e%2e/a", "path goes above the root"),
            ("//..", "path goes above the root"),
            ("/v1/admin%2Fa", "encoded slash or backslash in path"),
            ("/v1/admin%2fa", "encoded slash or backslash in path"),
            ("/v1/x/..%2fadmin/a", "encoded slash or backslash in path"),
            ("/v1/x/..%5Cadmin", "encoded slash or backslash in path"),
            ("/v1/x/%5c", "encoded slash or backslash in path"),
            ("/a%00b", "encoded NUL in path"),
            ("/a%", "malformed percent-encoding in path"),
            ("/a%4", "malformed percent-encoding in path"),
            ("/a%4/", "malformed percent-encoding in path"),
            ("/a%g1", "malformed percent-encoding in path"),
            ("/a%%41", "malformed percent-encoding in path"),
            ("/a% 1", "malformed percent-encoding in path"),
            ("/a\\b", "backslash in path"),
            ("/v1\\..\\admin", "backslash in path"),
            ("/v1/..;/admin", "dot-segment with parameters in path"),
            ("/v1/x/.;/admin", "dot-segment with parameters in path"),
            ("/v1/x/%2e%2e;a/admin", "dot-segment with parameters in path"),
        ]
        for (input, reason) in cases {
            XCTAssertEqual(normalize(input).0, .refused(reason), input)
        }
    }

    func testCanonicalPathsAreNotWritten() {
        for path in ["/", "/v1/sessions/demo", "/a/b/", "/a.b", "/a/.b", "/a-b_c~d"] {
            let (result, wrote) = normalize(path)
            XCTAssertEqual(result, .path(path))
            XCTAssertFalse(wrote, path)
        }
        XCTAssertFalse(PathNormalizer.needsWork(bytes("/v1/messages/text"), 17))
        XCTAssertTrue(PathNormalizer.needsWork(bytes("/v1/messages/%74"), 16))
        XCTAssertTrue(PathNormalizer.needsWork(bytes("/v1//"), 5))
        XCTAssertTrue(PathNormalizer.needsWork(bytes("/v1/."), 5))
        XCTAssertTrue(PathNormalizer.needsWork(bytes("/v1\\"), 4))
    }

    func testUnreservedMaskMatchesTheGrammar() {
        let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8)
        for b in 0..<256 { XCTAssertEqual(PathNormalizer.unreserved[b], unreserved.contains(UInt8(b)), "\(b)") }
    }

    /// Every byte an escape can encode: unreserved ones decode, slash/backslash/NUL refuse, the rest
    /// stay encoded in upper case.
    func testEveryEscape() {
        for value in 0..<256 {
            let hex = String(value, radix: 16)
            let escape = value < 16 ? "0" + hex : hex
            let (result, _) = normalize("/a%" + escape + "b")
            let byte = UInt8(value)
            if value == 0 {
                XCTAssertEqual(result, .refused("encoded NUL in path"))
            } else if byte == UInt8(ascii: "/") || byte == UInt8(ascii: "\\") {
                XCTAssertEqual(result, .refused("encoded slash or backslash in path"))
            } else if PathNormalizer.unreserved[value] {
                XCTAssertEqual(result, .path("/a" + String(UnicodeScalar(byte)) + "b"), escape)
            } else {
                XCTAssertEqual(result, .path("/a%" + escape.uppercased() + "b"), escape)
            }
        }
    }
}

/// The parser's in-place target rewrite: path normalised, query moved up behind it, untouched.
final class HTTPNormalizeTargetTests: XCTestCase {
    private func normalizedTarget(_ target: String) -> (path: String, query: String, target: String, authority: String)? {
        var input = bytes("GET \(target) HTTP/1.1\r\nHost: a\r\nX-After: kept\r\n\r\n")
        return input.withUnsafeMutableBufferPointer { b -> (String, String, String, String)? in
            var parser = RequestHeadParser(limits: testHeadLimits)
            guard case .complete = parser.parse(b.baseAddress!, count: b.count) else { return nil }
            if parser.normalizeTarget(b.baseAddress!) != nil { return nil }
            let head = parser.head
            let all = Array(b)
            XCTAssertEqual(headers(head.facts, all).last?.value, "kept", "headers are not moved")
            return (text(Array(all[head.pathStart..<head.pathStart + head.pathLength])),
                    text(Array(all[head.queryStart..<head.queryStart + head.queryLength])),
                    text(Array(all[head.targetStart..<head.targetStart + head.targetLength])),
                    text(Array(all[head.authorityStart..<head.authorityStart + head.authorityLength])))
        }
    }

    func testQueryFollowsTheNormalisedPathUntouched() {
        let cases: [(String, String, String)] = [
            ("/v1/x/../admin/a?q=%2e%2e/../x//y", "/v1/admin/a", "?q=%2e%2e/../x//y"),
            ("/v1//a?", "/v1/a", "?"),
            ("/v1/%61?a=%61", "/v1/a", "?a=%61"),
            ("/v1/a?b", "/v1/a", "?b"),
            ("/v1/./a", "/v1/a", ""),
            ("/", "/", ""),
            ("/?q=..", "/", "?q=.."),
            ("http://h.example:81/a/./b?q", "/a/b", "?q"),
            ("http://h.example:81?q=1", "/", "?q=1"),
            ("https://h.example", "/", ""),
        ]
        for (target, path, query) in cases where !path.isEmpty {
            guard let r = normalizedTarget(target) else { XCTFail(target); continue }
            XCTAssertEqual(r.path, path, target)
            XCTAssertEqual(r.query, query, target)
            XCTAssertEqual(r.target, path + query, target)
            XCTAssertEqual(r.authority, target.hasPrefix("http") ? "h.example" + (target.contains(":81") ? ":81" : "") : "", target)
        }
    }

    func testRefusalIsAParseError() {
        var input = bytes("GET /v1/admin%2Fa?x HTTP/1.1\r\nHost: a\r\n\r\n")
        input.withUnsafeMutableBufferPointer { b in
            var parser = RequestHeadParser(limits: testHeadLimits)
            XCTAssertEqual(parser.parse(b.baseAddress!, count: b.count), .complete(headLength: b.count))
            XCTAssertEqual(parser.normalizeTarget(b.baseAddress!), .malformed("encoded slash or backslash in path"))
        }
    }
}
