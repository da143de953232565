import CSystem
import GatewayCore
import Glibc

/// Plain TCP sockets whose bytes move through the loop's io_uring (`io_engine io_uring`, on
/// kernels with DEFER_TASKRUN and provided-buffer rings). Each socket has a multishot recv into
/// the loop's provided buffers, so a waiting connection holds no receive buffer and a read is a
/// copy out of memory the kernel already filled, with no syscall. Sends are gathered from the
/// socket's OutputQueue and go out with the loop's one io_uring_enter per iteration. Handlers
/// still hear epoll-style events (EPOLLIN when bytes or EOF came, EPOLLOUT when a send
/// completed) and call `PlainTransport`'s read and flush, which land here.
///
/// Memory rules. A received buffer is the socket's until its reader copies the bytes out; past
/// `maxHeld` unread buffers its recv is cancelled, and once it reads it receives one buffer at a
/// time until its socket is empty, so one slow reader cannot drain the loop's buffers (a burst
/// within one io_uring_enter can still take a few dozen before the cancel lands). Sends use MSG_DONTWAIT: each completes (whole, short, or
/// -EAGAIN, then a one-shot poll waits for room) inside the io_uring_enter that submits it, so
/// after that call the kernel holds no pointer into any queue, exactly as after a writev, and a
/// queue may grow, move or be reset as the machine likes. Sockets close through the ring after
/// their pending requests are cancelled, so a descriptor number is not reused under them.
final class RingSockets {
    private struct Received {
        var id: UInt16
        var offset: Int
        var length: Int
    }

    /// Unread buffers, oldest first. The first is kept inline, so a socket holding one (the usual
    /// case) or none owns no heap storage: 10,000 idle connections cost nothing here.
    private struct ReceivedQueue {
        private(set) var first: Received?
        private var rest: [Received] = []

        var count: Int { first == nil ? 0 : 1 + rest.count }
        var isEmpty: Bool { first == nil }

        mutating func append(_ r: Received) {
            if first == nil { first = r } else { rest.append(r) }
        }

        mutating func removeFirst() {
            if rest.isEmpty {
                first = nil
                return
            }
            first = rest.removeFirst()
            if rest.isEmpty { rest = [] }
        }

        /// The reader took `n` bytes of the first buffer, not all of them.
        mutating func consumeFirst(_ n: Int) {
            first!.offset += n
            first!.length -= n
        }

        var all: [Received] { first.map { [$0] + rest } ?? [] }
    }

    private struct Channel {
        /// The loop's registration token; 0: not a ring socket.
        var token: UInt64 = 0
        /// Bytes received and not read yet, oldest first.
        var received = ReceivedQueue()
        /// 0 while open; -1 after EOF; an errno after a failure.
        var end: Int32 = 0
        var receiving = false
        /// A cancel for the recv is on its way (the socket holds `maxHeld` unread buffers).
        var pausing = false
        var armQueued = false
        /// Out of buffers: waiting in `starved` for a free one.
        var parked = false
        /// Bytes may be waiting beyond what the socket may hold (it was paused or starved): receive
        /// one buffer at a time until a receive finds the socket empty. A multishot recv armed on
        /// a full socket would take every free buffer within one io_uring_enter.
        var oneAtATime = false
        /// Bytes received past `maxHeld` buffers (a burst within one io_uring_enter, before the
        /// pause lands), moved to the connection's own memory so the loop's buffers stay free.
        /// They come after every buffer in `received`; while there are any, nothing is armed.
        var spill: ByteBuffer?
        /// The queue a send is prepared from at the next submission.
        var queue: OutputQueue?
        /// Prepared, its completion not seen yet.
        var sending = false
        /// A one-shot poll waits for room after a send found the socket full.
        var waitingForRoom = false
        /// Bytes left since the last flush asked.
        var progressed = false
        var sendError: Int32 = 0
    }

    /// Unread buffers a socket may hold before its recv pauses (4 × 32 KiB: what a client's socket
    /// buffer would hold anyway before TCP pushes back).
    static let maxHeld = 4
    static let bufferCount = 512
    static let bufferSize = 32 << 10
    /// The top byte of a user_data says which of a socket's requests completed.
    static let registrationMask: UInt64 = 0x00FF_FFFF_FFFF_FFFF
    private static let writable = URingOperation(rawValue: 9)

    private let ring: URing
    let buffers: ProvidedBuffers
    private var channels: [Channel] = []
    /// Sockets whose receive ran out of buffers, oldest first.
    private var starved: [Int32] = []
    /// Sockets to arm or send for at the next submission, with their registration: a number
    /// closed and reused meanwhile (the close can go out early when the SQ fills) is skipped.
    private var toArm: [(fd: Int32, token: UInt64)] = []
    private var toSend: [(fd: Int32, token: UInt64)] = []
    /// The trimmer asked to release idle buffer pages; done right after a full reap (`reaped`).
    private var pageReleaseRequested = false
    /// msghdrs and iovecs of the sends prepared for one submission (the kernel copies both then).
    private let messages: UnsafeMutablePointer<msghdr>
    private let iovecs: UnsafeMutablePointer<iovec>
    private static let messageCapacity = 256
    private static let iovecCapacity = 4096

    /// Fails where the kernel has no provided-buffer rings (before 5.19).
    init(ring: URing, bufferCount: Int = RingSockets.bufferCount, bufferSize: Int = RingSockets.bufferSize) throws(SystemError) {
        self.ring = ring
        buffers = try ProvidedBuffers(ring: ring, group: 0, count: bufferCount, bufferSize: bufferSize)
        messages = .allocate(capacity: Self.messageCapacity)
        iovecs = .allocate(capacity: Self.iovecCapacity)
    }

    deinit {
        messages.deallocate()
        iovecs.deallocate()
    }

    // MARK: Sockets coming and going

    func open(_ fd: Int32, token: UInt64) {
        let index = Int(fd)
        if index >= channels.count {
            channels.append(contentsOf: repeatElement(Channel(), count: max(index + 1, channels.count * 2, 64) - channels.count))
        }
        channels[index] = Channel(token: token)
        queueArm(fd)
    }

    func owns(_ fd: Int32, token: UInt64) -> Bool {
        Int(fd) < channels.count && channels[Int(fd)].token == token
    }

    /// Cancels what is pending on `fd` and closes it, both through the ring.
    func close(_ fd: Int32) {
        let index = Int(fd)
        for r in channels[index].received.all { buffers.recycle(r.id) }
        if channels[index].parked { starved.removeAll { $0 == fd } }
        channels[index] = Channel()
        ring.close(fd, token: .housekeeping, cancelPending: true)
    }

    // MARK: What PlainTransport calls

    /// Copies received bytes into the free tail of `buffer`.
    func read(_ fd: Int32, into buffer: ByteBuffer) -> ReadResult {
        let index = Int(fd)
        var total = 0
        while buffer.writableCount > 0, let first = channels[index].received.first {
            let n = min(first.length, buffer.writableCount)
            buffer.append(buffers.bytes(first.id, count: first.offset + n).baseAddress! + first.offset, count: n)
            total += n
            if n == first.length {
                buffers.recycle(first.id)
                channels[index].received.removeFirst()
            } else {
                channels[index].received.consumeFirst(n)
            }
        }
        if buffer.writableCount > 0, channels[index].received.isEmpty, let spill = channels[index].spill {
            let n = min(spill.readableCount, buffer.writableCount)
            buffer.append(spill.readPointer, count: n)
            spill.readIndex += n
            total += n
            if spill.readableCount == 0 { channels[index].spill = nil }
        }
        if mayArm(index) { queueArm(fd) }
        if total > 0 { return .bytes(total) }
        return channels[index].end != 0 && isDrained(index) ? .eof : .wouldBlock
    }

    private func isDrained(_ index: Int) -> Bool {
        channels[index].received.isEmpty && channels[index].spill == nil
    }

    /// Nothing received and unread, no EOF or error seen: what `Socket.isQuiet` checks in the
    /// socket, this checks in what the ring already took from it.
    func isQuiet(_ fd: Int32) -> Bool {
        let index = Int(fd)
        return index < channels.count && isDrained(index) && channels[index].end == 0
    }

    /// Open, not receiving and not about to, and with room for more unread buffers. (Fields one by
    /// one: copying a Channel would retain its array and queue.)
    private func mayArm(_ index: Int) -> Bool {
        channels[index].token != 0 && !channels[index].receiving && !channels[index].armQueued && !channels[index].parked
            && channels[index].end == 0 && channels[index].received.count < Self.maxHeld && channels[index].spill == nil
    }

    /// Sends `queue` at the next submission; `.blocked` until its completion reports EPOLLOUT.
    func send(_ fd: Int32, _ queue: OutputQueue) -> FlushResult {
        let index = Int(fd)
        let error = channels[index].sendError
        if error != 0 {
            channels[index].sendError = 0
            return .failed(error)
        }
        if queue.isEmpty { return .drained }
        let progressed = channels[index].progressed
        channels[index].progressed = false
        if channels[index].queue == nil && !channels[index].waitingForRoom {
            channels[index].queue = queue
            toSend.append((fd, channels[index].token))
        }
        return .blocked(progressed: progressed)
    }

    // MARK: The loop's iteration

    /// Before the iteration's io_uring_enter: arms the receives and prepares the sends asked for.
    func prepare() {
        // One starved socket per free buffer, each taking one (`oneAtATime`).
        let unparked = min(starved.count, buffers.available)
        for fd in starved.prefix(unparked) {
            channels[Int(fd)].parked = false
            if mayArm(Int(fd)) { arm(fd) }
        }
        starved.removeFirst(unparked)
        for (fd, token) in toArm where channels[Int(fd)].token == token {
            channels[Int(fd)].armQueued = false
            if mayArm(Int(fd)) { arm(fd) }
        }
        toArm.removeAll(keepingCapacity: true)
        var message = 0
        var iovec = 0
        for (fd, token) in toSend {
            guard channels[Int(fd)].token == token, !channels[Int(fd)].sending, let queue = channels[Int(fd)].queue else { continue }
            if message == Self.messageCapacity || iovec + OutputQueue.maxSegments > Self.iovecCapacity {
                // The kernel copied the prepared ones when they were submitted: the scratch is free again.
                ring.submit()
                message = 0
                iovec = 0
            }
            let n = queue.gather(into: iovecs + iovec, capacity: OutputQueue.maxSegments)
            messages[message] = msghdr()
            messages[message].msg_iov = iovecs + iovec
            messages[message].msg_iovlen = n
            ring.sendMessageNow(fd, messages + message, token: Self.token(token, .send))
            channels[Int(fd)].sending = true
            message += 1
            iovec += n
        }
        toSend.removeAll(keepingCapacity: true)
    }

    /// A completion for one of these sockets; returns the events its handler should hear (0: none)
    /// and the registration they are for.
    func complete(_ completion: URingCompletion) -> (token: UInt64, flags: UInt32) {
        let token = completion.token.rawValue & Self.registrationMask
        let index = Int(completion.fd)
        guard index < channels.count, channels[index].token == token, token != 0 else {
            // For a socket closed since: only a buffer it carries needs handing back.
            if completion.operation == .receive, let id = completion.bufferID {
                _ = buffers.take(completion)
                buffers.recycle(id)
            }
            return (token, 0)
        }
        switch completion.operation {
        case .receive: return (token, received(completion, index))
        case .send: return (token, sent(completion, index))
        default:
            // Room after a full socket (or its failure, which the next send reports).
            channels[index].waitingForRoom = false
            return (token, CSYS_EPOLLOUT | UInt32(bitPattern: max(0, completion.result)) & (CSYS_EPOLLERR | CSYS_EPOLLHUP))
        }
    }

    private func received(_ completion: URingCompletion, _ index: Int) -> UInt32 {
        let fd = Int32(index)
        if !completion.more {
            channels[index].receiving = false
            channels[index].pausing = false
        }
        if completion.result > 0, let bytes = buffers.take(completion) {
            let id = completion.bufferID!
            if channels[index].spill != nil || channels[index].received.count >= Self.maxHeld {
                let spill = channels[index].spill ?? ByteBuffer(capacity: bytes.count)
                spill.append(UnsafeRawPointer(bytes.baseAddress!), count: bytes.count)
                channels[index].spill = spill
                buffers.recycle(id)
            } else {
                channels[index].received.append(Received(id: id, offset: 0, length: bytes.count))
            }
            if !completion.socketNonEmpty { channels[index].oneAtATime = false }
            if completion.more {
                if channels[index].received.count >= Self.maxHeld && !channels[index].pausing {
                    ring.cancel(Self.token(channels[index].token, .receive))
                    channels[index].pausing = true
                    channels[index].oneAtATime = true
                }
            } else if mayArm(index) {
                queueArm(fd)
            }
            return CSYS_EPOLLIN
        }
        switch completion.result {
        case 0:
            channels[index].end = -1
            return CSYS_EPOLLIN | CSYS_EPOLLRDHUP
        case -ENOBUFS:
            channels[index].parked = true
            channels[index].oneAtATime = true
            starved.append(fd)
            return 0
        case -ECANCELED:
            // Paused: `read` re-arms once the socket holds fewer buffers.
            if mayArm(index) { queueArm(fd) }
            return 0
        default:
            channels[index].end = -completion.result
            return CSYS_EPOLLIN | CSYS_EPOLLRDHUP | CSYS_EPOLLERR | CSYS_EPOLLHUP
        }
    }

    private func sent(_ completion: URingCompletion, _ index: Int) -> UInt32 {
        guard let queue = channels[index].queue else { return 0 }
        channels[index].queue = nil
        channels[index].sending = false
        if completion.result > 0 {
            queue.consume(Int(completion.result))
            channels[index].progressed = true
            return CSYS_EPOLLOUT
        }
        if completion.result == -EAGAIN {
            channels[index].waitingForRoom = true
            ring.pollOnce(Int32(index), mask: CSYS_EPOLLOUT, token: Self.token(channels[index].token, Self.writable))
            return 0
        }
        channels[index].sendError = completion.result < 0 ? -completion.result : EPIPE
        return CSYS_EPOLLOUT
    }

    private func arm(_ fd: Int32) {
        let token = Self.token(channels[Int(fd)].token, .receive)
        if channels[Int(fd)].oneAtATime {
            ring.receiveOnce(fd, buffers: buffers, token: token)
        } else {
            ring.receiveMultishot(fd, buffers: buffers, token: token)
        }
        channels[Int(fd)].receiving = true
    }

    private func queueArm(_ fd: Int32) {
        if channels[Int(fd)].armQueued { return }
        channels[Int(fd)].armQueued = true
        toArm.append((fd, channels[Int(fd)].token))
    }

    private static func token(_ registration: UInt64, _ operation: URingOperation) -> URingToken {
        URingToken(rawValue: registration | UInt64(operation.rawValue) << 56)
    }

    /// Asks for the pages of the buffers nobody holds to go back to the system, at the next full
    /// reap: a buffer the kernel filled whose completion is not reaped yet is not held, and its
    /// bytes would read back as zeros.
    func requestPageRelease() {
        pageReleaseRequested = true
    }

    /// After the loop's wait has reaped every completion.
    func reaped() {
        guard pageReleaseRequested, !ring.hasUnreapedCompletions else { return }
        pageReleaseRequested = false
        buffers.releaseIdlePages()
    }
}
