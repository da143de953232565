import XCTest
@testable import GatewayCore

final class IdempotencyRecorderTests: XCTestCase {
    private func record(_ head: String, body: [String], limit: Int = 1 << 20) -> ResponseRecorder {
        let recorder = ResponseRecorder(limit: limit, requestID: bytes("req-1"))
        let input = bytes(head)
        input.withUnsafeBufferPointer { b in
            var parser = ResponseHeadParser(limits: HeadLimits(maxStartLine: 128, maxHeadSize: 4096, maxHeaders: 32))
            guard case .complete = parser.parse(b.baseAddress!, count: b.count) else { return XCTFail("unparsable head") }
            recorder.recordHead(parser.head, bytes: b.baseAddress!)
        }
        for chunk in body { bytes(chunk).withUnsafeBytes { recorder.append($0.baseAddress, count: $0.count) } }
        return recorder
    }

    /// The header section as the client got it, apart from what a replay writes fresh.
    func testKeepsTheHeaderSectionAsSentExceptPerResponseFields() throws {
        let recorder = record("""
            HTTP/1.1 201 Created\r
            Content-Type: application/json\r
            Content-Length: 8\r
            Connection: keep-alive, X-Hop\r
            X-Hop: 1\r
            Set-Cookie: s=1\r
            X-Request-Id: upstream-id\r
            X-Message-Id: m1\r
            location: /v1/messages/m1\r
            ETag: "v1"\r
            Vary: Accept-Encoding\r
            Content-Encoding: gzip\r
            Date: Tue, 01 Oct 2024 10:00:00 GMT\r
            Server: mock\r
            RateLimit-Policy: "up";q=10;w=1\r
            RateLimit: "up";r=9;t=1\r
            X-RateLimit-Remaining: 9\r
            Strict-Transport-Security: max-age=60\r
            Transfer-Encoding: chunked\r
            Keep-Alive: timeout=5\r
            \r

            """, body: ["{\"id\":", "1}"])
        guard case .replayable(let stored) = recorder.finish() else { return XCTFail("not replayable") }
        XCTAssertEqual(stored.status, 201)
        XCTAssertEqual(text(stored.reason), "Created")
        XCTAssertEqual(text(stored.headerLines), """
            Content-Type: application/json\r
            Set-Cookie: s=1\r
            X-Message-Id: m1\r
            location: /v1/messages/m1\r
            ETag: "v1"\r
            Vary: Accept-Encoding\r
            Content-Encoding: gzip\r
            Server: mock\r
            Strict-Transport-Security: max-age=60\r
            X-Request-Id: req-1\r

            """)
        XCTAssertEqual(text(stored.body), "{\"id\":1}")
        XCTAssertEqual(stored.body.capacity, stored.body.count, "stored without growth slack")
    }

    func testGivesUpPastTheLimit() {
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
        let reasonAndHeader = "OK".utf8.count + "Content-Type: text/plain\r\n".utf8.count + "X-Request-Id: req-1\r\n".utf8.count
        let fits = record(head, body: ["12345", "67890"], limit: reasonAndHeader + 10)
        XCTAssertTrue(fits.isReplayable)
        let over = record(head, body: ["12345", "678901"], limit: reasonAndHeader + 10)
        XCTAssertFalse(over.isReplayable)
        bytes("more").withUnsafeBytes { over.append($0.baseAddress, count: $0.count) }
        guard case .notReplayable(let status) = over.finish() else { return XCTFail("replayable past the limit") }
        XCTAssertEqual(status, 200)
    }

    func testRewrittenErrorIsRecordedAsTheClientSawIt() {
        let recorder = ResponseRecorder(limit: 1024, requestID: bytes("req-9"))
        recorder.recordRewritten(RenderedError(status: 404, retryAfterSeconds: nil, body: bytes("{\"success\":false}")))
        guard case .replayable(let stored) = recorder.finish() else { return XCTFail() }
        XCTAssertEqual(stored.status, 404)
        XCTAssertEqual(text(stored.reason), "Not Found")
        XCTAssertEqual(text(stored.headerLines), "Content-Type: application/json\r\nX-Request-Id: req-9\r\n")
        XCTAssertEqual(text(stored.body), "{\"success\":false}")
    }

    func testReplayHeadWithoutBody() {
        let stored = StoredResponse(status: 200, reason: bytes("OK"), headerLines: bytes("X-Request-Id: r1\r\n"), body: bytes("abc"))
        let out = ByteBuffer(capacity: 16)
        IdempotencyReplay.writeHead(stored, connection: .close, extraHeaders: UnsafeRawBufferPointer(start: nil, count: 0), into: out)
        XCTAssertEqual(text(out), "HTTP/1.1 200 OK\r\nX-Request-Id: r1\r\nIdempotent-Replayed: true\r\nConnection: close\r\nContent-Length: 3\r\n\r\n")
    }
}
