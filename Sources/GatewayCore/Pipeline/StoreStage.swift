/// How a stage waits for the shared store without blocking its event loop. The stage sends its
/// command through the request's `StoreLink` (the connection's loop's store client) and returns
/// `.suspend`; the exchange machine waits in `awaitingAdmission`. When the reply is in, on the
/// same loop thread, the link asks the stage for its verdict and resumes the machine with it.
/// Every command ends: with the server's reply, or `unavailable` (timeout, connection lost,
/// breaker open, queue full) within the store's command timeout, so no request waits longer.
public protocol StoreStage: ExchangeStage {
    /// The reply to the command this stage sent for `context`'s request: the stage's verdict.
    func storeReplied(_ reply: StoreReply, context: RequestContext) -> StageVerdict
    /// The request is gone (its client closed while it waited): undo whatever `reply` says the
    /// command took, from what the stage gave `send` as `undo` (the context is another request's now).
    func storeAbandoned(_ reply: StoreReply, undo: [UInt8], link: any StoreLink)
}

public enum StoreReply: Sendable, Equatable {
    case value(RESPValue)
    /// No answer: the reason, for a log line.
    case unavailable(String)
}

/// One event loop's way to the shared store, as the stages see it; the I/O implements it.
public protocol StoreLink: AnyObject {
    /// Sends `command` for the request of `context`, which `stage` suspends. `slot` is the Redis
    /// Cluster slot of its keys (`ClusterSlot.slot` of their hash tag).
    func send(_ command: RESPCommand, slot: Int, for stage: any StoreStage, context: RequestContext, undo: [UInt8])
    /// Sends a command nobody waits for (a release, a renewal, an undo); a failure is only counted.
    func post(_ command: RESPCommand, slot: Int)
    /// The store is a Redis Cluster: keys of different hash tags cannot meet in one script.
    var isCluster: Bool { get }
    /// Leases this loop keeps alive while their requests run (see `LeaseBook`).
    var leases: LeaseBook { get }
    /// What this loop may admit without asking (`store_sync local_burst`); nil when off.
    var allowance: LocalAllowance? { get }
}
