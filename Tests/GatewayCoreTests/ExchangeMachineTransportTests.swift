import XCTest
@testable import GatewayCore

/// What the machine hears from a TLS transport, which it cannot tell from a plain one otherwise:
/// an upstream handshake that failed, a client handshake that took its time, and a connection
/// refused before any request (plain HTTP on a TLS port).
final class ExchangeMachineTransportTests: XCTestCase {
    private func driver() throws -> MachineDriver { try MachineDriver(ExchangeMachineTests.config) }

    func testAFailedUpstreamHandshakeTriesTheNextServerThenAnswers502WithTheReason() throws {
        let d = try driver()
        d.connectBehaviour = [0: [.pending], 1: [.pending]]
        d.send("GET /v1/a HTTP/1.1\r\nHost: a\r\n\r\n")
        d.failHandshake("certificate verify failed: unable to get local issuer certificate")
        XCTAssertTrue(d.upstream(0).closed)
        XCTAssertEqual(d.upstreams.count, 2, "the next server is tried")
        XCTAssertTrue(d.responses.isEmpty)
        d.failHandshake("certificate verify failed: Hostname mismatch")
        let answer = try XCTUnwrap(d.responses.first)
        XCTAssertEqual(answer.status, 502)
        XCTAssertEqual(answer.headers["retry-after"], "7")
        let envelope = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])
        let error = try XCTUnwrap(envelope["error"] as? [String: Any])
        XCTAssertEqual(error["code"] as? String, "bad_gateway")
        XCTAssertEqual((error["details"] as? [String: Any])?["reason"] as? String, "certificate verify failed: Hostname mismatch")
        XCTAssertTrue(d.logs.contains { $0.contains("server 127.0.0.1:9000: TLS handshake failed: certificate verify failed") }, "\(d.logs)")
        XCTAssertFalse(d.clientClosed, "a GET without a body keeps its connection")
    }

    func testAHandshakeFailureFollowedByAGoodServerIsServed() throws {
        let d = try driver()
        d.connectBehaviour = [0: [.pending]]
        d.send("GET /v1/a HTTP/1.1\r\nHost: a\r\n\r\n")
        d.failHandshake("ssl routines: wrong version number")
        d.respond(d.upstream(1), ExchangeMachineTests.ok)
        XCTAssertEqual(d.responses.map(\.status), [200])
    }

    func testAHeadAndBodyThatArriveTogetherLeaveInOneWrite() throws {
        // Under TLS every write is a record and a syscall: the head must not go out alone.
        let d = try driver()
        d.send("GET /v1/a HTTP/1.1\r\nHost: a\r\n\r\n")
        let before = d.actions.count
        d.respond(d.upstream(0), "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        XCTAssertEqual(d.responses.map(\.body), ["hello"])
        XCTAssertEqual(d.actions[before...].filter { $0 == .flushClient }.count, 1, "\(d.actions[before...])")
        // A chunked body is re-framed, still in one write.
        let mark = d.actions.count
        d.send("GET /v1/b HTTP/1.1\r\nHost: a\r\n\r\n")
        d.respond(try XCTUnwrap(d.current), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        XCTAssertEqual(d.responses.last?.body, "abcde")
        XCTAssertEqual(d.actions[mark...].filter { $0 == .flushClient }.count, 1, "\(d.actions[mark...])")
    }

    func testTheHeaderTimeoutCountsFromTheEndOfTheHandshake() throws {
        let d = try driver()
        d.advance(900)
        d.machine.transportReady()
        d.drive()
        d.advance(900)
        XCTAssertFalse(d.clientClosed, "1 s of header timeout counts from the handshake, not from accept")
        d.advance(100)
        XCTAssertTrue(d.clientClosed)
    }

    /// send_timeout runs between two writes: a keep-alive connection idle for longer than it,
    /// whose next answer finds the socket full at the first write, gets the whole timeout.
    func testTheSendTimeoutCountsFromTheFirstWriteThatFoundNoRoom() throws {
        let d = try MachineDriver(ExchangeMachineTests.config + "send_timeout 2s;")
        d.send("GET /v1/a HTTP/1.1\r\nHost: a\r\n\r\n")
        d.respond(d.upstream(0), ExchangeMachineTests.ok)
        XCTAssertEqual(d.responses.count, 1)
        d.advance(4000)
        d.clientTakesBytes = false
        d.send("GET /v1/b HTTP/1.1\r\nHost: a\r\n\r\n")
        d.respond(try XCTUnwrap(d.current), ExchangeMachineTests.ok)
        XCTAssertFalse(d.clientClosed, "aborted by a timeout that counted from the previous answer")
        d.advance(1900)
        XCTAssertFalse(d.clientClosed)
        d.advance(200)
        XCTAssertTrue(d.clientClosed, "a client that takes nothing for send_timeout is dropped")
    }

    func testARefusedConnectionGetsItsEnvelopeThenLingers() throws {
        let d = try driver()
        d.machine.refuseConnection(GatewayError(.invalidRequest, "Plain HTTP was sent to an HTTPS port"))
        d.drive()
        let answer = try XCTUnwrap(d.responses.first)
        XCTAssertEqual(answer.status, 400)
        XCTAssertEqual(answer.headers["connection"], "close")
        XCTAssertTrue(answer.body.contains("Plain HTTP was sent to an HTTPS port"), answer.body)
        XCTAssertTrue(d.clientWriteShut, "what the client still sends is read and dropped before closing")
        d.clientCloses()
        XCTAssertTrue(d.clientClosed)
    }
}

extension MachineDriver {
    /// The TLS handshake on the connection the machine is waiting for fails.
    func failHandshake(_ reason: String) {
        machine.upstreamHandshakeFailed(reason: reason)
        drive()
    }
}
