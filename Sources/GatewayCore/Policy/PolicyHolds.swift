/// What one request holds from the shared policy state, so each hold is released exactly once.
struct PolicyHolds {
    var keySlot = false
    var globalSlot = false
    /// The quota day the request was counted on.
    var quotaDay: Int64?
    /// In a shared store: the lease its slots are (or would be) held under, and which it holds.
    var lease: UInt64 = 0
    var storeKeySlot = false
    var storeGlobalSlot = false

    var isEmpty: Bool { !keySlot && !globalSlot && quotaDay == nil && !storeKeySlot && !storeGlobalSlot }
}
