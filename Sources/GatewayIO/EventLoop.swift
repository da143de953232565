import CSystem
import GatewayCore
import Glibc

/// Something registered with a loop: a listener, a client or an upstream connection.
protocol EventHandler: AnyObject {
    /// epoll flags for this handler's descriptor.
    func handleEvent(_ flags: UInt32)
    /// Called when `deadline` (monotonic ms, 0 = none) has passed.
    func deadlineExpired()
    var deadline: UInt64 { get }
    /// Position in the loop's timer wheel, maintained by the wheel.
    var timer: TimerLink { get set }
}

/// One epoll instance driven by one thread. Descriptors are registered edge-triggered for
/// reading and writing once, so steady-state traffic costs no epoll_ctl calls at all.
/// Deadlines are kept on the handlers and indexed by a timing wheel.
final class EventLoop {
    private let epfd: Int32
    private let events: UnsafeMutableRawPointer
    private let capacity: Int32 = 256
    /// Handlers by descriptor, with a generation so an event for a reused fd is never misdelivered.
    private var handlers: [EventHandler?] = []
    private var generations: [UInt32] = []
    private(set) var now: UInt64 = Clock.monotonicMillis()
    private let timers: TimerWheel
    /// Buffers released by idle connections, reused so a busy loop does not allocate per connection.
    private var freeBuffers: [ByteBuffer] = []
    /// The fewest free buffers since the last trim: that many were not needed at all meanwhile.
    private var freeBuffersLowWater = 0
    let bufferSize: Int
    /// Client connections open on this loop.
    var openConnections = 0

    /// Fails when the process is out of descriptors (many `workers` under a low limit).
    init(bufferSize: Int) throws(SystemError) {
        epfd = csys_epoll_create()
        guard epfd >= 0 else { throw SystemError("epoll_create1", csys_errno()) }
        events = csys_epoll_events_alloc(capacity)
        self.bufferSize = bufferSize
        timers = TimerWheel(now: now)
    }

    deinit { csys_epoll_events_free(events) }

    func register(_ fd: Int32, _ handler: EventHandler, events: UInt32 = CSYS_EPOLLIN | CSYS_EPOLLOUT | CSYS_EPOLLRDHUP | CSYS_EPOLLET) {
        let index = Int(fd)
        if index >= handlers.count {
            let newCount = max(index + 1, handlers.count * 2, 64)
            handlers.append(contentsOf: repeatElement(nil, count: newCount - handlers.count))
            generations.append(contentsOf: repeatElement(0, count: newCount - generations.count))
        }
        generations[index] &+= 1
        handlers[index] = handler
        let token = UInt64(generations[index]) << 32 | UInt64(UInt32(bitPattern: fd))
        _ = csys_epoll_ctl(epfd, EPOLL_CTL_ADD, fd, events, token)
    }

    /// Forgets and closes the descriptor (closing removes it from epoll). A handler that closes
    /// with its deadline cleared leaves the timer wheel now: the wheel drops cleared deadlines
    /// only when their tick comes, and would keep a closed connection alive until then.
    func close(_ fd: Int32) {
        let index = Int(fd)
        if index < handlers.count, let handler = handlers[index] {
            if handler.deadline == 0 { timers.cancel(handler) }
            handlers[index] = nil
        }
        Glibc.close(fd)
    }

    /// Call after changing a handler's deadline.
    func deadlineChanged(_ handler: EventHandler) {
        timers.schedule(handler)
    }

    func takeBuffer() -> ByteBuffer {
        guard let buffer = freeBuffers.popLast() else { return ByteBuffer(capacity: bufferSize) }
        freeBuffersLowWater = min(freeBuffersLowWater, freeBuffers.count)
        return buffer
    }

    /// Frees the buffers that sat unused since the last call, down to `keeping`; returns how many.
    func trimFreeBuffers(keeping: Int) -> Int {
        let spare = max(0, min(freeBuffersLowWater, freeBuffers.count - keeping))
        freeBuffers.removeLast(spare)
        freeBuffersLowWater = freeBuffers.count
        return spare
    }

    func returnBuffer(_ buffer: ByteBuffer) {
        buffer.clear()
        if freeBuffers.count < 1024 { freeBuffers.append(buffer) }
    }

    func run() -> Never {
        while true {
            let n = csys_epoll_wait(epfd, events, capacity, timers.timeout(now: now))
            now = Clock.monotonicMillis()
            if n > 0 {
                for i in 0..<Int(n) {
                    let token = csys_epoll_event_data(events, Int32(i))
                    let fd = Int(UInt32(truncatingIfNeeded: token))
                    guard fd < handlers.count, generations[fd] == UInt32(token >> 32), let handler = handlers[fd] else { continue }
                    handler.handleEvent(csys_epoll_event_flags(events, Int32(i)))
                }
            }
            timers.advance(now: now)
        }
    }
}
