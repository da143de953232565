/// `rate N/UNIT [burst B]`: a token bucket holding at most `burst` tokens, refilled continuously
/// with `count` tokens every `periodMs`.
public struct TokenRate: Sendable, Equatable {
    public var count: Int64
    public var periodMs: Int64
    public var burst: Int64

    public init(count: Int64, periodMs: Int64, burst: Int64) {
        self.count = count
        self.periodMs = periodMs
        self.burst = burst
    }
}

/// The limits a plan bundles; a key may override any of them. nil means "no such limit".
public struct PolicyLimits: Sendable, Equatable {
    public var rate: TokenRate?
    public var concurrency: Int?
    public var dailyQuota: Int64?

    public init(rate: TokenRate? = nil, concurrency: Int? = nil, dailyQuota: Int64? = nil) {
        self.rate = rate
        self.concurrency = concurrency
        self.dailyQuota = dailyQuota
    }

    /// These limits with every limit `override` sets replacing ours.
    public func overridden(by override: PolicyLimits) -> PolicyLimits {
        PolicyLimits(rate: override.rate ?? rate, concurrency: override.concurrency ?? concurrency,
                     dailyQuota: override.dailyQuota ?? dailyQuota)
    }

    var isEmpty: Bool { rate == nil && concurrency == nil && dailyQuota == nil }
}

/// Named limits; `name` is also the policy name in the RateLimit headers.
public struct KeyPolicy: Sendable, Equatable {
    public var name: String
    public var limits: PolicyLimits

    public init(name: String, limits: PolicyLimits) {
        self.name = name
        self.limits = limits
    }
}

/// Whether a route needs an API key.
public enum RouteAuth: Sendable, Equatable { case `public`, required }

/// Which requests of a route count against the key's daily quota.
public enum QuotaCounting: Sendable, Equatable {
    case off
    case all
    case methods(Set<HTTPMethod>)

    func counts(_ method: HTTPMethod) -> Bool {
        switch self {
        case .off: false
        case .all: true
        case .methods(let set): set.contains(method)
        }
    }
}

public enum RateLimitHeaderStyle: Sendable, Equatable { case ietf, legacy, both, off }

/// API keys, plans and the limits around them.
public struct AccessConfig: Sendable {
    /// One entry per plan (in file order), then one per key that overrides its plan's limits.
    public var policies: [KeyPolicy] = []
    public var planCount = 0
    public var keys = KeyDirectory()
    /// Scope names; a key's and a route's scopes are bit masks over this list.
    public var scopeNames: [String] = []
    /// Bucket per client IP for public routes and for requests without a valid key.
    public var anonymousRate: TokenRate?
    public var globalConcurrency: Int?
    public var headers: RateLimitHeaderStyle = .ietf
    /// Daily quotas reset at this many ms after 00:00 UTC.
    public var quotaResetOffsetMs: Int64 = 0
    /// The realm of the `WWW-Authenticate: Bearer` challenge on 401s.
    public var authRealm = "gateway"
    /// Start-up warnings: keys written in plain text (location and fingerprint, never the key).
    public var warnings: [String] = []

    public init() {}

    public func planIndex(named name: String) -> Int? {
        policies[..<planCount].firstIndex { $0.name == name }
    }
}
