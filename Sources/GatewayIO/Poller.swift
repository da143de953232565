import CSystem
import GatewayCore
import Glibc

/// Where a loop learns which descriptors are ready (`io_engine`): epoll, or io_uring's multishot
/// poll. Both report edge-triggered readiness with epoll's flag bits (poll's are the same), keyed
/// by the loop's token, so handlers never know which engine runs.
final class Poller {
    enum Engine: Sendable, Equatable { case epoll, ioUring }

    let engine: Engine
    private let epfd: Int32
    /// epoll's event array; io_uring's reports are copied into the same layout's twin below.
    private let events: UnsafeMutableRawPointer?
    private static let capacity: Int32 = 256
    /// io_uring's ring: made with the loop (so running out of descriptors fails at start) but
    /// disabled until the loop's own thread enables it at its first wait, which makes that thread
    /// the ring's single issuer (loops are built on the main thread).
    private let ring: URing?
    private var enabled = false
    /// Registrations whose multishot poll the kernel ended (it may, e.g. on a full completion
    /// queue); armed again at the next wait if still registered then.
    private var ended: [Int32] = []
    /// Each descriptor's current registration (token 0: none) and mask, to arm a poll again.
    private var tokens: [UInt64] = []
    private var masks: [UInt32] = []
    private var readyTokens: [UInt64] = []
    private var readyFlags: [UInt32] = []
    /// Plain sockets whose bytes move through the ring (nil under epoll, or where the kernel lacks
    /// DEFER_TASKRUN or provided-buffer rings: those poll through the ring and read/writev).
    let sockets: RingSockets?
    /// Events owed without a completion: a socket joining the ring is writable at once, as an
    /// edge-triggered epoll registration reports.
    private var owedTokens: [UInt64] = []

    /// Fails when the process is out of descriptors (many `workers` under a low limit).
    init(engine: Engine) throws(SystemError) {
        self.engine = engine
        switch engine {
        case .epoll:
            epfd = csys_epoll_create()
            guard epfd >= 0 else { throw SystemError("epoll_create1", csys_errno()) }
            events = csys_epoll_events_alloc(Self.capacity)
            ring = nil
            sockets = nil
        case .ioUring:
            epfd = -1
            events = nil
            let ring = try URing(entries: 1024, completionEntries: 8192, required: .disabled)
            self.ring = ring
            // The memory rules of RingSockets hold only when the kernel runs completion work inside
            // this thread's io_uring_enter.
            let deferred = ring.capabilities.setupFlags.contains(.deferTaskrun)
            sockets = deferred ? try? RingSockets(ring: ring) : nil
        }
    }

    deinit {
        if let events { csys_epoll_events_free(events) }
        if epfd >= 0 { Glibc.close(epfd) }
    }

    /// Watches `fd` for `mask` (EPOLLIN/OUT/RDHUP; edge-triggered either way) under `token`.
    func add(_ fd: Int32, mask: UInt32, token: UInt64) {
        switch engine {
        case .epoll:
            _ = csys_epoll_ctl(epfd, EPOLL_CTL_ADD, fd, mask | CSYS_EPOLLET, token)
        case .ioUring:
            let index = Int(fd)
            if index >= tokens.count {
                let count = max(index + 1, tokens.count * 2, 64)
                tokens.append(contentsOf: repeatElement(0, count: count - tokens.count))
                masks.append(contentsOf: repeatElement(0, count: count - masks.count))
            }
            tokens[index] = token
            masks[index] = mask
            ring!.pollMultishot(fd, mask: mask, userData: token)
        }
    }

    /// A connected plain socket whose bytes from now on move through the ring (`sockets`);
    /// `announce`: report it writable at the next wait, as a new epoll registration would be.
    func addToRing(_ fd: Int32, token: UInt64, announce: Bool) {
        sockets!.open(fd, token: token)
        if announce { owedTokens.append(token) }
    }

    /// A socket polled while it connected moves to the ring (see `addToRing`).
    func moveToRing(_ fd: Int32, token: UInt64) {
        if Int(fd) < tokens.count, tokens[Int(fd)] == token { tokens[Int(fd)] = 0 }
        ring!.cancel(URingToken(rawValue: token))
        sockets!.open(fd, token: token)
    }

    /// Stops watching before `fd` is closed. epoll forgets a closed descriptor by itself; a pending
    /// io_uring poll holds the file, so the socket would stay open (no FIN) until it is cancelled.
    /// Returns true when the ring closes the descriptor itself (a ring socket's requests are
    /// cancelled first, and its number stays taken until then).
    func remove(_ fd: Int32, token: UInt64) -> Bool {
        guard engine == .ioUring else { return false }
        if let sockets, sockets.owns(fd, token: token) {
            sockets.close(fd)
            return true
        }
        if Int(fd) < tokens.count, tokens[Int(fd)] == token { tokens[Int(fd)] = 0 }
        ring!.cancel(URingToken(rawValue: token))
        return false
    }

    /// Waits up to `timeoutMillis` (-1: until something is ready, 0: not at all); returns how many
    /// readiness reports `token(_:)` and `flags(_:)` then give, valid until the next wait.
    func wait(timeoutMillis: Int32) -> Int {
        switch engine {
        case .epoll:
            return Int(max(0, csys_epoll_wait(epfd, events, Self.capacity, timeoutMillis)))
        case .ioUring:
            let ring = self.ring!
            if !enabled { enable(ring) }
            for fd in ended where tokens[Int(fd)] != 0 {
                ring.pollMultishot(fd, mask: masks[Int(fd)], userData: tokens[Int(fd)])
            }
            ended.removeAll(keepingCapacity: true)
            readyTokens.removeAll(keepingCapacity: true)
            readyFlags.removeAll(keepingCapacity: true)
            for token in owedTokens {
                readyTokens.append(token)
                readyFlags.append(CSYS_EPOLLOUT)
            }
            owedTokens.removeAll(keepingCapacity: true)
            sockets?.prepare()
            ring.submitAndWait(timeoutMillis: readyTokens.isEmpty ? timeoutMillis : 0) { completion in
                let token = completion.token.rawValue
                if token == URingToken.housekeeping.rawValue { return }
                if completion.operation != .housekeeping, let sockets {
                    let (registration, flags) = sockets.complete(completion)
                    if flags != 0 {
                        readyTokens.append(registration)
                        readyFlags.append(flags)
                    }
                    return
                }
                if completion.result > 0 {
                    readyTokens.append(token)
                    readyFlags.append(UInt32(completion.result))
                }
                let fd = Int32(truncatingIfNeeded: token)
                if !completion.more, Int(fd) < tokens.count, tokens[Int(fd)] == token { ended.append(fd) }
            }
            sockets?.reaped()
            return readyTokens.count
        }
    }

    @inline(__always)
    func token(_ i: Int) -> UInt64 {
        engine == .epoll ? csys_epoll_event_data(events, Int32(i)) : readyTokens[i]
    }

    @inline(__always)
    func flags(_ i: Int) -> UInt32 {
        engine == .epoll ? csys_epoll_event_flags(events, Int32(i)) : readyFlags[i]
    }

    private func enable(_ ring: URing) {
        do {
            try ring.enable()
        } catch {
            // Enabling allocates nothing that start-up did not already get; failing is a fault.
            fatalError("io_uring on this loop: \(error)")
        }
        enabled = true
    }

    /// The engine `io_engine` asks for, here: `auto` is io_uring when the kernel allows it.
    /// Returns the engine and a line for the start-up log.
    static func choose(_ configured: IOEngineSetting) -> Result<(Engine, String), SystemError> {
        switch configured {
        case .epoll:
            return .success((.epoll, "io engine: epoll (io_engine epoll)"))
        case .ioUring, .auto:
            switch URing.availability() {
            case .available(let capabilities):
                let io = capabilities.setupFlags.contains(.deferTaskrun)
                    ? "plain sockets' bytes through the ring" : "readiness through the ring, read/writev (no DEFER_TASKRUN)"
                return .success((.ioUring, "io engine: io_uring (\(capabilities.description)); \(io)"))
            case .unavailable(let reason):
                if configured == .ioUring { return .failure(SystemError("io_engine io_uring: \(reason)", ENOSYS)) }
                return .success((.epoll, "io engine: epoll (io_uring unavailable: \(reason))"))
            }
        }
    }
}
