import CSystem
import GatewayCore
import Glibc
import Synchronization

/// What another thread asks of a loop. The loop acts on it between events, so nothing a command
/// changes is ever seen half-changed by a connection.
enum LoopCommand: Sendable {
    /// Switch to a new configuration (built and validated by the reload thread).
    case reload(LoopReload)
    /// Stop accepting and finish what is in flight (SIGTERM, SIGINT).
    case drain
}

/// A new configuration as one loop receives it. Everything in it is immutable or thread-safe:
/// the pipeline's stages keep their shared state behind shard locks and atomics, and the loop
/// builds its own environment, balancers and pools from it on its own thread.
struct LoopReload: Sendable {
    let config: GatewayConfig
    let addresses: ResolvedAddresses
    let pipeline: RequestPipeline
    /// The servers' shared health: the running configuration's objects for servers that stay.
    let health: UpstreamHealthTable
    /// Certificates and TLS settings, loaded with the configuration: for new connections.
    let tls: TLSContexts
    /// This loop's sockets for the addresses the new configuration adds, already listening.
    let opened: [(address: SocketAddress, fd: Int32)]
    /// Addresses the new configuration no longer listens on.
    let closed: [SocketAddress]
}

/// The way into one loop from other threads: commands queue under a lock that only posting and
/// the loop's wake-up take (never a request), and an eventfd wakes the loop's epoll_wait.
final class LoopMailbox: Sendable {
    let fd: Int32
    private let commands = Mutex<[LoopCommand]>([])

    init() throws(SystemError) {
        fd = csys_eventfd()
        guard fd >= 0 else { throw SystemError("eventfd", csys_errno()) }
    }

    func post(_ command: LoopCommand) {
        commands.withLock { $0.append(command) }
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
    }

    /// The commands posted since the last call, oldest first.
    func take() -> [LoopCommand] {
        var counter: UInt64 = 0
        _ = read(fd, &counter, 8)
        return commands.withLock { queued in
            defer { queued.removeAll() }
            return queued
        }
    }
}

/// The loop's side of its mailbox: performs the commands on the loop's thread.
final class MailboxReader: EventHandler {
    private let mailbox: LoopMailbox
    private let worker: WorkerContext
    var deadline: UInt64 = 0
    var timer = TimerLink()

    init(_ mailbox: LoopMailbox, worker: WorkerContext) {
        self.mailbox = mailbox
        self.worker = worker
        worker.loop.register(mailbox.fd, self, events: CSYS_EPOLLIN | CSYS_EPOLLET)
    }

    func handleEvent(_ flags: UInt32) {
        for command in mailbox.take() {
            switch command {
            case .reload(let reload): worker.apply(reload)
            case .drain: worker.beginDraining()
            }
        }
    }

    func deadlineExpired() {}
}
