/// Whether a route honours `Idempotency-Key`, and whether it insists on one.
public enum IdempotencyMode: Sendable, Equatable { case off, optional, required }

/// A route's `idempotency` and `idempotency_methods` directives.
public struct RouteIdempotency: Sendable, Equatable {
    public var mode: IdempotencyMode = .optional
    /// Upper-case method names the key applies to.
    public var methods: [String] = ["POST", "PATCH"]

    public init() {}

    func applies(to method: UnsafeRawBufferPointer) -> Bool {
        methods.contains { $0.utf8.elementsEqual(method) }
    }
}

/// The top-level `idempotency { ... }` block.
public struct IdempotencyConfig: Sendable, Equatable {
    /// Ceiling for `max_response_size`; it also bounds one journal record when reading it back.
    public static let maxResponseSizeLimit = 64 << 20

    public var limits = IdempotencyLimits()
    /// 409 (the error catalog) or 422 (the IETF draft) for a key reused with a different request.
    public var conflictStatus = 409
    /// nil: entries live in memory only and do not survive a restart.
    public var journalPath: String?
    public var sync = JournalSyncPolicy.interval(ms: 1000)

    public init() {}
}
