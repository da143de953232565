import Synchronization

/// The status `/healthz` answers with, set through `POST /__mock/health?status=N`, so tests can
/// make a gateway's active health checks fail and recover while the API itself keeps working.
enum MockHealth {
    private static let current = Atomic<Int>(200)

    static var status: Int {
        get { current.load(ordering: .relaxed) }
        set { current.store(newValue, ordering: .relaxed) }
    }
}
