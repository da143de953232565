/// `health_check`: active checks of every server of one upstream group. Each check is a fresh
/// connection and one `GET path`; an answer with a status in `statuses` within `timeout` passes.
/// `fails` failed checks in a row take a server out of rotation, `passes` passed ones bring it back.
public struct HealthCheckConfig: Sendable, Equatable {
    public var path = "/healthz"
    /// From the start of one check to the start of the next (at least `timeoutMs`, so checks never overlap).
    public var intervalMs: Int64 = 5_000
    public var timeoutMs: Int64 = 2_000
    public var fails = 3
    public var passes = 2
    public var statuses: ClosedRange<Int> = 200...399

    public init() {}
}
