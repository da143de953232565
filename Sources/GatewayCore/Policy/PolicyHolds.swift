/// What one request holds from the shared policy state, so each hold is released exactly once.
struct PolicyHolds {
    var keySlot = false
    var globalSlot = false
    /// The quota day the request was counted on.
    var quotaDay: Int64?
}
