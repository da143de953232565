/// The upstream response time histogram's buckets: 1 ms to 30 s (`response_timeout`'s default),
/// roughly three per decade, as Prometheus's defaults are, plus +Inf.
public enum LatencyBuckets {
    /// Upper bounds in microseconds, ascending.
    public static let boundsMicros: [UInt64] = [
        1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
        1_000_000, 2_500_000, 5_000_000, 10_000_000, 30_000_000,
    ]

    /// The same bounds as the `le` label writes them, in seconds.
    public static let labels: [String] = [
        "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30",
    ]

    /// Finite buckets plus +Inf.
    public static var count: Int { boundsMicros.count + 1 }

    /// The first bucket whose bound holds `micros` (`le` is inclusive); `boundsMicros.count` is +Inf.
    @inline(__always)
    public static func index(micros: UInt64) -> Int {
        var i = 0
        while i < boundsMicros.count && micros > boundsMicros[i] { i += 1 }
        return i
    }
}
