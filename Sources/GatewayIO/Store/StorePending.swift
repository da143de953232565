import GatewayCore

/// A command on its way to Redis, and what its reply is for. The command's bytes stay with it, so
/// it can be sent again where a cluster redirects it, or as `EVAL` to a server that lost its script.
struct StorePending {
    enum Purpose {
        /// A suspended stage waits for it.
        case request(StoreRequest)
        /// Nobody waits (a release, a renewal, an undo).
        case posted
        /// Nobody waits, but the loop's `LocalAllowance` hears when it ends.
        case settlement(prefix: [UInt8], units: Int)
        /// `ASKING` before a command redirected with `ASK`.
        case asking
        /// `CLUSTER SLOTS`.
        case topology
        /// The connection's own greeting (`HELLO`, `AUTH`, `SELECT`, `SCRIPT LOAD`); `hello` is the first.
        case greeting(hello: Bool)
    }

    var purpose: Purpose
    var command: [UInt8]
    /// The cluster slot of its keys.
    var slot: Int
    /// Loop ms by which the reply must be in.
    var deadline: UInt64
    /// Loop µs when it was queued, for the round-trip histogram.
    var queuedAtMicros: UInt64
    var redirects = 0
}

/// The request a stage suspended for a command: who resumes, and with what.
struct StoreRequest {
    let stage: any StoreStage
    let context: RequestContext
    let waiter: any StoreWaiting
    /// The waiter's count of waits when this one began: a reply for an older wait is not its.
    let stamp: UInt64
    let undo: [UInt8]
}

/// What a request waiting for the store resumes through: its client connection.
protocol StoreWaiting: AnyObject {
    /// Starts a wait; the number identifies it.
    func beginStoreWait() -> UInt64
    /// Whether wait `stamp` is still the one the connection's request is suspended in.
    func isWaiting(_ stamp: UInt64) -> Bool
    func storeAnswered(_ verdict: StageVerdict)
}
