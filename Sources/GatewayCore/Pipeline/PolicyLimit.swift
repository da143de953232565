/// Which limit refused a request (the policy stages note it on the context), so metrics can count
/// rejections by reason without reading error messages.
public enum PolicyLimit: Int, CaseIterable, Sendable {
    case keyRate, routeRate, clientRate, keyConcurrency, globalConcurrency, dailyQuota

    /// The `limit` label: the kind of limit.
    public var limit: String {
        switch self {
        case .keyRate, .routeRate, .clientRate: "rate"
        case .keyConcurrency, .globalConcurrency: "concurrency"
        case .dailyQuota: "quota"
        }
    }

    /// The `scope` label: whose limit it is (a key's, a route's per-key bucket, a client address's, everyone's).
    public var scope: String {
        switch self {
        case .keyRate, .keyConcurrency, .dailyQuota: "key"
        case .routeRate: "route"
        case .clientRate: "client"
        case .globalConcurrency: "global"
        }
    }
}
