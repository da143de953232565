import CSystem
import Foundation
import Glibc
@testable import GatewayIO

/// A socket driven through the ring in a test: received bytes, an outbox with one send (or
/// gather sendmsg) in flight at a time, as a connection's write queue would.
final class RingSocket {
    enum Chunk {
        /// A provided buffer being sent on (zero copy); recycled once fully sent.
        case provided(id: UInt16, count: Int)
        case owned([UInt8])
    }

    let fd: Int32
    let generation: UInt32
    var received: [UInt8] = []
    var eof = false
    var failure: Int32?
    var connected = false
    /// Called with each provided buffer received; the default appends and recycles at once.
    var onData: ((RingSocket, UnsafeMutableRawBufferPointer, UInt16) -> Void)?
    var onConnected: ((RingSocket) -> Void)?
    fileprivate var outbox: [Chunk] = []
    fileprivate var sentOfFirst = 0
    fileprivate var sending = false
    /// The owned bytes of the chunks in flight, pinned until the completion.
    fileprivate var pinned: [UnsafeMutableRawBufferPointer] = []
    fileprivate let iovecs = UnsafeMutablePointer<iovec>.allocate(capacity: 16)
    fileprivate let message = UnsafeMutablePointer<msghdr>.allocate(capacity: 1)

    init(fd: Int32, generation: UInt32) {
        self.fd = fd
        self.generation = generation
    }

    deinit {
        iovecs.deallocate()
        message.deallocate()
        for p in pinned { p.deallocate() }
    }

    func token(_ operation: URingOperation) -> URingToken {
        URingToken(fd: fd, generation: generation, operation: operation)
    }

    var idle: Bool { outbox.isEmpty && !sending }
}

/// One ring, one provided-buffer group, and the sockets a test drives through them, all on the
/// test's thread. Dispatch follows the token scheme the event loop will use.
final class RingHarness {
    let ring: URing
    let buffers: ProvidedBuffers
    var starved = StarvedReceivers()
    private(set) var sockets: [Int32: RingSocket] = [:]
    private var listeners: [Int32: (generation: UInt32, onAccept: (RingSocket) -> Void)] = [:]
    private var nextGeneration: UInt32 = 0
    private(set) var outOfBuffers = 0
    private(set) var closesCompleted = 0
    private(set) var buffersDelivered = 0
    private(set) var sendCalls = 0
    private(set) var sendMessageCalls = 0

    init(bufferCount: Int = 64, bufferSize: Int = 4096, entries: UInt32 = 512, completionEntries: UInt32 = 4096) throws {
        ring = try URing(entries: entries, completionEntries: completionEntries)
        buffers = try ProvidedBuffers(ring: ring, group: 0, count: bufferCount, bufferSize: bufferSize)
    }

    private func generation() -> UInt32 {
        nextGeneration = (nextGeneration + 1) & URingToken.generationMask
        return nextGeneration
    }

    // MARK: Setting up

    /// Listens on 127.0.0.1 (an ephemeral port) and accepts through one multishot accept.
    func listen(onAccept: @escaping (RingSocket) -> Void) -> (fd: Int32, address: SocketAddress) {
        guard case .success(let fd) = Socket.listen(on: try! Resolver.addresses(host: "127.0.0.1", port: 0).get()[0], reusePort: false) else {
            fatalError("listen failed")
        }
        let gen = generation()
        listeners[fd] = (gen, onAccept)
        ring.acceptMultishot(fd, token: URingToken(fd: fd, generation: gen, operation: .accept))
        return (fd, RingHarness.localAddress(fd))
    }

    /// Connects through IORING_OP_CONNECT; `onConnected` runs once the completion says so.
    @discardableResult
    func connect(to address: SocketAddress, onConnected: ((RingSocket) -> Void)? = nil) -> RingSocket {
        let fd = csys_socket_stream(address.family)
        precondition(fd >= 0, "socket failed")
        _ = csys_set_int_option(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        let socket = RingSocket(fd: fd, generation: generation())
        socket.onConnected = onConnected
        sockets[fd] = socket
        ring.connect(fd, to: address, token: socket.token(.connect))
        return socket
    }

    func armReceive(_ socket: RingSocket) {
        ring.receiveMultishot(socket.fd, buffers: buffers, token: socket.token(.receive))
    }

    func send(_ socket: RingSocket, _ chunks: RingSocket.Chunk...) {
        socket.outbox.append(contentsOf: chunks)
        pump(socket)
    }

    /// Cancels whatever is pending on the socket, then closes it, through the ring.
    func close(_ socket: RingSocket) {
        starved.forget(socket.fd)
        sockets[socket.fd] = nil
        ring.close(socket.fd, token: socket.token(.close))
    }

    func closeListener(_ fd: Int32) {
        guard let listener = listeners.removeValue(forKey: fd) else { return }
        ring.close(fd, token: URingToken(fd: fd, generation: listener.generation, operation: .close))
    }

    /// Drives the ring until `condition` holds; false on timeout.
    @discardableResult
    func run(timeoutMillis: UInt64 = 5000, until condition: () -> Bool) -> Bool {
        let deadline = Clock.monotonicMillis() + timeoutMillis
        while !condition() {
            if Clock.monotonicMillis() > deadline { return false }
            starved.rearm(on: ring, buffers: buffers)
            ring.submitAndWait(timeoutMillis: 20) { dispatch($0) }
        }
        return true
    }

    // MARK: Completions

    private func dispatch(_ completion: URingCompletion) {
        switch completion.operation {
        case .accept: accepted(completion)
        case .receive: receivedBytes(completion)
        case .send: sent(completion)
        case .connect: connectCompleted(completion)
        case .close: closesCompleted += 1
        default: break
        }
    }

    private func accepted(_ completion: URingCompletion) {
        guard let listener = listeners[completion.fd], listener.generation == completion.token.generation else {
            if completion.result >= 0 { Glibc.close(completion.result) }
            return
        }
        // A multishot accept ends (no CQE_F_MORE) on errors such as EMFILE; re-arm it then.
        if !completion.more {
            ring.acceptMultishot(completion.fd, token: completion.token)
        }
        guard completion.result >= 0 else { return }
        let socket = RingSocket(fd: completion.result, generation: generation())
        sockets[socket.fd] = socket
        armReceive(socket)
        listener.onAccept(socket)
    }

    private func receivedBytes(_ completion: URingCompletion) {
        let bytes = buffers.take(completion)
        if bytes != nil { buffersDelivered += 1 }
        guard let socket = sockets[completion.fd], socket.generation == completion.token.generation else {
            // Stale (the socket was closed): the buffer still has to go back.
            if let id = completion.bufferID, bytes != nil { buffers.recycle(id) }
            return
        }
        if let bytes, let id = completion.bufferID {
            if let onData = socket.onData {
                onData(socket, bytes, id)
            } else {
                socket.received.append(contentsOf: bytes)
                buffers.recycle(id)
            }
            // Ended with bytes: the CQ overflowed or the kernel capped the request; re-arm.
            if !completion.more { armReceive(socket) }
            return
        }
        switch completion.result {
        case 0: socket.eof = true
        case -ENOBUFS:
            outOfBuffers += 1
            starved.park(socket.fd, token: completion.token)
        case -ECANCELED: break
        default: socket.failure = completion.error
        }
    }

    private func connectCompleted(_ completion: URingCompletion) {
        guard let socket = sockets[completion.fd], socket.generation == completion.token.generation else { return }
        if completion.result < 0 {
            socket.failure = completion.error
            return
        }
        socket.connected = true
        armReceive(socket)
        socket.onConnected?(socket)
    }

    /// One send in flight per socket: SEND for one chunk, SENDMSG gathering them all otherwise.
    private func pump(_ socket: RingSocket) {
        guard !socket.sending, !socket.outbox.isEmpty else { return }
        var count = 0
        for (index, chunk) in socket.outbox.prefix(16).enumerated() {
            let skip = index == 0 ? socket.sentOfFirst : 0
            let base: UnsafeMutableRawPointer
            let length: Int
            switch chunk {
            case .provided(let id, let n):
                base = buffers.bytes(id, count: n).baseAddress!
                length = n
            case .owned(let bytes):
                let pinnedBytes = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
                pinnedBytes.copyBytes(from: bytes)
                socket.pinned.append(pinnedBytes)
                base = pinnedBytes.baseAddress!
                length = bytes.count
            }
            socket.iovecs[count] = iovec(iov_base: base + skip, iov_len: length - skip)
            count += 1
        }
        socket.sending = true
        if count == 1 {
            sendCalls += 1
            ring.send(socket.fd, UnsafeRawBufferPointer(start: socket.iovecs[0].iov_base, count: socket.iovecs[0].iov_len),
                      token: socket.token(.send))
        } else {
            sendMessageCalls += 1
            socket.message.pointee = msghdr()
            socket.message.pointee.msg_iov = socket.iovecs
            socket.message.pointee.msg_iovlen = count
            ring.sendMessage(socket.fd, socket.message, token: socket.token(.send))
        }
    }

    private func sent(_ completion: URingCompletion) {
        guard let socket = sockets[completion.fd], socket.generation == completion.token.generation else { return }
        socket.sending = false
        for p in socket.pinned { p.deallocate() }
        socket.pinned.removeAll()
        guard completion.result >= 0 else {
            socket.failure = completion.error
            return
        }
        var done = Int(completion.result)
        while done > 0, let first = socket.outbox.first {
            let length: Int
            switch first {
            case .provided(_, let n): length = n
            case .owned(let bytes): length = bytes.count
            }
            let left = length - socket.sentOfFirst
            if done < left {
                socket.sentOfFirst += done
                break
            }
            done -= left
            socket.sentOfFirst = 0
            socket.outbox.removeFirst()
            if case .provided(let id, _) = first { buffers.recycle(id) }
        }
        pump(socket)
    }

    static func localAddress(_ fd: Int32) -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return SocketAddress(storage: storage, length: length)
    }

    /// Open sockets and rings (other descriptors, such as the timerfds libdispatch creates
    /// lazily, come and go on their own).
    static func openDescriptors() -> Int {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return fds.filter { fd in
            let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)")) ?? ""
            return target.hasPrefix("socket:") || target.contains("io_uring")
        }.count
    }
}
