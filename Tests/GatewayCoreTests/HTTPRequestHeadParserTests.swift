import XCTest
@testable import GatewayCore

private func h(_ name: String, _ value: String, _ known: KnownHeader = .other) -> ParsedHeader {
    ParsedHeader(name: name, value: value, known: known)
}

final class HTTPRequestHeadParserTests: XCTestCase {
    func testSimpleGet() {
        let input = "GET /index.html HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"
        let r = parseRequest(input)
        XCTAssertEqual(r.status, .complete(headLength: input.utf8.count))
        XCTAssertEqual(r.method, .get)
        XCTAssertEqual(r.methodText, "GET")
        XCTAssertEqual(r.target, "/index.html")
        XCTAssertEqual(r.path, "/index.html")
        XCTAssertEqual(r.version, .http11)
        XCTAssertEqual(r.headers, [h("Host", "example.com", .host), h("Accept", "*/*")])
        XCTAssertEqual(r.framing, .none)
        XCTAssertTrue(r.keepAlive)
        XCTAssertFalse(r.expectContinue)
    }

    func testHeadLengthExcludesBodyBytes() {
        let head = "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"
        let r = parseRequest(head + "hello")
        XCTAssertEqual(r.status, .complete(headLength: head.utf8.count))
        XCTAssertEqual(r.framing, .length(5))
        XCTAssertEqual(r.contentLength, 5)
    }

    func testIncompleteHeadNeedsMore() {
        for input in ["G", "GET / HTTP/1.1", "GET / HTTP/1.1\r", "GET / HTTP/1.1\r\nHost: a\r\n", "GET / HTTP/1.1\r\nHost: a\r\n\r"] {
            XCTAssertEqual(parseRequest(input).status, .needMore, input)
        }
    }

    func testMethodsAreRecognised() {
        let cases: [(String, HTTPMethod)] = [
            ("GET", .get), ("HEAD", .head), ("POST", .post), ("PUT", .put), ("PATCH", .patch),
            ("DELETE", .delete), ("OPTIONS", .options), ("PURGE", .other), ("get", .other), ("GETS", .other),
            ("M-SEARCH", .other), ("X", .other),
        ]
        for (name, expected) in cases {
            let r = parseRequest("\(name) / HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(r.method, expected, name)
            XCTAssertEqual(r.methodText, name, name)
        }
    }

    func testAcceptedHeads() {
        struct Case {
            var name: String
            var input: String
            var check: (RequestParse) -> Void
        }
        let cases: [Case] = [
            Case(name: "HTTP/1.0 without Host", input: "GET / HTTP/1.0\r\n\r\n") { r in
                XCTAssertEqual(r.version, .http10)
                XCTAssertFalse(r.keepAlive, "1.0 closes by default")
            },
            Case(name: "HTTP/1.0 keep-alive", input: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n") { r in
                XCTAssertTrue(r.keepAlive)
                XCTAssertTrue(r.connectionKeepAlive)
            },
            Case(name: "HTTP/1.0 keep-alive and close", input: "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n") { r in
                XCTAssertFalse(r.keepAlive)
            },
            Case(name: "leading CRLF", input: "\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n") { r in
                XCTAssertEqual(r.status, .complete(headLength: 30))
                XCTAssertEqual(r.target, "/x")
            },
            Case(name: "two leading CRLFs", input: "\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n") { r in
                XCTAssertEqual(r.status, .complete(headLength: 32))
                XCTAssertEqual(r.methodText, "GET")
            },
            Case(name: "absolute-form", input: "GET http://api.example.com:8080/a/b?x=1 HTTP/1.1\r\nHost: api.example.com:8080\r\n\r\n") { r in
                XCTAssertEqual(r.authority, "api.example.com:8080")
                XCTAssertEqual(r.path, "/a/b")
                XCTAssertEqual(r.query, "?x=1")
                XCTAssertEqual(r.target, "/a/b?x=1")
            },
            Case(name: "absolute-form https upper case", input: "GET HTTPS://[::1]/ HTTP/1.1\r\nHost: x\r\n\r\n") { r in
                XCTAssertEqual(r.authority, "[::1]")
                XCTAssertEqual(r.target, "/")
            },
            Case(name: "absolute-form without path", input: "GET http://h?q HTTP/1.1\r\nHost: h\r\n\r\n") { r in
                XCTAssertEqual(r.authority, "h")
                XCTAssertEqual(r.path, "", "made / by normalizeTarget")
                XCTAssertEqual(r.query, "?q")
            },
            Case(name: "absolute-form in HTTP/1.0 without Host", input: "GET http://h/p HTTP/1.0\r\n\r\n") { r in
                XCTAssertEqual(r.authority, "h")
                XCTAssertEqual(r.path, "/p")
            },
            Case(name: "origin-form has no authority", input: "GET //h/p HTTP/1.1\r\nHost: h\r\n\r\n") { r in
                XCTAssertEqual(r.authority, "")
                XCTAssertEqual(r.path, "//h/p")
            },
            Case(name: "HTTP/1.2 as 1.1", input: "GET / HTTP/1.2\r\nHost: a\r\n\r\n") { r in
                XCTAssertEqual(r.version, .http11)
                XCTAssertTrue(r.keepAlive)
            },
            Case(name: "HTTP/1.9 as 1.1", input: "POST / HTTP/1.9\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n") { r in
                XCTAssertEqual(r.version, .http11)
                XCTAssertEqual(r.framing, .chunked)
            },
            Case(name: "query string", input: "GET /a/b?x=1&y=/?z HTTP/1.1\r\nHost: a\r\n\r\n") { r in
                XCTAssertEqual(r.target, "/a/b?x=1&y=/?z")
                XCTAssertEqual(r.path, "/a/b")
            },
            Case(name: "empty query", input: "GET /a? HTTP/1.1\r\nHost: a\r\n\r\n") { r in
                XCTAssertEqual(r.target, "/a?")
                XCTAssertEqual(r.path, "/a")
            },
            Case(name: "root with query", input: "GET /?q HTTP/1.1\r\nHost: a\r\n\r\n") { r in
                XCTAssertEqual(r.path, "/")
            },
            Case(name: "value OWS trimmed", input: "GET / HTTP/1.1\r\nHost:a\r\nX-A: \t v a l \t \r\nX-Empty:\r\nX-Spaces:   \r\n\r\n") { r in
                XCTAssertEqual(r.headers, [h("Host", "a", .host), h("X-A", "v a l"), h("X-Empty", ""), h("X-Spaces", "")])
            },
            Case(name: "header names are case-insensitive", input: "GET / HTTP/1.1\r\nhOsT: a\r\nCONTENT-LENGTH: 3\r\n\r\n") { r in
                XCTAssertEqual(r.headers.map(\.known), [.host, .contentLength])
                XCTAssertEqual(r.framing, .length(3))
            },
            Case(name: "obs-text in value", input: "GET / HTTP/1.1\r\nHost: a\r\nX: caf\u{E9}\r\n\r\n") { r in
                XCTAssertEqual(r.headers.last?.value, "caf\u{E9}")
            },
            Case(name: "Expect 100-continue", input: "PUT /u HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 10\r\n\r\n") { r in
                XCTAssertTrue(r.expectContinue)
                XCTAssertEqual(r.framing, .length(10))
            },
            Case(name: "other Expect", input: "PUT /u HTTP/1.1\r\nHost: a\r\nExpect: 100-continuex\r\n\r\n") { r in
                XCTAssertFalse(r.expectContinue)
            },
            Case(name: "Connection close", input: "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n") { r in
                XCTAssertTrue(r.connectionClose)
                XCTAssertFalse(r.keepAlive)
                XCTAssertFalse(r.connectionNamesOthers)
            },
            Case(name: "Connection CLOSE uppercase", input: "GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n") { r in
                XCTAssertFalse(r.keepAlive)
            },
            Case(name: "Connection keep-alive", input: "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n") { r in
                XCTAssertTrue(r.keepAlive)
                XCTAssertTrue(r.connectionKeepAlive)
                XCTAssertFalse(r.connectionNamesOthers)
            },
            Case(name: "Connection lists others", input: "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Foo, ,close\r\n\r\n") { r in
                XCTAssertTrue(r.connectionNamesOthers)
                XCTAssertTrue(r.connectionClose)
            },
            Case(name: "Connection only others", input: "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Hop\r\n\r\n") { r in
                XCTAssertTrue(r.connectionNamesOthers)
                XCTAssertTrue(r.keepAlive)
            },
            Case(name: "Connection upgrade", input: "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n") { r in
                XCTAssertTrue(r.connectionUpgrade)
                XCTAssertFalse(r.connectionNamesOthers, "Upgrade is hop-by-hop already")
                XCTAssertTrue(r.keepAlive)
            },
            Case(name: "CL list of equal values", input: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n") { r in
                XCTAssertEqual(r.framing, .length(5))
            },
            Case(name: "two equal CL headers", input: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n") { r in
                XCTAssertEqual(r.framing, .length(5))
            },
            Case(name: "CL zero", input: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n") { r in
                XCTAssertEqual(r.framing, .none)
                XCTAssertEqual(r.contentLength, 0)
            },
            Case(name: "CL leading zeros", input: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n") { r in
                XCTAssertEqual(r.framing, .length(7))
            },
            Case(name: "CL many leading zeros", input: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0000000000000000000000000000012\r\n\r\n") { r in
                XCTAssertEqual(r.framing, .length(12))
            },
            Case(name: "CL largest Int64 after zeros", input: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0009223372036854775807\r\n\r\n") { r in
                XCTAssertEqual(r.framing, .length(Int64.max))
            },
            Case(name: "CL zeros and list", input: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 05\r\nContent-Length: 005\r\n\r\n") { r in
                XCTAssertEqual(r.framing, .length(5))
            },
            Case(name: "CL largest Int64", input: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n") { r in
                XCTAssertEqual(r.framing, .length(Int64.max))
            },
            Case(name: "chunked", input: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n") { r in
                XCTAssertEqual(r.framing, .chunked)
                XCTAssertTrue(r.chunked)
            },
            Case(name: "Chunked mixed case", input: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  ChUnKeD \r\n\r\n") { r in
                XCTAssertEqual(r.framing, .chunked)
            },
            Case(name: "no framing", input: "POST / HTTP/1.1\r\nHost: a\r\n\r\n") { r in
                XCTAssertEqual(r.framing, .none)
            },
            Case(name: "empty Host", input: "GET / HTTP/1.1\r\nHost:\r\n\r\n") { r in
                XCTAssertEqual(r.headers, [h("Host", "", .host)])
            },
            Case(name: "token chars in name", input: "GET / HTTP/1.1\r\nHost: a\r\n!#$%&'*+-.^_`|~09az: v\r\n\r\n") { r in
                XCTAssertEqual(r.headers.last?.name, "!#$%&'*+-.^_`|~09az")
            },
            Case(name: "visible target chars", input: "GET /a%20b/~c;d=e,f@g!$&'()*+:[]|{}^`\"<> HTTP/1.1\r\nHost: a\r\n\r\n") { r in
                XCTAssertEqual(r.target, "/a%20b/~c;d=e,f@g!$&'()*+:[]|{}^`\"<>")
            },
        ]
        for c in cases {
            let r = parseRequest(c.input)
            guard case .complete(let length) = r.status else {
                XCTFail("\(c.name): \(r.status)")
                continue
            }
            XCTAssertEqual(length, c.input.utf8.count, c.name)
            c.check(r)
        }
    }

    func testManyHeadersUpToTheLimit() {
        var input = "GET / HTTP/1.1\r\nHost: a\r\n"
        for i in 1..<testHeadLimits.maxHeaders { input += "X-H\(i): value-\(i)\r\n" }
        let r = parseRequest(input + "\r\n")
        XCTAssertEqual(r.headers.count, testHeadLimits.maxHeaders)
        XCTAssertEqual(r.headers[7], h("X-H7", "value-7"))

        let tooMany = parseRequest(input + "X-One-More: 1\r\n\r\n")
        XCTAssertEqual(tooMany.status, .failed(.headersTooLarge("too many headers")))
    }

    func testRejectedHeads() {
        let otherForm: StaticStringBox = "only origin-form and http(s) absolute-form request targets are accepted"
        let cases: [(String, String, HTTPParseError)] = [
            ("CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
             .malformed("both Content-Length and Transfer-Encoding")),
            ("TE and CL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
             .malformed("both Content-Length and Transfer-Encoding")),
            ("differing CL list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n",
             .malformed("conflicting Content-Length values")),
            ("differing CL headers", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
             .malformed("conflicting Content-Length values")),
            ("non-numeric CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", .malformed("invalid Content-Length")),
            ("signed CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", .malformed("invalid Content-Length")),
            ("negative CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", .malformed("invalid Content-Length")),
            ("hex CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", .malformed("invalid Content-Length")),
            ("CL with inner space", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 0\r\n\r\n", .malformed("invalid Content-Length")),
            ("CL over Int64", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", .malformed("invalid Content-Length")),
            ("CL 19 nines", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9999999999999999999\r\n\r\n", .malformed("invalid Content-Length")),
            ("CL leading empty element", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ,5\r\n\r\n", .malformed("empty element in Content-Length list")),
            ("CL trailing empty element", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n", .malformed("empty element in Content-Length list")),
            ("CL inner empty element", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,,5\r\n\r\n", .malformed("empty element in Content-Length list")),
            ("CL blank element", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, \t,5\r\n\r\n", .malformed("empty element in Content-Length list")),
            ("CL only a comma", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ,\r\n\r\n", .malformed("empty element in Content-Length list")),
            ("empty CL after a valid one", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length:\r\n\r\n", .malformed("empty Content-Length")),
            ("blank CL after a valid one", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length:  \r\n\r\n", .malformed("empty Content-Length")),
            ("CL 20 significant digits after zeros", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0010000000000000000000\r\n\r\n", .malformed("invalid Content-Length")),
            ("CL 20 digits", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000000000000000\r\n\r\n", .malformed("invalid Content-Length")),
            ("empty CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", .malformed("empty Content-Length")),
            ("TE gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", .malformed("request Transfer-Encoding must end in chunked")),
            ("TE gzip, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", .notImplemented("unsupported transfer coding")),
            ("TE identity, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n", .notImplemented("unsupported transfer coding")),
            ("TE gzip, chunked with CL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n", .malformed("both Content-Length and Transfer-Encoding")),
            ("TE gzip, chunked in 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", .malformed("Transfer-Encoding in an HTTP/1.0 request")),
            ("TE empty", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", .malformed("request Transfer-Encoding must end in chunked")),
            ("TE chunked, gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
             .malformed("transfer-coding after chunked")),
            ("TE chunked twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
             .malformed("transfer-coding after chunked")),
            ("TE chunked then gzip header", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n",
             .malformed("transfer-coding after chunked")),
            ("TE xchunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", .malformed("request Transfer-Encoding must end in chunked")),
            ("TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", .malformed("Transfer-Encoding in an HTTP/1.0 request")),
            ("obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", .malformed("obsolete line folding is not accepted")),
            ("obs-fold tab", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n", .malformed("obsolete line folding is not accepted")),
            ("whitespace first header", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", .malformed("obsolete line folding is not accepted")),
            ("bare LF after request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", .malformed("line not terminated by CRLF")),
            ("bare LF after header", "GET / HTTP/1.1\r\nHost: a\n\r\n", .malformed("line not terminated by CRLF")),
            ("bare LF ending head", "GET / HTTP/1.1\r\nHost: a\r\n\n", .malformed("line not terminated by CRLF")),
            ("bare LF first", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", .malformed("line not terminated by CRLF")),
            ("bare CR in value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n", .malformed("invalid character in header value")),
            ("CR before CRLF", "GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", .malformed("invalid character in header value")),
            ("NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\u{0}c\r\n\r\n", .malformed("invalid character in header value")),
            ("DEL in value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\u{7F}\r\n\r\n", .malformed("invalid character in header value")),
            ("space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", .malformed("invalid character in header name (whitespace before colon?)")),
            ("tab before colon", "GET / HTTP/1.1\r\nHost: a\r\nX-A\t: b\r\n\r\n", .malformed("invalid character in header name (whitespace before colon?)")),
            ("no colon", "GET / HTTP/1.1\r\nHost: a\r\nJustAName\r\n\r\n", .malformed("invalid character in header name (whitespace before colon?)")),
            ("empty name", "GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", .malformed("header line without a name")),
            ("non-token in name", "GET / HTTP/1.1\r\nHost: a\r\nX(A): v\r\n\r\n", .malformed("invalid character in header name (whitespace before colon?)")),
            ("method with slash", "GE/T / HTTP/1.1\r\nHost: a\r\n\r\n", .malformed("invalid method")),
            ("method with colon", "GET: / HTTP/1.1\r\nHost: a\r\n\r\n", .malformed("invalid method")),
            ("empty method", " / HTTP/1.1\r\nHost: a\r\n\r\n", .malformed("invalid method")),
            ("method only", "GET\r\nHost: a\r\n\r\n", .malformed("invalid method")),
            ("tab after method", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", .malformed("invalid method")),
            ("ftp scheme", "GET ftp://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n", .malformed(otherForm)),
            ("scheme without slashes", "GET http:example.com/ HTTP/1.1\r\nHost: a\r\n\r\n", .malformed(otherForm)),
            ("one slash", "GET http:/example.com/ HTTP/1.1\r\nHost: a\r\n\r\n", .malformed(otherForm)),
            ("relative", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", .malformed(otherForm)),
            ("empty authority", "GET http:///a HTTP/1.1\r\nHost: a\r\n\r\n", .malformed("invalid authority in request target")),
            ("only scheme", "GET http:// HTTP/1.1\r\nHost: a\r\n\r\n", .malformed("invalid authority in request target")),
            ("authority with query only", "GET http://?q HTTP/1.1\r\nHost: a\r\n\r\n", .malformed("invalid authority in request target")),
            ("userinfo", "GET http://user:pw@example.com/ HTTP/1.1\r\nHost: a\r\n\r\n", .malformed("invalid authority in request target")),
            ("comma in authority", "GET http://a,b/ HTTP/1.1\r\nHost: a\r\n\r\n", .malformed("invalid authority in request target")),
            ("bad port", "GET http://a:x/ HTTP/1.1\r\nHost: a\r\n\r\n", .malformed("invalid authority in request target")),
            ("absolute-form and a bad Host", "GET http://a/ HTTP/1.1\r\nHost: a b\r\n\r\n", .malformed("invalid Host header")),
            ("absolute-form and two Hosts", "GET http://a/ HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", .malformed("exactly one Host header is required")),
            ("authority-form", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
             .malformed(otherForm)),
            ("asterisk with GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", .malformed(otherForm)),
            ("OPTIONS *x", "OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n", .malformed(otherForm)),
            ("HTTP/0.9", "GET /\r\n", .malformed("invalid request target")),
            ("PRI preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", .malformed(otherForm)),
            ("HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", .malformed("unsupported HTTP version")),
            ("HTTP/0.9 version", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", .malformed("unsupported HTTP version")),
            ("HTTP/3.0", "GET / HTTP/3.0\r\nHost: a\r\n\r\n", .malformed("unsupported HTTP version")),
            ("HTTP/1.x", "GET / HTTP/1.x\r\nHost: a\r\n\r\n", .malformed("unsupported HTTP version")),
            ("HTTP/1.1 with a comma", "GET / HTTP/1,1\r\nHost: a\r\n\r\n", .malformed("unsupported HTTP version")),
            ("OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", .malformed("asterisk-form (OPTIONS *) is not supported")),
            ("fragment in target", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", .malformed("invalid request target")),
            ("fragment after query", "GET /a?q=1#/../admin HTTP/1.1\r\nHost: a\r\n\r\n", .malformed("invalid request target")),
            ("lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", .malformed("unsupported HTTP version")),
            ("long version", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", .malformed("invalid HTTP version")),
            ("short version", "GET / HTTP/1\r\nHost: a\r\n\r\n", .malformed("invalid HTTP version")),
            ("trailing space in request line", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", .malformed("invalid HTTP version")),
            ("missing Host in 1.1", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", .malformed("exactly one Host header is required")),
            ("two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", .malformed("exactly one Host header is required")),
            ("two Hosts in 1.0", "GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", .malformed("exactly one Host header is required")),
            ("double space after method", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", .malformed("invalid request target")),
            ("double space before version", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", .malformed("invalid HTTP version")),
            ("control char in target", "GET /a\u{1}b HTTP/1.1\r\nHost: a\r\n\r\n", .malformed("invalid request target")),
            ("DEL in target", "GET /a\u{7F} HTTP/1.1\r\nHost: a\r\n\r\n", .malformed("invalid request target")),
            ("too many leading CRLFs", "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", .malformed("invalid method")),
        ]
        for (name, input, expected) in cases {
            XCTAssertEqual(parseRequest(input).status, .failed(expected), name)
        }
    }

    func testObsTextInTargetIsRejected() {
        var input = bytes("GET /caf")
        input += [0xC3, 0xA9]
        input += bytes(" HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(parseRequest(input).status, .failed(.malformed("invalid request target")))
    }

    func testRequestLineLimit() {
        let limits = HeadLimits(maxStartLine: 32, maxHeadSize: 1024, maxHeaders: 16)
        // "GET " + target + " HTTP/1.1" is 13 bytes plus the target.
        let atLimit = "GET /" + String(repeating: "a", count: 18) + " HTTP/1.1"
        XCTAssertEqual(atLimit.utf8.count, 32)
        let accepted = parseRequest(atLimit + "\r\nHost: a\r\n\r\n", limits: limits)
        XCTAssertEqual(accepted.status, .complete(headLength: 32 + 2 + 9 + 2))

        let over = "GET /" + String(repeating: "a", count: 19) + " HTTP/1.1\r\nHost: a\r\n\r\n"
        XCTAssertEqual(parseRequest(over, limits: limits).status, .failed(.requestLineTooLong("request line too long")))

        // An unterminated line is refused as soon as it is provably too long.
        let endless = "GET /" + String(repeating: "a", count: 200)
        XCTAssertEqual(parseRequest(endless, limits: limits).status, .failed(.requestLineTooLong("request line too long")))

        // Leading empty lines do not count against the request line.
        let leading = parseRequest("\r\n\r\n" + atLimit + "\r\nHost: a\r\n\r\n", limits: limits)
        XCTAssertEqual(leading.status, .complete(headLength: 4 + 32 + 2 + 9 + 2))
    }

    func testHeadSizeLimit() {
        let limits = HeadLimits(maxStartLine: 64, maxHeadSize: 100, maxHeaders: 16)
        let prefix = "GET / HTTP/1.1\r\nHost: a\r\nX: "  // 28 bytes
        // 28 + value + 2 (CRLF) + 2 (final CRLF) == 100 at the limit.
        let atLimit = prefix + String(repeating: "v", count: 68) + "\r\n\r\n"
        XCTAssertEqual(atLimit.utf8.count, 100)
        XCTAssertEqual(parseRequest(atLimit, limits: limits).status, .complete(headLength: 100))

        let over = prefix + String(repeating: "v", count: 69) + "\r\n\r\n"
        XCTAssertEqual(parseRequest(over, limits: limits).status, .failed(.headersTooLarge("request head too large")))

        let endless = prefix + String(repeating: "v", count: 500)
        XCTAssertEqual(parseRequest(endless, limits: limits).status, .failed(.headersTooLarge("request head too large")))

        let manyShortLines = "GET / HTTP/1.1\r\nHost: a\r\n" + String(repeating: "A: b\r\n", count: 15)
        XCTAssertEqual(parseRequest(manyShortLines, limits: limits).status, .failed(.headersTooLarge("request head too large")))
    }

    func testResetParsesTheNextRequest() {
        let first = bytes("POST /one HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\nConnection: close, x\r\n\r\n")
        let second = bytes("\r\nGET /two?q HTTP/1.0\r\n\r\n")
        var parser = RequestHeadParser(limits: testHeadLimits)
        first.withUnsafeBufferPointer { b in
            XCTAssertEqual(parser.parse(b.baseAddress!, count: b.count), .complete(headLength: first.count))
        }
        XCTAssertTrue(parser.head.expectContinue)
        parser.reset()
        second.withUnsafeBufferPointer { b in
            XCTAssertEqual(parser.parse(b.baseAddress!, count: b.count), .complete(headLength: second.count))
            let r = RequestParse(status: .complete(headLength: second.count), head: parser.head, input: second)
            XCTAssertEqual(r.method, .get)
            XCTAssertEqual(r.path, "/two")
            XCTAssertEqual(r.version, .http10)
            XCTAssertEqual(r.headers, [])
            XCTAssertEqual(r.framing, .none)
            XCTAssertFalse(r.expectContinue)
            XCTAssertFalse(r.connectionClose)
            XCTAssertFalse(r.connectionNamesOthers)
            XCTAssertEqual(r.contentLength, -1)
        }
    }

    func testIdempotentMethods() {
        let idempotent: [HTTPMethod] = [.get, .head, .put, .delete, .options]
        for m in [HTTPMethod.get, .head, .post, .put, .patch, .delete, .options, .other] {
            XCTAssertEqual(m.isIdempotent, idempotent.contains(m), "\(m)")
        }
    }
}
