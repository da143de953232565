import Synchronization

/// The health of one upstream server (one address of a `server` line), shared by every event
/// loop: passive health (request failures in a row, ejection until a deadline) and the verdict of
/// the active checks. Made once per process; every loop's balancer refers to the same object, so
/// an ejection by one loop holds for all. Atomics only: the request path loads two words per
/// candidate server and writes only when a failure is counted or the first success follows one.
/// Relaxed ordering is enough: no other memory is published through these values.
public final class ServerHealth: Sendable {
    public let upstream: String
    public let config: UpstreamServer
    /// `host:port` as configured.
    public let configured: String
    /// The resolved address (equal to `configured` for a literal address).
    public let address: String
    /// `configured`, plus the address when that is a name: for logs.
    public let label: String
    /// Like nginx, a group's only server is never ejected (refusing everyone helps nobody), nor a
    /// server with `max_fails=0`. Active checks still take such a server out.
    let mayEject: Bool

    private let fails = Atomic<Int>(0)
    /// Monotonic ms before which passive health keeps the server out.
    private let ejectedUntil = Atomic<UInt64>(0)
    private let failingChecks = Atomic<Bool>(false)

    public init(upstream: String, config: UpstreamServer, address: String, groupSize: Int) {
        self.upstream = upstream
        self.config = config
        self.address = address
        configured = config.host.contains(":") ? "[\(config.host)]:\(config.port)" : "\(config.host):\(config.port)"
        label = configured == address ? configured : "\(configured) (\(address))"
        mayEject = Self.mayEject(config, groupSize)
    }

    static func mayEject(_ config: UpstreamServer, _ groupSize: Int) -> Bool {
        groupSize > 1 && config.maxFails > 0
    }

    /// Out of rotation until its active checks pass again (a new checker after a reload starts there).
    public var isFailingChecks: Bool { failingChecks.load(ordering: .relaxed) }

    /// Neither failing its active checks nor ejected by passive health.
    @inline(__always)
    public func isAvailable(now: UInt64) -> Bool {
        !failingChecks.load(ordering: .relaxed) && ejectedUntil.load(ordering: .relaxed) <= now
    }

    /// Counts a failed request; true when this failure ejected the server (for `fail_timeout`).
    /// Exactly one loop ejects when several count failures at once, and a failure of a request
    /// that was under way when the server was ejected counts for nothing: it says nothing new.
    public func reportFailure(now: UInt64) -> Bool {
        guard mayEject, ejectedUntil.load(ordering: .relaxed) <= now else { return false }
        var current = fails.load(ordering: .relaxed)
        while true {
            let reached = current + 1 >= config.maxFails
            let (done, seen) = fails.compareExchange(expected: current, desired: reached ? 0 : current + 1, ordering: .relaxed)
            if done {
                if reached { ejectedUntil.store(now + UInt64(config.failTimeoutMs), ordering: .relaxed) }
                return reached
            }
            current = seen
        }
    }

    /// A response head arrived: the failures in a row are over. Loads first, so the common case
    /// (no failures) never writes the shared line.
    public func reportSuccess() {
        if fails.load(ordering: .relaxed) != 0 { fails.store(0, ordering: .relaxed) }
    }

    /// The active checks' verdict changed. Failing takes the server out whatever passive health
    /// says; passing again also forgets passive failures and ejection, which predate the checks
    /// that have just proved the server answers.
    public func setFailingChecks(_ failing: Bool) {
        failingChecks.store(failing, ordering: .relaxed)
        if !failing {
            fails.store(0, ordering: .relaxed)
            ejectedUntil.store(0, ordering: .relaxed)
        }
    }

    /// For metrics and readiness, from any thread.
    public func snapshot(now: UInt64) -> ServerHealthSnapshot {
        let until = ejectedUntil.load(ordering: .relaxed)
        let state: ServerHealthSnapshot.State = failingChecks.load(ordering: .relaxed) ? .failingChecks : until > now ? .ejected : .up
        return ServerHealthSnapshot(upstream: upstream, server: configured, address: address, state: state,
                                    consecutiveFailures: fails.load(ordering: .relaxed), ejectedForMs: until > now ? until - now : 0)
    }
}

/// One server's health at one moment, for `/metrics` and `/readyz`. Labels come from the
/// configuration (upstream name, `server` address), so their number is bounded.
public struct ServerHealthSnapshot: Sendable, Equatable {
    public enum State: String, Sendable {
        /// In rotation.
        case up
        /// Out for `fail_timeout` after `max_fails` failed requests in a row (passive health).
        case ejected
        /// Out until its active checks pass again (`health_check`).
        case failingChecks = "failing_checks"
    }

    public let upstream: String
    /// `host:port` as configured.
    public let server: String
    /// The resolved address (several when the configured name has several).
    public let address: String
    public let state: State
    /// Failed requests in a row since the last success or ejection.
    public let consecutiveFailures: Int
    /// What is left of a passive ejection.
    public let ejectedForMs: UInt64
}
