/// The client side of a connection as the machine sees it: buffers and readiness, no socket.
/// The I/O reads into `input` and writes from `output` through its transport (plain or TLS).
public final class ClientLink {
    /// Taken from the loop's pool when bytes are expected, given back while idle.
    public var input: ByteBuffer?
    /// Its storage comes with the request state the loop lends (`ExchangeSlot`), so an idle
    /// connection holds none.
    public let output = OutputQueue()
    public var readable = true
    public var writable = true
    /// EOF (or an error) was read: nothing more will come.
    public var peerClosed = false
    /// The client shut its side (EPOLLRDHUP): keep reading until EOF, no further edge will come.
    public var hangup = false
    public var lastWriteProgress: UInt64 = 0
    /// The I/O object that owns this connection: what a request waiting for the shared store
    /// resumes through (`RequestContext.waiter`).
    public weak var owner: AnyObject?

    public init() {}
}

/// One connection to an upstream server as the machine sees it. The I/O object that owns the
/// socket owns one of these for its whole life, pooled or lent.
public final class UpstreamLink {
    /// Where the connection belongs; a reload moves an idle pooled connection to the same server
    /// of the new configuration (`rebind`).
    public private(set) var group: Int
    public private(set) var server: UpstreamBalancer.Server
    public var input: ByteBuffer?
    public let output = OutputQueue(ownedCapacity: 2048)
    public var readable = false
    public var writable = false
    /// The server shut its side: after the data, a read will see EOF; no further edge will come.
    public var hangup = false
    /// Nothing more will come: EOF or an error was read, or what came could not be parsed.
    public var ended = false
    /// Lent from the pool: it served an earlier request, and the server may have closed it since.
    public var reused = false
    /// When the socket last took request bytes: the send timeout counts from here.
    public var lastWriteProgress: UInt64 = 0
    /// Why the connection broke below HTTP (a TLS alert from the server, such as a refused
    /// client certificate), set by the I/O: a 502 for it carries this in its details.
    public var failure: String?

    public init(group: Int, server: UpstreamBalancer.Server) {
        self.group = group
        self.server = server
    }

    /// Only while no exchange holds the connection.
    public func rebind(group: Int, server: UpstreamBalancer.Server) {
        self.group = group
        self.server = server
    }

    /// Fit to go back to the pool: quiet, drained, and never told to close.
    var isClean: Bool {
        !hangup && !ended && output.isEmpty && (input?.readableCount ?? 0) == 0
    }
}

/// What one read gave.
public enum ReadResult: Equatable, Sendable {
    case bytes(Int)
    case wouldBlock
    /// EOF or an error: nothing more will come from this peer.
    case eof
}

/// What one flush gave.
public enum FlushResult: Equatable, Sendable {
    case drained
    /// The peer's socket is full; `progressed` when some bytes went out first.
    case blocked(progressed: Bool)
    case failed(Int32)
}

/// The I/O the machine asks for.
public enum ExchangeAction: Equatable {
    /// Read from the client into `client.input` (there is room), then call `clientRead`.
    case readClient
    /// Write `client.output`, then call `clientFlushed`.
    case flushClient
    case readUpstream
    case flushUpstream
    /// Get a connection to this server: a pooled one (checked with the kernel first when
    /// `verifyIdle`) or a new one; then `upstreamConnected`, `upstreamConnecting` or `upstreamFailed`.
    case connect(group: Int, server: Int, verifyIdle: Bool)
    /// Back to its pool: the exchange is done with it and it is clean.
    case releaseUpstream(UpstreamLink)
    case closeUpstream(UpstreamLink)
    /// Shut the client's write side (the last answer is out): lingering begins.
    case shutdownClientWrite
    case closeClient
    /// Nothing to do until an event; arm the timers at `clientDeadline` and `upstreamDeadline`.
    case wait

    public static func == (a: Self, b: Self) -> Bool {
        switch (a, b) {
        case (.readClient, .readClient), (.flushClient, .flushClient), (.readUpstream, .readUpstream),
             (.flushUpstream, .flushUpstream), (.shutdownClientWrite, .shutdownClientWrite),
             (.closeClient, .closeClient), (.wait, .wait):
            return true
        case let (.connect(g1, s1, v1), .connect(g2, s2, v2)):
            return g1 == g2 && s1 == s2 && v1 == v2
        case let (.releaseUpstream(l1), .releaseUpstream(l2)), let (.closeUpstream(l1), .closeUpstream(l2)):
            return l1 === l2
        default:
            return false
        }
    }
}

/// The upstream timeouts, by what the machine was waiting for when its timer fired.
enum UpstreamTimeout {
    case connect, send, response
}
