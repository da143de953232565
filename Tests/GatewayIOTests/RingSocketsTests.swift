import CSystem
import GatewayCore
import Glibc
import XCTest
@testable import GatewayIO

/// RingSockets driven the way the io_uring Poller drives it: `prepare()`, one `submitAndWait`,
/// every completion through `complete()`, handlers reading and flushing between iterations. The
/// peers are plain non-blocking sockets the test reads and writes itself. Skipped where io_uring,
/// DEFER_TASKRUN or provided-buffer rings are unavailable.
final class RingSocketsTests: XCTestCase {
    private var descriptorsBefore = 0

    override func setUpWithError() throws {
        csys_ignore_sigpipe()
        if case .unavailable(let reason) = URing.availability() {
            throw XCTSkip("io_uring unavailable: \(reason)")
        }
        descriptorsBefore = RingHarness.openDescriptors()
    }

    /// Sockets close through the ring: a test that forgot an iteration after `close` leaks here.
    override func tearDown() {
        XCTAssertEqual(RingHarness.openDescriptors(), descriptorsBefore, "sockets or rings leaked")
    }

    // MARK: Receiving

    /// 200 KiB through 16 buffers of 4 KiB, read through a 10 KiB buffer: every provided buffer is
    /// reused many times, reads split buffers, and the bytes still come out in order. EOF follows
    /// the last bytes, never overtakes them.
    func testBytesArriveInOrderAcrossManyProvidedBuffersThenEOF() throws {
        for kind in [PairKind.unix, .tcp] {
            let loop = try RingLoop(bufferCount: 16, bufferSize: 4096)
            let (fd, peer, t) = loop.openPair(kind)
            defer { Glibc.close(peer) }
            let payload = pattern(200 << 10)
            let tail = 100
            let body = payload[..<(payload.count - tail)]
            var written = 0, delivered = 0
            var received: [UInt8] = []
            let buffer = ByteBuffer(capacity: 10 << 10)
            let streamed = loop.run { events in
                // The peer writes odd-sized pieces (3001 bytes) while the reader keeps up.
                for _ in 0..<4 where written < body.count {
                    written += peerWrite(peer, body[written..<min(written + 3001, body.count)])
                }
                if let flags = events[t] {
                    XCTAssertEqual(flags & CSYS_EPOLLRDHUP, 0, "\(kind): EOF before the peer shut down")
                    XCTAssertEqual(readAll(loop.sockets, fd, buffer, into: &received), .wouldBlock, "\(kind)")
                }
                return received.count >= body.count
            } observe: { c in
                if c.operation == .receive && c.bufferID != nil { delivered += 1 }
            }
            XCTAssertTrue(streamed, "\(kind): stalled at \(received.count) of \(body.count) bytes")
            XCTAssertTrue(received == Array(body), "\(kind): bytes differ (\(received.count) received)")
            XCTAssertGreaterThan(delivered, 2 * loop.sockets.buffers.count, "\(kind): buffers were recycled and reused")

            // The last bytes and the FIN arrive while the reader looks away: EOF is reported, but
            // read hands out the bytes first.
            XCTAssertEqual(peerWrite(peer, payload[body.count...]), tail)
            shutdown(peer, Int32(SHUT_WR))
            var flags: UInt32 = 0
            XCTAssertTrue(loop.run { events in
                flags |= events[t] ?? 0
                return flags & CSYS_EPOLLRDHUP != 0
            }, "\(kind): EOF not reported")
            XCTAssertNotEqual(flags & CSYS_EPOLLIN, 0)
            XCTAssertEqual(flags & CSYS_EPOLLERR, 0)
            XCTAssertEqual(loop.sockets.read(fd, into: buffer), .bytes(tail), "\(kind)")
            XCTAssertTrue(Array(buffer.readableBytes) == Array(payload[body.count...]), "\(kind): last bytes differ")
            XCTAssertEqual(loop.sockets.read(fd, into: buffer), .eof, "\(kind)")
            XCTAssertEqual(loop.sockets.read(fd, into: buffer), .eof, "\(kind): EOF stays EOF")
            XCTAssertEqual(loop.sockets.buffers.available, loop.sockets.buffers.count, "\(kind): every buffer recycled")
            loop.close(fd)
        }
    }

    /// A reader that does not read pauses its receive at `maxHeld` buffers: the rest of the bytes
    /// wait in the socket, not in the loop's buffers, and flow again, intact, once it reads.
    func testASlowReaderHoldsAtMostMaxHeldBuffersAndResumesOnceItReads() throws {
        let loop = try RingLoop(bufferCount: 64, bufferSize: 1024)
        let (fd, peer, t) = loop.openPair()
        defer { Glibc.close(peer) }
        // 60 KB, 15 times what maxHeld buffers take, trickles in (one buffer's worth per
        // iteration) while nobody reads.
        let payload = pattern(60_000, seed: 3)
        var written = 0, mostHeld = 0
        var told = false
        while written < payload.count {
            written += peerWrite(peer, payload[written..<written + 1000])
            let flags = loop.iterate(timeoutMillis: 5)[t] ?? 0
            if flags & CSYS_EPOLLIN != 0 { told = true }
            mostHeld = max(mostHeld, loop.held)
        }
        XCTAssertTrue(told, "the reader was told bytes came")
        XCTAssertEqual(mostHeld, RingSockets.maxHeld, "received until maxHeld buffers were held, then paused")
        XCTAssertGreaterThanOrEqual(loop.sockets.buffers.available, loop.sockets.buffers.count - RingSockets.maxHeld)
        XCTAssertEqual(bytesWaiting(fd), payload.count - RingSockets.maxHeld * 1000, "the rest waits in the socket")

        // It reads at last (it was told EPOLLIN), then on each EPOLLIN: everything arrives.
        var received: [UInt8] = []
        let buffer = ByteBuffer(capacity: 10 << 10)
        XCTAssertEqual(readAll(loop.sockets, fd, buffer, into: &received), .wouldBlock)
        XCTAssertTrue(loop.run { events in
            if events[t] != nil { _ = readAll(loop.sockets, fd, buffer, into: &received) }
            return received.count >= payload.count
        }, "stalled at \(received.count) of \(payload.count) bytes")
        XCTAssertTrue(received == payload, "bytes differ")
        XCTAssertEqual(loop.held, 0)
        loop.close(fd)
    }

    /// A paused reader that reads is re-armed with bytes already waiting in its socket: a
    /// multishot recv would take every free buffer within one io_uring_enter (the cancel that
    /// pauses it only goes out with the next), starving the loop's other sockets. It receives one
    /// buffer at a time instead until its socket is empty.
    func testAReArmedSlowReaderDoesNotTakeEveryBuffer() throws {
        let loop = try RingLoop(bufferCount: 64, bufferSize: 1024)
        let (slow, slowPeer) = makePair(.unix)
        let (other, otherPeer) = makePair(.unix)
        defer { Glibc.close(slowPeer); Glibc.close(otherPeer) }
        loop.sockets.open(slow, token: token(slow))
        loop.sockets.open(other, token: token(other))
        // The slow reader pauses at maxHeld, then 100 KB more pile up in its socket.
        for _ in 0..<8 {
            _ = peerWrite(slowPeer, pattern(1000)[...])
            loop.iterate(timeoutMillis: 5)
        }
        XCTAssertEqual(loop.held, RingSockets.maxHeld)
        XCTAssertEqual(peerWrite(slowPeer, pattern(100_000)[...]), 100_000)
        // It reads two buffers' worth: below maxHeld, so its receive is armed again.
        XCTAssertEqual(loop.sockets.read(slow, into: ByteBuffer(capacity: 2048)), .bytes(2048))
        var mostHeld = 0
        for _ in 0..<3 {
            loop.iterate(timeoutMillis: 5)
            mostHeld = max(mostHeld, loop.held)
        }
        XCTAssertLessThanOrEqual(mostHeld, RingSockets.maxHeld + 1, "one slow reader holds \(mostHeld) of 64 buffers")
        // Another socket on the loop still receives while the slow reader sits on its bytes.
        XCTAssertEqual(peerWrite(otherPeer, pattern(100)[...]), 100)
        var got: [UInt8] = []
        let buffer = ByteBuffer(capacity: 1024)
        XCTAssertTrue(loop.run(millis: 500) { events in
            if events[self.token(other)] != nil { _ = readAll(loop.sockets, other, buffer, into: &got) }
            return got.count == 100
        }, "starved: the slow reader holds every buffer")
        loop.close(slow)
        loop.close(other)
    }

    /// Four buffers for three sockets whose readers look away: receives run dry (-ENOBUFS) and
    /// wait parked. Once the readers read, each socket is re-armed in turn and gets every one of
    /// its bytes, once, in order, with no more than the EPOLLIN wakeups a handler waits for.
    func testStarvedReceiversGetAllTheirBytesOnceBuffersComeBack() throws {
        let loop = try RingLoop(bufferCount: 4, bufferSize: 1024)
        let pairs = (0..<3).map { _ in makePair(.unix) }
        defer { for (_, peer) in pairs { Glibc.close(peer) } }
        let payloads = (0..<3).map { pattern(16 << 10, seed: UInt32($0 + 1)) }
        for (i, (fd, peer)) in pairs.enumerated() {
            loop.sockets.open(fd, token: token(fd))
            XCTAssertEqual(peerWrite(peer, payloads[i][...]), payloads[i].count)
        }
        var outOfBuffers = 0
        for _ in 0..<10 {
            loop.iterate(timeoutMillis: 5) { c in
                if c.operation == .receive && c.result == -ENOBUFS { outOfBuffers += 1 }
            }
        }
        XCTAssertGreaterThan(outOfBuffers, 0, "three sockets with 16 KiB each ran four buffers dry")
        XCTAssertEqual(loop.sockets.buffers.available, 0)

        // Each reader reads once (as after its last EPOLLIN), then whenever EPOLLIN comes.
        var received = [[UInt8]](repeating: [], count: 3)
        let buffer = ByteBuffer(capacity: 10 << 10)
        for (i, (fd, _)) in pairs.enumerated() { _ = readAll(loop.sockets, fd, buffer, into: &received[i]) }
        let done = loop.run { events in
            for (i, (fd, _)) in pairs.enumerated() where events[self.token(fd)] != nil {
                _ = readAll(loop.sockets, fd, buffer, into: &received[i])
            }
            return zip(received, payloads).allSatisfy { $0.count >= $1.count }
        }
        XCTAssertTrue(done, "stalled at \(received.map(\.count)) bytes")
        // A few more rounds: a duplicated buffer would show up as extra bytes.
        for _ in 0..<3 {
            loop.iterate(timeoutMillis: 5)
            for (i, (fd, _)) in pairs.enumerated() { _ = readAll(loop.sockets, fd, buffer, into: &received[i]) }
        }
        for i in 0..<3 {
            XCTAssertTrue(received[i] == payloads[i], "socket \(i): \(received[i].count) bytes, or bytes differ")
        }
        XCTAssertEqual(loop.sockets.buffers.available, 4)
        for (fd, _) in pairs { loop.close(fd) }
    }

    /// A burst into a socket armed while empty (a fresh upstream answering a slow client): within
    /// one io_uring_enter the multishot recv keeps taking buffers before its pause lands. What
    /// comes past maxHeld moves to the socket's own memory at once, so two such sockets leave the
    /// loop's buffers to a third, and every byte still arrives in order.
    func testBurstsPastMaxHeldSpillSoOtherSocketsStillReceive() throws {
        let loop = try RingLoop(bufferCount: 64, bufferSize: 1024)
        let pairs = (0..<3).map { _ in makePair(.unix) }
        defer { for (_, peer) in pairs { Glibc.close(peer) } }
        for (fd, _) in pairs { loop.sockets.open(fd, token: token(fd)) }
        loop.iterate(timeoutMillis: 0)
        let bursts = (0..<2).map { pattern(100_000, seed: UInt32($0 + 7)) }
        for i in 0..<2 { XCTAssertEqual(peerWrite(pairs[i].1, bursts[i][...]), bursts[i].count) }
        var mostHeld = 0
        for _ in 0..<3 {
            loop.iterate(timeoutMillis: 5)
            mostHeld = max(mostHeld, loop.held)
        }
        XCTAssertLessThanOrEqual(mostHeld, 2 * RingSockets.maxHeld, "two unread sockets hold \(mostHeld) of 64 buffers")
        XCTAssertEqual(peerWrite(pairs[2].1, pattern(100)[...]), 100)
        var third: [UInt8] = []
        let buffer = ByteBuffer(capacity: 4096)
        XCTAssertTrue(loop.run(millis: 1000) { events in
            if events[self.token(pairs[2].0)] != nil { _ = readAll(loop.sockets, pairs[2].0, buffer, into: &third) }
            return third.count == 100
        }, "a third socket starved behind two unread ones")
        for i in 0..<2 {
            var got: [UInt8] = []
            XCTAssertTrue(loop.run { _ in
                _ = readAll(loop.sockets, pairs[i].0, buffer, into: &got)
                return got.count >= bursts[i].count
            }, "socket \(i) stalled at \(got.count) bytes")
            XCTAssertTrue(got == bursts[i], "socket \(i): bytes differ")
        }
        for (fd, _) in pairs { loop.close(fd) }
    }

    /// Bytes the ring already took from a pooled upstream socket are not in the socket any more:
    /// `isQuiet` must see them (and an EOF) where MSG_PEEK cannot.
    func testIsQuietSeesWhatTheRingTook() throws {
        let loop = try RingLoop(bufferCount: 16, bufferSize: 4096)
        let (fd, peer, _) = loop.openPair()
        loop.iterate(timeoutMillis: 0)
        XCTAssertTrue(loop.sockets.isQuiet(fd))
        XCTAssertEqual(peerWrite(peer, Array("HTTP/1.1 200 OK\r\n\r\n".utf8)[...]), 19)
        XCTAssertTrue(loop.run { $0[self.token(fd)] != nil })
        XCTAssertTrue(Socket.isQuiet(fd), "the bytes left the socket")
        XCTAssertFalse(loop.sockets.isQuiet(fd), "unsolicited bytes held by the ring")
        var got: [UInt8] = []
        _ = readAll(loop.sockets, fd, ByteBuffer(capacity: 64), into: &got)
        XCTAssertTrue(loop.sockets.isQuiet(fd))
        Glibc.close(peer)
        XCTAssertTrue(loop.run { $0[self.token(fd)] != nil })
        XCTAssertFalse(loop.sockets.isQuiet(fd), "EOF taken by the ring")
        loop.close(fd)
    }

    /// An io_uring_enter in the middle of an iteration (the SQ filled up in a handler) lets the
    /// kernel fill a buffer whose completion is not reaped yet. Releasing idle pages then would
    /// zero those bytes: the release waits for the next full reap.
    func testPagesAreReleasedOnlyAfterAFullReap() throws {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let loop = try RingLoop(bufferCount: 16, bufferSize: page)
        let (fd, peer, _) = loop.openPair()
        defer { Glibc.close(peer) }
        loop.iterate(timeoutMillis: 0)
        let payload = pattern(1000)
        XCTAssertEqual(peerWrite(peer, payload[...]), 1000)
        loop.ring.submit()
        loop.sockets.requestPageRelease()
        loop.sockets.reaped()
        var got: [UInt8] = []
        let buffer = ByteBuffer(capacity: 4096)
        XCTAssertTrue(loop.run { events in
            if events[self.token(fd)] != nil { _ = readAll(loop.sockets, fd, buffer, into: &got) }
            return got.count >= 1000
        })
        XCTAssertTrue(got == payload, "received bytes were zeroed")
        loop.close(fd)
    }

    /// A close that goes out early (the SQ filled up) frees its number for a new socket within the
    /// same iteration; the send queued for the old socket must not carry the new one's queue twice.
    func testAReusedDescriptorGetsItsQueueSentOnce() throws {
        let loop = try RingLoop(bufferCount: 16, bufferSize: 4096)
        let (a, aPeer) = makePair(.unix)
        loop.sockets.open(a, token: registration(a, generation: 1))
        loop.iterate(timeoutMillis: 0)
        let old = OutputQueue(ownedCapacity: 1024)
        old.appendOwned("OLD")
        _ = loop.sockets.send(a, old)
        loop.sockets.close(a)
        Glibc.close(aPeer)
        for _ in 0..<(loop.ring.submissionEntries + 1) { loop.ring.nop(token: .housekeeping) }
        let (b, bPeer) = makePair(.unix)
        defer { Glibc.close(bPeer) }
        guard b == a else { throw XCTSkip("descriptor not reused (\(a) -> \(b))") }
        loop.sockets.open(b, token: registration(b, generation: 2))
        let fresh = OutputQueue(ownedCapacity: 1024)
        fresh.appendOwned("NEW")
        _ = loop.sockets.send(b, fresh)
        for _ in 0..<4 { loop.iterate(timeoutMillis: 5) }
        var sink = [UInt8](repeating: 0, count: 100)
        let n = recv(bPeer, &sink, 100, Int32(MSG_DONTWAIT))
        XCTAssertEqual(String(decoding: sink[..<max(0, n)], as: UTF8.self), "NEW")
        loop.sockets.close(b)
        loop.iterate(timeoutMillis: 0)
    }

    // MARK: Sending

    /// 1 MiB in 256 segments, owned heads between borrowed 8 KiB slices, to a peer that does not
    /// read: the socket fills, the send waits for room without retrying (no EPOLLOUT, no send),
    /// then, as the peer drains, repeated flushes finish with every byte in order.
    func testALargeSendToASlowPeerBlocksThenDrainsInOrder() throws {
        for kind in [PairKind.unix, .tcp] {
            let loop = try RingLoop(bufferCount: 16, bufferSize: 4096)
            let (fd, peer, t) = loop.openPair(kind)
            defer { Glibc.close(peer) }
            let body = pattern(1 << 20, seed: 9)
            let (queue, expected) = body.withUnsafeBytes { bytes in
                var expected: [UInt8] = []
                let queue = OutputQueue(ownedCapacity: 4096)
                for i in 0..<128 {
                    let head = Array("segment \(i)\r\n".utf8)
                    queue.appendOwned(head)
                    queue.appendBorrowed(bytes.baseAddress! + i * 8192, count: 8192)
                    expected += head + body[i * 8192..<(i + 1) * 8192]
                }
                return (queue, expected)
            }
            // `body` outlives every send: the queue borrows from it.
            withExtendedLifetime(body) {
                XCTAssertEqual(loop.sockets.send(fd, queue), .blocked(progressed: false), "\(kind): nothing went out yet")
                XCTAssertTrue(loop.flushUntilFull(fd, token: t, queue), "\(kind): the socket never filled")
                let sentWhileFull = queue.totalWritten
                XCTAssertGreaterThan(sentWhileFull, 0)
                XCTAssertLessThan(sentWhileFull, UInt64(expected.count))

                // Full: a flush changes nothing, nothing retries, no EPOLLOUT until there is room.
                XCTAssertEqual(loop.sockets.send(fd, queue), .blocked(progressed: false), "\(kind)")
                var sends = 0
                for _ in 0..<5 {
                    XCTAssertNil(loop.iterate(timeoutMillis: 10) { c in if c.operation == .send { sends += 1 } }[t], "\(kind)")
                }
                XCTAssertEqual(sends, 0, "\(kind): a full socket was retried")
                XCTAssertEqual(queue.totalWritten, sentWhileFull)

                // The peer drains as it goes; the handler flushes on each EPOLLOUT.
                var got: [UInt8] = []
                var progressed = 0
                var result = FlushResult.blocked(progressed: false)
                XCTAssertTrue(loop.run { events in
                    peerRead(peer, into: &got)
                    if events[t].map({ $0 & CSYS_EPOLLOUT != 0 }) == true {
                        result = loop.sockets.send(fd, queue)
                        if result == .blocked(progressed: true) { progressed += 1 }
                    }
                    if case .failed = result { return true }
                    return result == .drained
                }, "\(kind): stuck at \(queue.totalWritten) of \(expected.count) bytes")
                XCTAssertEqual(result, .drained, "\(kind)")
                XCTAssertGreaterThan(progressed, 0, "\(kind)")
                XCTAssertTrue(queue.isEmpty)
                XCTAssertEqual(queue.totalWritten, UInt64(expected.count))
                let deadline = Clock.monotonicMillis() + 2000
                while got.count < expected.count && Clock.monotonicMillis() < deadline { peerRead(peer, into: &got) }
                XCTAssertTrue(got == expected, "\(kind): the peer got \(got.count) of \(expected.count) bytes, or they differ")
            }
            loop.close(fd)
        }
    }

    /// A peer that went away: flushing reports the failure (EPIPE or ECONNRESET), whether the
    /// send was waiting for room at the time or came after.
    func testSendingToAPeerThatClosedFails() throws {
        for kind in [PairKind.unix, .tcp] {
            for blockedFirst in [false, true] {
                let loop = try RingLoop(bufferCount: 16, bufferSize: 4096)
                let (fd, peer, t) = loop.openPair(kind)
                let queue = OutputQueue(ownedCapacity: 4096)
                let chunk = pattern(64 << 10)
                let label = "\(kind), \(blockedFirst ? "blocked" : "idle") when the peer closed"
                if blockedFirst {
                    // Fill the socket: the send then waits for room (a poll) when the peer goes.
                    queue.appendOwned(chunk)
                    _ = loop.sockets.send(fd, queue)
                    XCTAssertTrue(loop.flushUntilFull(fd, token: t, queue) { queue.appendOwned(chunk) }, "\(label): the socket never filled")
                } else {
                    // Something to say once the peer has gone.
                    queue.appendOwned(chunk)
                    _ = loop.sockets.send(fd, queue)
                }
                Glibc.close(peer)
                var result = FlushResult.blocked(progressed: false)
                var hangup = false
                // On each EPOLLOUT the handler flushes, with more to say whenever all went out.
                XCTAssertTrue(loop.run { events in
                    guard let flags = events[t], flags & CSYS_EPOLLOUT != 0 else { return false }
                    if flags & (CSYS_EPOLLERR | CSYS_EPOLLHUP) != 0 { hangup = true }
                    result = loop.sockets.send(fd, queue)
                    if result == .drained {
                        queue.appendOwned(chunk)
                        result = loop.sockets.send(fd, queue)
                    }
                    if case .failed = result { return true }
                    return false
                }, "\(label): no failure reported, last \(result)")
                if case .failed(let error) = result {
                    XCTAssertTrue(error == EPIPE || error == ECONNRESET, "\(label): errno \(error)")
                }
                if blockedFirst { XCTAssertTrue(hangup, "\(label): the wait for room ended with HUP or ERR") }
                loop.close(fd)
            }
        }
    }

    // MARK: Closing

    /// Bytes nobody read go back to the pool with the socket, and the socket really closes (the
    /// pending multishot recv no longer holds it): the peer sees EOF.
    func testClosingWithUnreadBuffersRecyclesThemAndThePeerSeesEOF() throws {
        let loop = try RingLoop(bufferCount: 16, bufferSize: 1024)
        let (fd, peer, t) = loop.openPair()
        defer { Glibc.close(peer) }
        XCTAssertEqual(peerWrite(peer, pattern(3000)[...]), 3000)
        XCTAssertTrue(loop.run { _ in loop.held == 3 }, "3000 bytes fill three 1 KiB buffers")
        XCTAssertTrue(loop.sockets.owns(fd, token: t))
        loop.sockets.close(fd)
        XCTAssertFalse(loop.sockets.owns(fd, token: t))
        XCTAssertEqual(loop.sockets.buffers.available, 16, "unread buffers recycled at close")
        var events: [UInt64: UInt32] = [:]
        for _ in 0..<3 { events.merge(loop.iterate(timeoutMillis: 5)) { $0 | $1 } }
        XCTAssertTrue(events.isEmpty, "a closed socket reported \(events)")
        XCTAssertEqual(loop.sockets.buffers.available, 16)
        XCTAssertEqual(peerHangup(peer), 0, "EOF: the socket closed, with nothing unread")
    }

    /// Completions that arrive for a socket after it was closed are ignored, and a buffer they
    /// carry goes back to the pool: here the socket is closed by a handler in the middle of the
    /// batch that brings its bytes, then with bytes in flight when the close is submitted.
    func testCompletionsForAClosedSocketHandTheirBuffersBack() throws {
        for closeMidBatch in [true, false] {
            let loop = try RingLoop(bufferCount: 16, bufferSize: 1024)
            let (fd, peer, _) = loop.openPair()
            defer { Glibc.close(peer) }
            loop.iterate(timeoutMillis: 0)  // the recv is armed
            XCTAssertEqual(peerWrite(peer, pattern(5000)[...]), 5000)
            var closed = false
            var stale = 0, staleWithBuffers = 0
            if !closeMidBatch {
                loop.sockets.close(fd)
                closed = true
            }
            var events: [UInt64: UInt32] = [:]
            for _ in 0..<3 {
                events.merge(loop.iterate(timeoutMillis: 5) { c in
                    guard c.fd == fd else { return }
                    if !closed && c.bufferID != nil {
                        loop.sockets.close(fd)
                        closed = true
                    }
                    if closed {
                        stale += 1
                        if c.bufferID != nil { staleWithBuffers += 1 }
                    }
                }) { $0 | $1 }
            }
            let label = closeMidBatch ? "closed mid-batch" : "closed with bytes in flight"
            XCTAssertTrue(closed)
            if closeMidBatch { XCTAssertGreaterThan(staleWithBuffers, 0, label) }
            XCTAssertTrue(events.isEmpty, "\(label): a closed socket reported \(events)")
            XCTAssertEqual(loop.sockets.buffers.available, 16, "\(label): every buffer back (\(stale) stale completions)")
            // Bytes left unread in the socket turn the FIN into a reset.
            let hangup = peerHangup(peer)
            XCTAssertTrue(hangup == 0 || (!closeMidBatch && hangup == ECONNRESET), "\(label): the socket stayed open (\(String(describing: hangup)))")
        }
    }

    // MARK: Memory

    /// Idle buffers' pages go back to the system (they read as zeros afterwards) while a held
    /// buffer keeps its bytes; receiving into released pages works as before.
    func testReleasingIdleBufferPagesKeepsHeldBytesAndReceiving() throws {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let loop = try RingLoop(bufferCount: 8, bufferSize: page)
        let buffers = loop.sockets.buffers
        let (fd, peer, t) = loop.openPair()
        defer { Glibc.close(peer) }
        let first = pattern(2 * page + 100, seed: 5)
        XCTAssertEqual(peerWrite(peer, first[...]), first.count)
        XCTAssertTrue(loop.run { _ in loop.held == 3 })

        // Three held, five idle: only the idle ones' pages go.
        XCTAssertEqual(buffers.releaseIdlePages(), 5 * page)
        var received: [UInt8] = []
        let buffer = ByteBuffer(capacity: 10 << 10)
        XCTAssertEqual(readAll(loop.sockets, fd, buffer, into: &received), .wouldBlock)
        XCTAssertTrue(received == first, "a held buffer lost its bytes")

        // All idle now, the three just read included: their pages go too.
        let used = (0..<8).filter { id in buffers.bytes(UInt16(id), count: page).contains { $0 != 0 } }
        XCTAssertEqual(used.count, 3, "three buffers were written")
        loop.sockets.requestPageRelease()
        loop.sockets.reaped()
        XCTAssertTrue(used.allSatisfy { id in buffers.bytes(UInt16(id), count: page).allSatisfy { $0 == 0 } }, "pages kept")
        XCTAssertEqual(buffers.releaseIdlePages(), 8 * page)

        let second = pattern(5 * page, seed: 6)
        XCTAssertEqual(peerWrite(peer, second[...]), second.count)
        received.removeAll()
        XCTAssertTrue(loop.run { events in
            if events[t] != nil { _ = readAll(loop.sockets, fd, buffer, into: &received) }
            return received.count >= second.count
        }, "stalled at \(received.count) bytes")
        XCTAssertTrue(received == second, "bytes differ")
        loop.close(fd)
    }

    // MARK: Helpers

    private func token(_ fd: Int32, generation: UInt64 = 1) -> UInt64 {
        registration(fd, generation: generation)
    }
}

/// A loop registration token: generation in bits 32-55, the descriptor below.
private func registration(_ fd: Int32, generation: UInt64 = 1) -> UInt64 {
    generation << 32 | UInt64(UInt32(bitPattern: fd))
}

// MARK: - The loop

/// One ring and its RingSockets on the test's thread, iterated as the Poller's io_uring wait does.
private final class RingLoop {
    let ring: URing
    let sockets: RingSockets

    init(bufferCount: Int, bufferSize: Int) throws {
        ring = try URing(entries: 256, completionEntries: 4096)
        // RingSockets' memory rules need the kernel to work only inside this thread's enter.
        guard ring.capabilities.setupFlags.contains(.deferTaskrun) else { throw XCTSkip("no DEFER_TASKRUN") }
        do {
            sockets = try RingSockets(ring: ring, bufferCount: bufferCount, bufferSize: bufferSize)
        } catch {
            throw XCTSkip("no provided-buffer rings: \(error)")
        }
    }

    /// A connected pair whose first end joins the ring under `registration(fd)`.
    func openPair(_ kind: PairKind = .unix) -> (fd: Int32, peer: Int32, token: UInt64) {
        let (fd, peer) = makePair(kind)
        let token = registration(fd)
        sockets.open(fd, token: token)
        return (fd, peer, token)
    }

    /// Buffers the sockets hold (received, not yet read).
    var held: Int { sockets.buffers.count - sockets.buffers.available }

    /// One iteration; returns the events per registration. `observe` sees each completion before
    /// RingSockets does.
    @discardableResult
    func iterate(timeoutMillis: Int32 = 10, observe: (URingCompletion) -> Void = { _ in }) -> [UInt64: UInt32] {
        var events: [UInt64: UInt32] = [:]
        sockets.prepare()
        ring.submitAndWait(timeoutMillis: timeoutMillis) { c in
            if c.token.rawValue == 0 { return }  // housekeeping: cancels, closes
            observe(c)
            let (token, flags) = sockets.complete(c)
            if flags != 0 { events[token, default: 0] |= flags }
        }
        sockets.reaped()
        return events
    }

    /// Iterates, handing each iteration's events to `step`, until it returns true; false after
    /// `millis`.
    func run(millis: UInt64 = 2000, _ step: ([UInt64: UInt32]) -> Bool,
             observe: (URingCompletion) -> Void = { _ in }) -> Bool {
        let deadline = Clock.monotonicMillis() + millis
        while Clock.monotonicMillis() < deadline {
            if step(iterate(observe: observe)) { return true }
        }
        return false
    }

    /// Flushes `queue` on every EPOLLOUT, as a handler does (`refill` when all went out), until a
    /// send finds the socket full and no room comes back for 50 ms. False if it never fills.
    func flushUntilFull(_ fd: Int32, token: UInt64, _ queue: OutputQueue, refill: () -> Void = {}) -> Bool {
        var full = false
        var quietSince = UInt64.max
        return run { events in
            if let flags = events[token], flags & CSYS_EPOLLOUT != 0 {
                if queue.isEmpty { refill() }
                _ = sockets.send(fd, queue)
                quietSince = .max
                return false
            }
            guard full else { return false }
            quietSince = min(quietSince, Clock.monotonicMillis())
            return Clock.monotonicMillis() - quietSince >= 50
        } observe: { c in
            if c.operation == .send { full = c.result == -EAGAIN }
        }
    }

    /// Closes through the ring, as the Poller's `remove` does, and submits it.
    func close(_ fd: Int32) {
        sockets.close(fd)
        iterate(timeoutMillis: 0)
    }
}

// MARK: - Peers and bytes

private enum PairKind: CustomStringConvertible {
    case unix, tcp
    var description: String { self == .unix ? "AF_UNIX" : "TCP" }
}

/// A connected non-blocking pair: `ring` goes to RingSockets, `peer` stays with the test. TCP's
/// buffers are kept small so that large sends block as they would on a slow client.
private func makePair(_ kind: PairKind) -> (ring: Int32, peer: Int32) {
    let nonBlocking = Int32(SOCK_NONBLOCK.rawValue)
    switch kind {
    case .unix:
        var fds: [Int32] = [0, 0]
        precondition(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | nonBlocking, 0, &fds) == 0)
        return (fds[0], fds[1])
    case .tcp:
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        for fd in [listener, client] {
            var size: Int32 = 64 << 10
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { a in
                precondition(bind(listener, a, length) == 0 && listen(listener, 1) == 0)
                precondition(getsockname(listener, a, &length) == 0)
                precondition(connect(client, a, length) == 0)
            }
        }
        let accepted = accept(listener, nil, nil)
        precondition(accepted >= 0)
        Glibc.close(listener)
        for fd in [accepted, client] { precondition(fcntl(fd, F_SETFL, O_NONBLOCK) == 0) }
        return (accepted, client)
    }
}

/// Bytes no two offsets a buffer length apart share by accident.
private func pattern(_ count: Int, seed: UInt32 = 0) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: (UInt32(truncatingIfNeeded: $0) &* 2_654_435_761 ^ seed) >> 13) }
}

/// What the peer's socket takes of `bytes` (0 when full).
private func peerWrite(_ fd: Int32, _ bytes: ArraySlice<UInt8>) -> Int {
    if bytes.isEmpty { return 0 }
    return max(0, bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) })
}

/// Everything waiting for the peer; false once it saw EOF.
@discardableResult
private func peerRead(_ fd: Int32, into sink: inout [UInt8]) -> Bool {
    var scratch = [UInt8](repeating: 0, count: 64 << 10)
    while true {
        let n = recv(fd, &scratch, scratch.count, Int32(MSG_DONTWAIT))
        if n > 0 { sink.append(contentsOf: scratch[..<n]); continue }
        return n < 0
    }
}

/// How the peer's next read ends within `millis`: 0 for EOF, an errno for a reset, nil while
/// the socket is silent (still open).
private func peerHangup(_ fd: Int32, millis: Int32 = 1000) -> Int32? {
    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    guard poll(&p, 1, millis) == 1 else { return nil }
    var byte: UInt8 = 0
    return recv(fd, &byte, 1, Int32(MSG_DONTWAIT)) == 0 ? 0 : errno
}

/// Bytes received by the kernel for `fd` and not yet taken by any recv.
private func bytesWaiting(_ fd: Int32) -> Int {
    var n: Int32 = 0
    return ioctl(fd, UInt(FIONREAD), &n) == 0 ? Int(n) : -1
}

/// Reads as a handler that consumes its input does: until .wouldBlock or .eof, through `buffer`
/// (emptied after each copy). Returns the last result.
private func readAll(_ sockets: RingSockets, _ fd: Int32, _ buffer: ByteBuffer, into sink: inout [UInt8]) -> ReadResult {
    while true {
        let result = sockets.read(fd, into: buffer)
        guard case .bytes = result else { return result }
        sink.append(contentsOf: buffer.readableBytes)
        buffer.clear()
    }
}
