import CSystem
import Foundation
import Glibc
import XCTest
@testable import GatewayIO

/// The io_uring building blocks on real loopback sockets, every byte moved through the ring:
/// multishot accept, multishot recv into provided buffers, send/sendmsg, connect, close.
/// Skipped where io_uring is unavailable (disabled by sysctl, seccomp, an old kernel).
final class URingTests: XCTestCase {
    private var descriptorsBefore = 0

    override func setUpWithError() throws {
        csys_ignore_sigpipe()
        _ = csys_raise_nofile_limit()
        if case .unavailable(let reason) = URing.availability() {
            throw XCTSkip("io_uring unavailable: \(reason)")
        }
        descriptorsBefore = RingHarness.openDescriptors()
    }

    /// Every test tears its ring down; no socket or ring it opened may outlive it.
    override func tearDown() {
        XCTAssertEqual(RingHarness.openDescriptors(), descriptorsBefore, "sockets or rings leaked")
    }

    func testCapabilitiesAndSetupFlagFallback() throws {
        let ring = try URing(entries: 8, completionEntries: 16)
        XCTAssertEqual(ring.capabilities.missing, [])
        print("io_uring on \(kernelRelease()): \(ring.capabilities.description)")
        // An optional flag the kernel does not know is dropped, the ring still comes up...
        let unknown = URingSetupFlags(rawValue: 1 << 30)
        let tolerant = try URing(entries: 8, completionEntries: 16, flags: [.singleIssuer, unknown])
        XCTAssertFalse(tolerant.capabilities.setupFlags.contains(unknown))
        XCTAssertTrue(tolerant.capabilities.setupFlags.contains(.singleIssuer))
        // ...while a required one fails cleanly.
        XCTAssertThrowsError(try URing(entries: 8, flags: [unknown], required: [unknown])) { error in
            XCTAssertEqual((error as? SystemError)?.code, EINVAL)
        }
    }

    func testTokensCarryDescriptorGenerationAndOperation() {
        let token = URingToken(fd: 1_000_123, generation: 0x1234_5678, operation: .send)
        XCTAssertEqual(token.fd, 1_000_123)
        XCTAssertEqual(token.generation, 0x34_5678, "24 bits of generation")
        XCTAssertEqual(token.operation, .send)
        XCTAssertNotEqual(token, URingToken(fd: 1_000_123, generation: 0x34_5679, operation: .send))
        XCTAssertEqual(URingToken(rawValue: token.rawValue), token)
    }

    func testLoopbackEcho() throws {
        let h = try RingHarness(bufferCount: 16, bufferSize: 4096)
        let (listener, address) = h.listen { server in
            // Echo straight out of the provided buffer; it is recycled once sent.
            server.onData = { socket, bytes, id in h.send(socket, .provided(id: id, count: bytes.count)) }
        }
        let message = Array("hello through io_uring".utf8)
        let client = h.connect(to: address) { h.send($0, .owned(message)) }
        XCTAssertTrue(h.run { client.received.count >= message.count })
        XCTAssertEqual(client.received, message)
        XCTAssertNil(client.failure)
        // A second round on the same connection reuses the armed multishot recv.
        h.send(client, .owned(Array("again".utf8)))
        XCTAssertTrue(h.run { client.received.count >= message.count + 5 })
        XCTAssertEqual(client.received, message + Array("again".utf8))
        try closeEverything(h, listener: listener)
    }

    /// Client → proxy → upstream and back, the proxy's side all through the ring: it connects to
    /// the upstream with IORING_OP_CONNECT, forwards a rewritten head plus the client's bytes in
    /// one gather SENDMSG, and relays the answer zero-copy from the provided buffer.
    func testProxyShapedExchange() throws {
        let h = try RingHarness(bufferCount: 32, bufferSize: 2048)
        let upstreamAnswer = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8)
        var upstreamSaw: [UInt8] = []
        let (upstreamListener, upstreamAddress) = h.listen { upstreamSide in
            upstreamSide.onData = { socket, bytes, id in
                upstreamSaw.append(contentsOf: bytes)
                h.buffers.recycle(id)
                if upstreamSaw.count >= 2, upstreamSaw.suffix(4) == Array("\r\n\r\n".utf8) { h.send(socket, .owned(upstreamAnswer)) }
            }
        }
        let (proxyListener, proxyAddress) = h.listen { clientSide in
            clientSide.onData = { client, request, requestBuffer in
                let head = Array("X-Forwarded-For: 127.0.0.1\r\n".utf8)
                let lineEnd = request.firstIndex(of: UInt8(ascii: "\n"))! + 1
                let requestLength = request.count
                h.connect(to: upstreamAddress) { upstream in
                    // Request line, the added header, then the rest: three pieces, one sendmsg.
                    let line = Array(h.buffers.bytes(requestBuffer, count: lineEnd))
                    let rest = Array(h.buffers.bytes(requestBuffer, count: requestLength)[lineEnd...])
                    h.buffers.recycle(requestBuffer)
                    h.send(upstream, .owned(line), .owned(head), .owned(rest))
                    upstream.onData = { _, response, responseBuffer in
                        h.send(client, .provided(id: responseBuffer, count: response.count))
                    }
                }
            }
        }
        let request = Array("GET /v1/sessions/demo HTTP/1.1\r\nHost: gw\r\n\r\n".utf8)
        let client = h.connect(to: proxyAddress) { h.send($0, .owned(request)) }
        XCTAssertTrue(h.run { client.received.count >= upstreamAnswer.count })
        XCTAssertEqual(client.received, upstreamAnswer)
        XCTAssertEqual(String(decoding: upstreamSaw, as: UTF8.self),
                       "GET /v1/sessions/demo HTTP/1.1\r\nX-Forwarded-For: 127.0.0.1\r\nHost: gw\r\n\r\n")
        XCTAssertGreaterThanOrEqual(h.sendMessageCalls, 1, "the forwarded request went out as one gather send")
        try closeEverything(h, listener: proxyListener, upstreamListener)
    }

    /// With every provided buffer held, multishot recv ends with -ENOBUFS; the bytes wait in the
    /// socket, and re-arming once buffers are back delivers them in order.
    func testOutOfBuffersEndsTheReceiveAndReArmingResumesIt() throws {
        let h = try RingHarness(bufferCount: 4, bufferSize: 16)
        var held: [UInt16] = []
        var serverSaw: [UInt8] = []
        let (listener, address) = h.listen { server in
            server.onData = { _, bytes, id in
                serverSaw.append(contentsOf: bytes)
                held.append(id)
            }
        }
        let payload = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let client = h.connect(to: address) { h.send($0, .owned(payload)) }
        var rounds = 0
        while serverSaw.count < payload.count {
            let before = h.outOfBuffers
            XCTAssertTrue(h.run { h.outOfBuffers > before || serverSaw.count == payload.count }, "stalled at \(serverSaw.count) bytes")
            if serverSaw.count < payload.count {
                XCTAssertEqual(h.buffers.available, 0, "ENOBUFS only once every buffer is held")
                XCTAssertEqual(h.starved.count, 1)
            }
            for id in held { h.buffers.recycle(id) }
            held.removeAll()
            rounds += 1
            if rounds > 100 { break }
        }
        XCTAssertEqual(serverSaw, payload)
        XCTAssertGreaterThanOrEqual(h.outOfBuffers, 4, "300 bytes through 4 × 16-byte buffers runs dry repeatedly")
        XCTAssertTrue(client.idle)
        try closeEverything(h, listener: listener)
    }

    /// 1,000 connections echo through 64 shared buffers: every buffer comes back, every
    /// descriptor is closed.
    func testAThousandConnectionsShareRecycledBuffers() throws {
        let h = try RingHarness(bufferCount: 64, bufferSize: 1024, entries: 1024, completionEntries: 8192)
        let (listener, address) = h.listen { server in
            server.onData = { socket, bytes, id in h.send(socket, .provided(id: id, count: bytes.count)) }
        }
        var clients: [RingSocket] = []
        for i in 0..<1000 {
            let message = Array("connection \(i) says hello, padded to be a little longer".utf8)
            clients.append(h.connect(to: address) { h.send($0, .owned(message)) })
        }
        let expected = clients.indices.map { Array("connection \($0) says hello, padded to be a little longer".utf8) }
        let done = h.run(timeoutMillis: 20_000) { zip(clients, expected).allSatisfy { $0.received.count >= $1.count } }
        XCTAssertTrue(done, "\(clients.filter { !$0.connected }.count) not connected, \(clients.filter { $0.failure != nil }.count) failed")
        for (client, message) in zip(clients, expected) { XCTAssertEqual(client.received, message) }
        XCTAssertGreaterThanOrEqual(h.buffersDelivered, 2000, "each message passed through two provided buffers")
        print("1,000 connections: \(h.buffersDelivered) buffers delivered, \(h.outOfBuffers) ENOBUFS re-arms, "
              + "\(h.ring.enterCalls) io_uring_enter calls")
        try closeEverything(h, listener: listener)
        XCTAssertEqual(h.buffers.available, h.buffers.count, "every buffer recycled")
    }

    /// The pitfall IORING_OP_CLOSE has: a pending multishot recv holds the file, so closing the
    /// descriptor alone sends no FIN. Cancelling first (URing.close's default) does.
    func testClosingCancelsPendingReceivesSoThePeerSeesEOF() throws {
        let h = try RingHarness(bufferCount: 8, bufferSize: 256)
        var accepted: [RingSocket] = []
        let (listener, address) = h.listen { accepted.append($0) }
        let peerA = try blockingConnect(address)
        let peerB = try blockingConnect(address)
        defer { Glibc.close(peerA); Glibc.close(peerB) }
        XCTAssertTrue(h.run { accepted.count == 2 })

        // Bare close: the armed recv keeps the socket alive, the peer hears nothing.
        let bare = accepted[0]
        h.ring.close(bare.fd, token: bare.token(.close), cancelPending: false)
        XCTAssertTrue(h.run { h.closesCompleted == 1 })
        XCTAssertFalse(peerSeesEOF(peerA, waitMillis: 200), "FIN sent although a recv still held the socket")
        // The descriptor number is gone, so only the request's own token can cancel it now.
        h.ring.cancel(bare.token(.receive))
        XCTAssertTrue(h.run { peerSeesEOF(peerA, waitMillis: 10) }, "cancelling the recv let the socket go")

        // Cancel-then-close: FIN at once.
        h.close(accepted[1])
        XCTAssertTrue(h.run { h.closesCompleted == 2 })
        XCTAssertTrue(peerSeesEOF(peerB, waitMillis: 1000))
        h.closeListener(listener)
        XCTAssertTrue(h.run { h.closesCompleted == 3 })
    }

    /// What the loop's ring I/O relies on: a MSG_DONTWAIT gather send completes inside the
    /// io_uring_enter that submits it, whole, short, or -EAGAIN on a full socket, and never waits
    /// in the kernel holding pointers into the sender's queue; a one-shot poll then says when
    /// there is room again.
    func testADontWaitSendCompletesWhileSubmittedEvenOnAFullSocket() throws {
        let ring = try URing(entries: 8, completionEntries: 16)
        var pair: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &pair), 0)
        defer { Glibc.close(pair[0]); Glibc.close(pair[1]) }
        var chunk = [UInt8](repeating: 7, count: 64 << 10)
        var message = msghdr()
        var iov = iovec()
        var sent = 0, results: [Int32] = [], sendCompletions = 0
        // Fill the socket through the ring until it refuses; each send must complete in its own enter.
        while results.last != -EAGAIN && sendCompletions < 1000 {
            chunk.withUnsafeMutableBytes { bytes in
                iov = iovec(iov_base: bytes.baseAddress, iov_len: bytes.count)
                withUnsafeMutablePointer(to: &iov) { message.msg_iov = $0; message.msg_iovlen = 1 }
                ring.sendMessageNow(pair[0], &message, token: URingToken(fd: pair[0], generation: 1, operation: .send))
                ring.submitAndWait(timeoutMillis: 0) { c in
                    sendCompletions += 1
                    results.append(c.result)
                    if c.result > 0 { sent += Int(c.result) }
                }
            }
            XCTAssertEqual(results.count, sendCompletions)
        }
        XCTAssertEqual(results.last, -EAGAIN, "a send on a full socket must fail at once, not wait: \(results.suffix(3))")
        XCTAssertEqual(results.count, sendCompletions, "every send completed in the enter that submitted it")
        XCTAssertGreaterThan(sent, 0)
        // Room again: the one-shot poll completes once the peer reads.
        ring.pollOnce(pair[0], mask: CSYS_EPOLLOUT, token: URingToken(fd: pair[0], generation: 1, operation: .wake))
        var woke = false
        ring.submitAndWait(timeoutMillis: 0) { _ in woke = true }
        XCTAssertFalse(woke, "a full socket is not writable")
        var sink = [UInt8](repeating: 0, count: 1 << 20)
        var drained = 0
        while drained < sent {
            let n = recv(pair[1], &sink, sink.count, Int32(MSG_DONTWAIT))
            if n <= 0 { break }
            drained += n
        }
        XCTAssertEqual(drained, sent)
        ring.submitAndWait(timeoutMillis: 1000) { c in woke = c.result & Int32(CSYS_EPOLLOUT) != 0 }
        XCTAssertTrue(woke, "the poll reports room once the peer has read")
    }

    // MARK: Helpers

    private func closeEverything(_ h: RingHarness, listener: Int32...) throws {
        XCTAssertTrue(h.run { h.sockets.values.allSatisfy(\.idle) }, "sends still in flight")
        let expected = h.closesCompleted + h.sockets.count + listener.count
        for socket in Array(h.sockets.values) { h.close(socket) }
        for fd in listener { h.closeListener(fd) }
        XCTAssertTrue(h.run { h.closesCompleted == expected })
    }

    private func blockingConnect(_ address: SocketAddress) throws -> Int32 {
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue), 0)
        let rc = address.withSockaddr { Glibc.connect(fd, $0, $1) }
        if rc != 0 { throw SystemError("connect", errno) }
        return fd
    }

    private func peerSeesEOF(_ fd: Int32, waitMillis: Int32) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, waitMillis) == 1 else { return false }
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_DONTWAIT)) == 0
    }

    private func kernelRelease() -> String {
        var name = utsname()
        uname(&name)
        return withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}
