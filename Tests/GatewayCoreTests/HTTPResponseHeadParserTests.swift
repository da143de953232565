import XCTest
@testable import GatewayCore

final class HTTPResponseHeadParserTests: XCTestCase {
    func testStatusLines() {
        let cases: [(String, Int, String, HTTPVersion)] = [
            ("HTTP/1.1 200 OK", 200, "OK", .http11),
            ("HTTP/1.1 204", 204, "", .http11),
            ("HTTP/1.1 200 ", 200, "", .http11),
            ("HTTP/1.1 404 Not  Found, really ", 404, "Not  Found, really ", .http11),
            ("HTTP/1.1 503 \tService\tUnavailable", 503, "\tService\tUnavailable", .http11),
            ("HTTP/1.0 302 Found", 302, "Found", .http10),
            ("HTTP/1.1 100 Continue", 100, "Continue", .http11),
            ("HTTP/1.1 999 Custom", 999, "Custom", .http11),
            ("HTTP/1.1 599 caf\u{E9}", 599, "caf\u{E9}", .http11),
        ]
        for (line, code, reason, version) in cases {
            let input = line + "\r\nContent-Length: 0\r\n\r\n"
            let r = parseResponse(input)
            XCTAssertEqual(r.status, .complete(headLength: input.utf8.count), line)
            XCTAssertEqual(r.code, code, line)
            XCTAssertEqual(r.reason, reason, line)
            XCTAssertEqual(r.version, version, line)
        }
    }

    func testHeadLengthStopsBeforeBody() {
        let head = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-A:  b \r\n\r\n"
        let r = parseResponse(head + "body")
        XCTAssertEqual(r.status, .complete(headLength: head.utf8.count))
        XCTAssertEqual(r.headers, [ParsedHeader(name: "Content-Length", value: "4", known: .contentLength),
                                   ParsedHeader(name: "X-A", value: "b", known: .other)])
        XCTAssertEqual(parseResponse("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n").status, .needMore)
    }

    /// framing(requestMethod:) for GET, HEAD and POST, plus keep-alive, per head.
    func testFraming() {
        let cases: [(String, String, [BodyFraming], Bool)] = [
            ("no framing", "HTTP/1.1 200 OK\r\n\r\n", [.untilClose, .none, .untilClose], true),
            ("CL", "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", [.length(12), .none, .length(12)], true),
            ("CL zero", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", [.none, .none, .none], true),
            ("CL list", "HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\n\r\n", [.length(7), .none, .length(7)], true),
            ("chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", [.chunked, .none, .chunked], true),
            ("TE and CL", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", [.chunked, .none, .chunked], false),
            ("100", "HTTP/1.1 100 Continue\r\n\r\n", [.none, .none, .none], true),
            ("101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", [.none, .none, .none], true),
            ("103 with CL", "HTTP/1.1 103 Early Hints\r\nContent-Length: 9\r\n\r\n", [.none, .none, .none], true),
            ("204 with CL", "HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", [.none, .none, .none], true),
            ("304 with CL", "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", [.none, .none, .none], true),
            ("304 chunked", "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", [.none, .none, .none], true),
            ("205 with CL", "HTTP/1.1 205 Reset Content\r\nContent-Length: 0\r\n\r\n", [.none, .none, .none], true),
            ("404 CL", "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n", [.length(2), .none, .length(2)], true),
            ("Connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n", [.length(1), .none, .length(1)], false),
            ("1.0 default", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", [.length(1), .none, .length(1)], false),
            ("1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n", [.length(1), .none, .length(1)], true),
            ("1.0 keep-alive, close", "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nConnection: close\r\n\r\n", [.untilClose, .none, .untilClose], false),
            ("1.0 no framing", "HTTP/1.0 200 OK\r\n\r\n", [.untilClose, .none, .untilClose], false),
        ]
        for (name, input, framing, keepAlive) in cases {
            let r = parseResponse(input)
            XCTAssertEqual(r.status, .complete(headLength: input.utf8.count), name)
            XCTAssertEqual(r.framing, framing, name)
            XCTAssertEqual(r.keepAlive, keepAlive, name)
        }
    }

    func testTransferEncodingWithContentLengthForcesClose() {
        let r = parseResponse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n")
        XCTAssertTrue(r.connectionClose)
        let plain = parseResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        XCTAssertFalse(plain.connectionClose)
    }

    func testRejectedResponses() {
        let cases: [(String, String, HTTPParseError)] = [
            ("short", "HTTP/1.1\r\n\r\n", .malformed("invalid status line")),
            // Codings other than chunked cannot be re-framed without decoding them: refused as a 502.
            ("gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", .malformed("unsupported transfer coding in response")),
            ("TE gzip only", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", .malformed("unsupported transfer coding in response")),
            ("two-digit code", "HTTP/1.1 20\r\n\r\n", .malformed("invalid status line")),
            ("two-digit code with reason", "HTTP/1.1 20 OK\r\n\r\n", .malformed("invalid status code")),
            ("four-digit code", "HTTP/1.1 2000\r\n\r\n", .malformed("invalid status line")),
            ("no space before reason", "HTTP/1.1 200OK\r\n\r\n", .malformed("invalid status line")),
            ("code below 100", "HTTP/1.1 099 Low\r\n\r\n", .malformed("invalid status code")),
            ("letters in code", "HTTP/1.1 2x0 OK\r\n\r\n", .malformed("invalid status code")),
            ("signed code", "HTTP/1.1 +20 OK\r\n\r\n", .malformed("invalid status code")),
            ("double space", "HTTP/1.1  200 OK\r\n\r\n", .malformed("invalid status code")),
            ("tab separator", "HTTP/1.1\t200 OK\r\n\r\n", .malformed("invalid status code")),
            ("HTTP/2", "HTTP/2 200 OK\r\n\r\n", .malformed("unsupported HTTP version in response")),
            ("HTTP/1.2", "HTTP/1.2 200 OK\r\n\r\n", .malformed("unsupported HTTP version in response")),
            ("lower-case", "http/1.1 200 OK\r\n\r\n", .malformed("unsupported HTTP version in response")),
            ("ICY", "ICY 200 OK Fine\r\n\r\n", .malformed("unsupported HTTP version in response")),
            ("leading CRLF", "\r\nHTTP/1.1 200 OK\r\n\r\n", .malformed("invalid status line")),
            ("CR in reason", "HTTP/1.1 200 O\rK\r\n\r\n", .malformed("invalid character in reason phrase")),
            ("NUL in reason", "HTTP/1.1 200 O\u{0}K\r\n\r\n", .malformed("invalid character in reason phrase")),
            ("bare LF status line", "HTTP/1.1 200 OK\n\r\n", .malformed("line not terminated by CRLF")),
            ("bare LF header", "HTTP/1.1 200 OK\r\nA: b\nC: d\r\n\r\n", .malformed("line not terminated by CRLF")),
            ("obs-fold", "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", .malformed("obsolete line folding is not accepted")),
            ("space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\n",
             .malformed("invalid character in header name (whitespace before colon?)")),
            ("NUL in value", "HTTP/1.1 200 OK\r\nA: b\u{0}\r\n\r\n", .malformed("invalid character in header value")),
            ("conflicting CL", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", .malformed("conflicting Content-Length values")),
            ("CL list conflict", "HTTP/1.1 200 OK\r\nContent-Length: 1,2\r\n\r\n", .malformed("conflicting Content-Length values")),
            ("bad CL", "HTTP/1.1 200 OK\r\nContent-Length: 1a\r\n\r\n", .malformed("invalid Content-Length")),
            ("CL overflow", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", .malformed("invalid Content-Length")),
            ("CL 19-digit overflow", "HTTP/1.1 200 OK\r\nContent-Length: 9300000000000000000\r\n\r\n", .malformed("invalid Content-Length")),
            ("chunked, gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", .malformed("transfer-coding after chunked")),
        ]
        for (name, input, expected) in cases {
            XCTAssertEqual(parseResponse(input).status, .failed(expected), name)
        }
    }

    func testLimits() {
        let limits = HeadLimits(maxStartLine: 64, maxHeadSize: 64, maxHeaders: 3)
        let prefix = "HTTP/1.1 200 OK\r\nX: "  // 20 bytes
        let atLimit = prefix + String(repeating: "v", count: 40) + "\r\n\r\n"
        XCTAssertEqual(atLimit.utf8.count, 64)
        XCTAssertEqual(parseResponse(atLimit, limits: limits).status, .complete(headLength: 64))
        let over = prefix + String(repeating: "v", count: 41) + "\r\n\r\n"
        XCTAssertEqual(parseResponse(over, limits: limits).status, .failed(.headersTooLarge("response head too large")))
        let endless = prefix + String(repeating: "v", count: 100)
        XCTAssertEqual(parseResponse(endless, limits: limits).status, .failed(.headersTooLarge("response head too large")))

        let three = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"
        XCTAssertEqual(parseResponse(three, limits: limits).status, .complete(headLength: three.utf8.count))
        let four = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"
        XCTAssertEqual(parseResponse(four, limits: limits).status, .failed(.headersTooLarge("too many headers")))
    }

    func testResetClearsFacts() {
        let first = bytes("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nConnection: x\r\n\r\n")
        let second = bytes("HTTP/1.0 404 Nope\r\n\r\n")
        var parser = ResponseHeadParser(limits: testHeadLimits)
        first.withUnsafeBufferPointer { b in
            XCTAssertEqual(parser.parse(b.baseAddress!, count: b.count), .complete(headLength: first.count))
        }
        XCTAssertTrue(parser.head.facts.connectionClose)
        parser.reset()
        second.withUnsafeBufferPointer { b in
            XCTAssertEqual(parser.parse(b.baseAddress!, count: b.count), .complete(headLength: second.count))
        }
        let r = ResponseParse(status: .complete(headLength: second.count), head: parser.head, input: second)
        XCTAssertEqual(r.code, 404)
        XCTAssertEqual(r.reason, "Nope")
        XCTAssertEqual(r.version, .http10)
        XCTAssertEqual(r.headers, [])
        XCTAssertFalse(r.connectionClose)
        XCTAssertFalse(parser.head.facts.connectionNamesOthers)
        XCTAssertFalse(parser.head.facts.transferEncodingSeen)
        XCTAssertEqual(parser.head.facts.contentLength, -1)
        XCTAssertEqual(r.getFraming, .untilClose)
    }

    func testStatusReasons() {
        let cases: [(Int, String)] = [
            (200, "OK"), (204, "No Content"), (404, "Not Found"), (413, "Content Too Large"),
            (431, "Request Header Fields Too Large"), (502, "Bad Gateway"), (504, "Gateway Timeout"),
            (418, "Client Error"), (599, "Server Error"),
        ]
        for (code, reason) in cases {
            XCTAssertEqual(HTTPStatus.reason(code).description, reason)
        }
    }
}
