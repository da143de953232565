import Glibc
import XCTest
@testable import GatewayCore

/// The output queue on its own: owned and borrowed segments in order, adjacent owned bytes
/// merged, partial writes, growth past its first storage, and reset.
final class HTTPOutputQueueTests: XCTestCase {
    /// Gathers everything pending and takes `written` bytes of it (all of it by default).
    func drain(_ queue: OutputQueue, taking written: Int? = nil) -> [UInt8] {
        var iov = [iovec](repeating: iovec(), count: OutputQueue.maxSegments)
        let n = queue.gather(into: &iov, capacity: iov.count)
        var bytes: [UInt8] = []
        for v in iov[..<n] { bytes += UnsafeRawBufferPointer(start: v.iov_base, count: v.iov_len) }
        let taken = min(written ?? bytes.count, bytes.count)
        queue.consume(taken)
        return Array(bytes[..<taken])
    }

    func segments(_ queue: OutputQueue) -> Int {
        var iov = [iovec](repeating: iovec(), count: OutputQueue.maxSegments)
        return queue.gather(into: &iov, capacity: iov.count)
    }

    func testOwnedAndBorrowedBytesLeaveInOrder() {
        let queue = OutputQueue(ownedCapacity: 16)
        let body = bytes("-body-")
        body.withUnsafeBytes { borrowed in
            queue.appendOwned("HTTP/1.1 200 OK\r\n")
            queue.appendOwned("\r\n")
            XCTAssertEqual(segments(queue), 1, "adjacent owned bytes are one segment")
            queue.appendBorrowed(borrowed.baseAddress!, count: borrowed.count)
            queue.appendBorrowed(borrowed.baseAddress!, count: 0)
            queue.appendOwned("0\r\n\r\n")
            XCTAssertEqual(segments(queue), 3)
            XCTAssertTrue(queue.hasBorrowed)
            XCTAssertEqual(text(drain(queue, taking: 20)), "HTTP/1.1 200 OK\r\n\r\n-")
            XCTAssertTrue(queue.hasBorrowed, "part of the borrowed segment is still queued")
            XCTAssertEqual(text(drain(queue, taking: 5)), "body-")
            XCTAssertFalse(queue.hasBorrowed)
            XCTAssertFalse(queue.isEmpty)
            XCTAssertEqual(text(drain(queue)), "0\r\n\r\n")
        }
        XCTAssertTrue(queue.isEmpty)
        XCTAssertEqual(queue.totalWritten, 30)
        XCTAssertEqual(queue.ownedBuffer.readableCount, 0, "a drained queue starts its storage over")
    }

    func testManySegmentsGrowTheQueue() {
        let queue = OutputQueue(ownedCapacity: 16)
        let piece = bytes("ab")
        var expected: [UInt8] = []
        piece.withUnsafeBytes { borrowed in
            for i in 0..<50 {
                if i % 2 == 0 {
                    queue.appendBorrowed(borrowed.baseAddress!, count: 2)
                    expected += piece
                } else {
                    queue.appendOwned([UInt8(truncatingIfNeeded: i)])
                    expected.append(UInt8(truncatingIfNeeded: i))
                }
            }
            XCTAssertEqual(segments(queue), 50)
            XCTAssertFalse(queue.isCrowded)
            for _ in 0..<10 { queue.appendBorrowed(borrowed.baseAddress!, count: 2) }
            expected += Array(repeating: piece, count: 10).joined()
            XCTAssertTrue(queue.isCrowded)
            var out: [UInt8] = []
            while !queue.isEmpty { out += drain(queue, taking: 7) }
            XCTAssertEqual(out, expected)
        }
    }

    /// A parked connection's queue holds no storage at all, and works again when lent some.
    func testDetachedQueueHoldsNothingAndWorksAgainOnceAttached() {
        let queue = OutputQueue()
        queue.attachStorage(ByteBuffer(capacity: 16))
        queue.appendOwned("HTTP/1.1 200 OK\r\n")
        XCTAssertGreaterThan(queue.segmentRoom, 0)
        XCTAssertEqual(text(drain(queue)), "HTTP/1.1 200 OK\r\n")
        queue.detachStorage()
        XCTAssertEqual(queue.segmentRoom, 0, "the segment array goes back with the storage")
        queue.attachStorage(ByteBuffer(capacity: 16))
        queue.appendOwned("HTTP/1.1 204 No Content\r\n")
        XCTAssertEqual(text(drain(queue)), "HTTP/1.1 204 No Content\r\n")
    }

    func testResetDropsEverything() {
        let queue = OutputQueue(ownedCapacity: 16)
        queue.appendOwned("pending")
        bytes("x").withUnsafeBytes { queue.appendBorrowed($0.baseAddress!, count: 1) }
        queue.reset()
        XCTAssertTrue(queue.isEmpty)
        XCTAssertFalse(queue.hasBorrowed)
        queue.appendOwned("next")
        XCTAssertEqual(text(drain(queue)), "next")
    }
}
