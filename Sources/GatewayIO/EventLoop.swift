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

/// Work that could not run in this loop iteration and must run in the next one, because no
/// new event will ask for it (edge-triggered epoll already reported its socket).
protocol DeferredStep: AnyObject {
    func runDeferred()
}

/// One poller (epoll or io_uring, see `io_engine`) driven by one thread. Descriptors are
/// registered edge-triggered for reading and writing once, so steady-state traffic costs no
/// registration calls at all. Deadlines are kept on the handlers and indexed by a timing wheel.
final class EventLoop {
    private let poller: Poller
    /// Handlers by descriptor, with a generation so an event for a reused fd is never misdelivered.
    private var handlers: [EventHandler?] = []
    private var generations: [UInt32] = []
    private(set) var now: UInt64
    /// `now` in microseconds, read at the same moment: what the loop's exchanges time requests by.
    let clock = LoopClock()
    private let timers: TimerWheel
    /// Buffers released by idle connections, reused so a busy loop does not allocate per connection.
    private var freeBuffers: [ByteBuffer] = []
    /// The fewest free buffers since the last trim: that many were not needed at all meanwhile.
    private var freeBuffersLowWater = 0
    let bufferSize: Int
    /// Client connections open on this loop.
    var openConnections = 0
    /// Where TLS sessions coalesce small queued segments into one record; used within one flush call.
    let tlsScratch = ByteBuffer(capacity: TLSSession.recordSize)
    /// TLS handshake steps this iteration may still take. A step costs up to a millisecond or so
    /// of crypto (a signature with an RSA-2048 key); past the budget, handshakes wait for the next
    /// iteration, so a flood of new connections delays established ones by a bounded amount.
    private var handshakeBudget = EventLoop.handshakesPerIteration
    static let handshakesPerIteration = 16
    private var deferred: [DeferredStep] = []
    private var deferredRunning: [DeferredStep] = []
    /// Work for the end of this iteration, once its events and timers are handled.
    private var closing: [DeferredStep] = []
    private var closingRunning: [DeferredStep] = []

    /// Fails when the process is out of descriptors (many `workers` under a low limit).
    init(bufferSize: Int, engine: Poller.Engine = .epoll) throws(SystemError) {
        poller = try Poller(engine: engine)
        self.bufferSize = bufferSize
        clock.micros = Clock.monotonicMicros()
        now = clock.micros / 1000
        timers = TimerWheel(now: now)
    }

    /// Plain sockets' bytes move through the ring (io_uring engine): see `RingSockets`. Nil under
    /// epoll; a plain transport given it reads and sends through it.
    var ringSockets: RingSockets? { poller.sockets }

    /// `throughRing`: a connected plain socket whose transport uses `ringSockets` (which must be
    /// there); it hears EPOLLIN/OUT/RDHUP from its receives and sends instead of from readiness.
    func register(_ fd: Int32, _ handler: EventHandler, events: UInt32 = CSYS_EPOLLIN | CSYS_EPOLLOUT | CSYS_EPOLLRDHUP,
                  throughRing: Bool = false) {
        let index = Int(fd)
        if index >= handlers.count {
            let newCount = max(index + 1, handlers.count * 2, 64)
            handlers.append(contentsOf: repeatElement(nil, count: newCount - handlers.count))
            generations.append(contentsOf: repeatElement(0, count: newCount - generations.count))
        }
        // 24 bits, never 0: io_uring's user_data keeps its top byte for the operation.
        let generation = (generations[index] &+ 1) & URingToken.generationMask
        generations[index] = generation == 0 ? 1 : generation
        handlers[index] = handler
        if throughRing {
            poller.addToRing(fd, token: token(index), announce: true)
        } else {
            poller.add(fd, mask: events, token: token(index))
        }
    }

    /// A registered socket that finished connecting moves its bytes to the ring.
    func moveToRing(_ fd: Int32) {
        poller.moveToRing(fd, token: token(Int(fd)))
    }

    /// Forgets, unwatches and closes the descriptor. A handler that closes with its deadline
    /// cleared leaves the timer wheel now: the wheel drops cleared deadlines only when their tick
    /// comes, and would keep a closed connection alive until then.
    func close(_ fd: Int32) {
        let index = Int(fd)
        if index < handlers.count, let handler = handlers[index] {
            if handler.deadline == 0 { timers.cancel(handler) }
            handlers[index] = nil
            if poller.remove(fd, token: token(index)) { return }
        }
        Glibc.close(fd)
    }

    /// A descriptor's registration: its number and generation.
    private func token(_ index: Int) -> UInt64 {
        UInt64(generations[index]) << 32 | UInt64(UInt32(truncatingIfNeeded: index))
    }

    /// The descriptor `token` stands for, if that registration is still current.
    private func handler(for token: UInt64) -> EventHandler? {
        let fd = Int(UInt32(truncatingIfNeeded: token))
        guard fd < handlers.count, generations[fd] == UInt32(truncatingIfNeeded: token >> 32) else { return nil }
        return handlers[fd]
    }

    /// Every registered handler of one kind (the client connections at a reload or a drain): a
    /// scan of the descriptor table, for rare events only.
    func handlers<T>(of type: T.Type) -> [T] {
        handlers.compactMap { $0 as? T }
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

    /// Whether a TLS handshake step may run now; false once this iteration's budget is spent.
    func takeHandshakeTurn() -> Bool {
        guard handshakeBudget > 0 else { return false }
        handshakeBudget -= 1
        return true
    }

    /// Runs `step` at the start of the next iteration, which then does not sleep in epoll.
    func deferToNextIteration(_ step: DeferredStep) {
        deferred.append(step)
    }

    /// Runs `step` once this iteration's events and timers have been handled: what they queued
    /// for one peer (commands for the shared store) leaves in one write, with no extra wait.
    func atEndOfIteration(_ step: DeferredStep) {
        closing.append(step)
    }

    func run() -> Never {
        while true {
            let n = poller.wait(timeoutMillis: deferred.isEmpty ? timers.timeout(now: now) : 0)
            clock.micros = Clock.monotonicMicros()
            now = clock.micros / 1000
            handshakeBudget = Self.handshakesPerIteration
            // Oldest first: what waited since the last iteration runs before new arrivals.
            if !deferred.isEmpty {
                swap(&deferred, &deferredRunning)
                for step in deferredRunning { step.runDeferred() }
                deferredRunning.removeAll(keepingCapacity: true)
            }
            for i in 0..<n {
                guard let handler = handler(for: poller.token(i)) else { continue }
                handler.handleEvent(poller.flags(i))
            }
            timers.advance(now: now)
            // Steps may queue more steps (a failure resumes a request that sends a command).
            while !closing.isEmpty {
                swap(&closing, &closingRunning)
                for step in closingRunning { step.runDeferred() }
                closingRunning.removeAll(keepingCapacity: true)
            }
        }
    }
}
