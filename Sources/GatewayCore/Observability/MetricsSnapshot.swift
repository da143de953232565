/// Every loop's cells summed by label value: what one scrape reports. Blocks of different
/// configurations (before and after a reload) add up by label, so a route's counter carries on
/// across a reload as long as its prefix does.
struct MetricsSnapshot: Equatable {
    struct RequestSeries: Hashable {
        var route: String
        var method: String
        var statusClass: String
    }

    struct ServerSeries: Hashable {
        var upstream: String
        var server: String
    }

    struct Histogram: Equatable {
        /// Per bucket, not cumulative (+Inf last).
        var buckets = [UInt64](repeating: 0, count: LatencyBuckets.count)
        var sumMicros: UInt64 = 0
        var count: UInt64 = 0

        static func += (a: inout Histogram, b: Histogram) {
            for i in a.buckets.indices { a.buckets[i] &+= b.buckets[i] }
            a.sumMicros &+= b.sumMicros
            a.count &+= b.count
        }
    }

    /// Only series that counted something: most route × method × status combinations never do.
    var requests: [RequestSeries: UInt64] = [:]
    /// By position in `GatewayErrorKind.allCases`, `PolicyLimit`, `IdempotencyOutcome`, `LoopScalar`.
    var errors = [UInt64](repeating: 0, count: GatewayErrorKind.allCases.count)
    var rejections = [UInt64](repeating: 0, count: PolicyLimit.allCases.count)
    var idempotency = [UInt64](repeating: 0, count: IdempotencyOutcome.allCases.count)
    var scalars = [UInt64](repeating: 0, count: LoopScalar.allCases.count)
    var latency: [String: Histogram] = [:]
    var ejections: [ServerSeries: UInt64] = [:]
    /// A gauge of live state: summed over the loops' current blocks only, never carried over.
    var pooled: [ServerSeries: UInt64] = [:]

    subscript(_ scalar: LoopScalar) -> UInt64 { scalars[scalar.rawValue] }

    /// Adds one loop's block; `gauges` false for a retired block, whose pools no longer exist.
    mutating func add(_ block: LoopMetrics, gauges: Bool) {
        let layout = block.layout
        for route in 0...layout.routes.count {
            let routeLabel = route < layout.routes.count ? layout.routes[route] : MetricsLayout.noRoute
            for (m, method) in MetricsLayout.methods.enumerated() {
                for (c, statusClass) in MetricsLayout.statusClasses.enumerated() {
                    let value = block.value(layout.request(route: route, method: HTTPMethod(rawValue: UInt8(m))!, statusClass: c))
                    if value > 0 { requests[RequestSeries(route: routeLabel, method: method, statusClass: statusClass), default: 0] &+= value }
                }
            }
        }
        for (i, kind) in GatewayErrorKind.allCases.enumerated() { errors[i] &+= block.value(layout.error(kind)) }
        for limit in PolicyLimit.allCases { rejections[limit.rawValue] &+= block.value(layout.rejection(limit)) }
        for outcome in IdempotencyOutcome.allCases { idempotency[outcome.rawValue] &+= block.value(layout.idempotency(outcome)) }
        for scalar in LoopScalar.allCases { scalars[scalar.rawValue] &+= block.value(layout.scalar(scalar)) }
        for (group, name) in layout.upstreams.enumerated() {
            let at = layout.latency(group: group)
            var histogram = Histogram()
            for i in 0..<LatencyBuckets.count { histogram.buckets[i] = block.value(at + i) }
            histogram.sumMicros = block.value(at + LatencyBuckets.count)
            histogram.count = block.value(at + LatencyBuckets.count + 1)
            latency[name, default: Histogram()] += histogram
            for (index, server) in layout.servers[group].enumerated() {
                let series = ServerSeries(upstream: name, server: server)
                ejections[series, default: 0] &+= block.value(layout.server(group: group, server: index, .ejections))
                if gauges { pooled[series, default: 0] &+= block.value(layout.server(group: group, server: index, .pooled)) }
            }
        }
    }

    /// Adds the counters of `other` (a retired configuration's totals); its gauges are not carried.
    mutating func addCounters(_ other: MetricsSnapshot) {
        for (series, value) in other.requests { requests[series, default: 0] &+= value }
        for i in errors.indices { errors[i] &+= other.errors[i] }
        for i in rejections.indices { rejections[i] &+= other.rejections[i] }
        for i in idempotency.indices { idempotency[i] &+= other.idempotency[i] }
        for i in scalars.indices { scalars[i] &+= other.scalars[i] }
        for (name, histogram) in other.latency { latency[name, default: Histogram()] += histogram }
        for (series, value) in other.ejections { ejections[series, default: 0] &+= value }
    }
}
