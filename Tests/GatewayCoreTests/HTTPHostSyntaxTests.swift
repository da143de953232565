import XCTest
@testable import GatewayCore

final class HTTPHostSyntaxTests: XCTestCase {
    private func valid(_ host: String) -> Bool {
        let b = bytes(host)
        return b.withUnsafeBufferPointer { HostSyntax.isValid($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, $0.count) }
    }

    func testAccepted() {
        let hosts = [
            "example.com", "example.com:8080", "EXAMPLE.com:80", "localhost", "a", "a:", "a:0", "a:65535", "a:99999",
            "127.0.0.1", "127.0.0.1:9000", "999.1.1.1", "xn--bcher-kva.example", "my_host", "a-b.c~d",
            "a!$&'()*+;=b", "%41bc", "%7e", "[::1]", "[::1]:443", "[::]", "[2001:db8::1]", "[2001:DB8:0:0:8:800:200C:417A]",
            "[1:2:3:4:5:6:7:8]", "[1::]", "[::ffff:192.0.2.1]", "[1:2:3:4:5:6:192.0.2.1]", "[::192.0.2.1]:80", "[::1]:",
            "[fe80::1:2]", "[v1.a:b]", "[V7.x]",
        ]
        for host in hosts { XCTAssertTrue(valid(host), host) }
    }

    func testRefused() {
        let hosts = [
            "", ":80", "a b", "a\tb", "a,b", "a, b", "a/b", "a/", "/a", "a?b", "a#b", "user@a", "user:pw@a", "a\\b",
            "a:b", "a:80:80", "a:-1", "a:123456", "a: 80", "%", "%4", "%zz", "a%2", "\"a\"", "a<b", "a\u{7f}",
            "[", "[]", "[::1", "::1", "[::1]x", "[:1]", "[1:]", "[1::2::3]", "[1:::2]", "[12345::]",
            "[1:2:3:4:5:6:7:8:9]", "[1:2:3:4:5:6:7]", "[1:2:3:4:5:6:7::8:9]", "[::ffff:192.0.2]", "[::ffff:192.0.2.256]",
            "[::ffff:01.2.3.4]", "[1.2.3.4]", "[1:2:3:4:5:6:7:1.2.3.4]", "[fe80::1%25eth0]", "[v.a]", "[v1.]", "[v1a]",
            "[vg.a]", "[v1.a,b]", "[a]", "[::1]]",
        ]
        for host in hosts { XCTAssertFalse(valid(host), host) }
    }

    func testRegNameMaskMatchesTheGrammar() {
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+;=".utf8)
        for b in 0..<256 { XCTAssertEqual(HostSyntax.regName[b], allowed.contains(UInt8(b)), "\(b)") }
    }

    func testHostHeaderInRequests() {
        for value in ["example.com:8080", "[::1]:9000", "", "127.0.0.1"] {
            let r = parseRequest("GET / HTTP/1.1\r\nHost: \(value)\r\n\r\n")
            XCTAssertEqual(r.headers.first?.value, value, value)
        }
        // OWS around the value is not part of it (RFC 9112 §5.1): a tab before it is fine.
        XCTAssertEqual(parseRequest("GET / HTTP/1.1\r\nHost:\tb.example \t\r\n\r\n").headers.first?.value, "b.example")
        for value in ["a,b", "a b", "a/b", "a\tb", "user@a", "a:x", "[::1"] {
            XCTAssertEqual(parseRequest("GET / HTTP/1.1\r\nHost: \(value)\r\n\r\n").status, .failed(.malformed("invalid Host header")), value)
        }
        XCTAssertEqual(parseRequest("GET / HTTP/1.0\r\nHost: a,b\r\n\r\n").status, .failed(.malformed("invalid Host header")))
    }

    func testDuplicateAuthorizationIsRefused() {
        let twice = "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer x\r\nauthorization: Bearer y\r\n\r\n"
        XCTAssertEqual(parseRequest(twice).status, .failed(.malformed("more than one Authorization header")))
        let same = "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer x\r\nAuthorization: Bearer x\r\n\r\n"
        XCTAssertEqual(parseRequest(same).status, .failed(.malformed("more than one Authorization header")))
        let once = "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer x\r\nX-API-Key: y\r\n\r\n"
        XCTAssertEqual(parseRequest(once).status, .complete(headLength: once.utf8.count))
    }
}
