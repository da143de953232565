import XCTest
@testable import GatewayCore

/// Per-loop counters, their sum at scrape time, and the exposition text.
final class ObservabilityMetricsTests: XCTestCase {
    private let layout = MetricsLayout(routes: ["/v1/", "/v1/messages"], upstreams: ["messaging", "media"],
                                       servers: [["10.0.0.1:9000", "10.0.0.2:9000"], ["10.0.0.3:9000"]])

    func testLatencyBucketsAreInclusiveUpperBounds() {
        XCTAssertEqual(LatencyBuckets.index(micros: 0), 0)
        XCTAssertEqual(LatencyBuckets.index(micros: 1_000), 0, "le=0.001 holds exactly 1 ms")
        XCTAssertEqual(LatencyBuckets.index(micros: 1_001), 1)
        XCTAssertEqual(LatencyBuckets.index(micros: 30_000_000), LatencyBuckets.boundsMicros.count - 1)
        XCTAssertEqual(LatencyBuckets.index(micros: 30_000_001), LatencyBuckets.boundsMicros.count, "+Inf")
        XCTAssertEqual(LatencyBuckets.labels.count, LatencyBuckets.boundsMicros.count)
        for (label, bound) in zip(LatencyBuckets.labels, LatencyBuckets.boundsMicros) {
            XCTAssertEqual(Double(label)! * 1_000_000, Double(bound), accuracy: 0.5)
        }
    }

    func testEveryCellHasItsOwnPlace() {
        var seen = Set<Int>()
        for route in [nil, 0, 1] as [Int?] {
            for method in 0..<8 { for c in 0..<5 { seen.insert(layout.request(route: route, method: HTTPMethod(rawValue: UInt8(method))!, statusClass: c)) } }
        }
        for kind in GatewayErrorKind.allCases { seen.insert(layout.error(kind)) }
        for limit in PolicyLimit.allCases { seen.insert(layout.rejection(limit)) }
        for outcome in IdempotencyOutcome.allCases { seen.insert(layout.idempotency(outcome)) }
        for scalar in LoopScalar.allCases { seen.insert(layout.scalar(scalar)) }
        for group in 0..<2 { for i in 0..<MetricsLayout.latencyCells { seen.insert(layout.latency(group: group) + i) } }
        for (group, servers) in layout.servers.enumerated() {
            for server in servers.indices { for cell in ServerCell.allCases { seen.insert(layout.server(group: group, server: server, cell)) } }
        }
        XCTAssertEqual(seen.count, layout.cellCount)
        XCTAssertEqual(seen, Set(0..<layout.cellCount))
    }

    func testLoopsAreSummedByLabel() {
        let registry = MetricsRegistry()
        let a = registry.makeLoopMetrics(layout), b = registry.makeLoopMetrics(layout)
        a.countRequest(route: 0, method: .get, status: 200)
        b.countRequest(route: 0, method: .get, status: 204)
        b.countRequest(route: nil, method: .other, status: 404)
        a.countError(.resourceNotFound)
        b.countError(.resourceNotFound)
        a.countRejection(.routeRate)
        a.count(.connectionsOpened, 3)
        b.count(.connectionsClosed)
        a.observeUpstream(group: 1, micros: 1_500)
        b.observeUpstream(group: 1, micros: 40_000_000)
        a.setPooled(group: 0, server: 1, count: 4)
        b.setPooled(group: 0, server: 1, count: 2)
        a.serverEjected(group: 0, server: 0)

        let snapshot = registry.snapshot()
        XCTAssertEqual(snapshot.requests, [.init(route: "/v1/", method: "GET", statusClass: "2xx"): 2,
                                           .init(route: "none", method: "OTHER", statusClass: "4xx"): 1])
        XCTAssertEqual(snapshot.errors[GatewayErrorKind.allCases.firstIndex(of: .resourceNotFound)!], 2)
        XCTAssertEqual(snapshot.rejections[PolicyLimit.routeRate.rawValue], 1)
        XCTAssertEqual(snapshot[.connectionsOpened], 3)
        XCTAssertEqual(snapshot[.connectionsClosed], 1)
        let media = snapshot.latency["media"]!
        XCTAssertEqual(media.count, 2)
        XCTAssertEqual(media.sumMicros, 40_001_500)
        XCTAssertEqual(media.buckets[1], 1)
        XCTAssertEqual(media.buckets.last, 1, "+Inf")
        XCTAssertEqual(snapshot.pooled[.init(upstream: "messaging", server: "10.0.0.2:9000")], 6)
        XCTAssertEqual(snapshot.ejections[.init(upstream: "messaging", server: "10.0.0.1:9000")], 1)
    }

    /// A reload gives the loops new blocks; what the old ones counted stays in the totals, their
    /// pools do not.
    func testRetiredBlocksKeepTheirCountsNotTheirGauges() {
        let registry = MetricsRegistry()
        let old = registry.makeLoopMetrics(layout)
        old.countRequest(route: 1, method: .post, status: 201)
        old.setPooled(group: 0, server: 0, count: 9)
        let reloaded = MetricsLayout(routes: ["/v1/messages"], upstreams: ["messaging"], servers: [["10.0.0.1:9000"]])
        let new = registry.makeLoopMetrics(reloaded)
        new.countRequest(route: 0, method: .post, status: 202)
        registry.retire(old)
        registry.retire(old)
        let snapshot = registry.snapshot()
        XCTAssertEqual(snapshot.requests[.init(route: "/v1/messages", method: "POST", statusClass: "2xx")], 2)
        XCTAssertEqual(snapshot.pooled[.init(upstream: "messaging", server: "10.0.0.1:9000")], 0)
    }

    func testReadiness() {
        let down = Readiness.evaluate(listening: true, configGeneration: 1, draining: false, unhealthy: ["media"])
        XCTAssertEqual(down.problems, ["upstream media has no healthy server"])
        XCTAssertEqual(String(decoding: down.json(configGeneration: 1), as: UTF8.self),
                       "{\"status\":\"not_ready\",\"config_generation\":1,\"problems\":[\"upstream media has no healthy server\"]}\n")
        let fresh = Readiness.evaluate(listening: false, configGeneration: 0, draining: true, unhealthy: [])
        XCTAssertEqual(fresh.problems, ["not listening yet", "no configuration loaded", "draining"])
        let ready = Readiness.evaluate(listening: true, configGeneration: 3, draining: false, unhealthy: [])
        XCTAssertTrue(ready.isReady)
        XCTAssertEqual(String(decoding: ready.json(configGeneration: 3), as: UTF8.self), "{\"status\":\"ready\",\"config_generation\":3}\n")
    }

    func testPrometheusTextEscapesAndFormats() {
        var out = PrometheusText()
        out.family("x_total", .counter, "Help with \\ and\nnewline.")
        out.sample("x_total", [("route", "/a\"b\\c\nd"), ("method", "GET")], UInt64(7))
        out.sample("x_total", UInt64(0))
        out.family("y_seconds", .gauge, "Plain.")
        out.sample("y_seconds", 0.25)
        out.sample("y_seconds", [("le", "+Inf")], Double.infinity)
        XCTAssertEqual(out.text, """
        # HELP x_total Help with \\\\ and\\nnewline.
        # TYPE x_total counter
        x_total{route="/a\\"b\\\\c\\nd",method="GET"} 7
        x_total 0
        # HELP y_seconds Plain.
        # TYPE y_seconds gauge
        y_seconds 0.25
        y_seconds{le="+Inf"} +Inf

        """)
    }

    func testExpositionHasEveryFamilyAndCumulativeBuckets() {
        let registry = MetricsRegistry()
        let loop = registry.makeLoopMetrics(layout)
        loop.observeUpstream(group: 0, micros: 900)
        loop.observeUpstream(group: 0, micros: 3_000)
        loop.countIdempotency(.inProgress)
        let status = GatewayStatus(startedAtWallMillis: 1_800_000_000_123)
        status.configLoaded()
        status.reloadFailed()
        let gauges = IdempotencyGauges(entries: 3, memoryBytes: 900, memoryLimitBytes: 1 << 20, evictions: 2, journal: JournalStats())
        let health = UpstreamHealthTable(groups: [UpstreamHealth(config: UpstreamConfig(name: "messaging", servers: [
            UpstreamServer(host: "10.0.0.1", port: 9000), UpstreamServer(host: "10.0.0.2", port: 9000, maxFails: 1)]))])
        XCTAssertTrue(health.groups[0].servers[1].reportFailure(now: 1_000))
        let text = MetricsExposition(snapshot: registry.snapshot(), health: health, nowMillis: 2_000, status: status,
                                     idempotency: gauges, accessLog: AccessLogStats()).render()
        let lines = text.split(separator: "\n").map(String.init)
        for expected in [
            "gateway_upstream_response_seconds_bucket{upstream=\"messaging\",le=\"0.001\"} 1",
            "gateway_upstream_response_seconds_bucket{upstream=\"messaging\",le=\"0.0025\"} 1",
            "gateway_upstream_response_seconds_bucket{upstream=\"messaging\",le=\"0.005\"} 2",
            "gateway_upstream_response_seconds_bucket{upstream=\"messaging\",le=\"+Inf\"} 2",
            "gateway_upstream_response_seconds_sum{upstream=\"messaging\"} 0.0039",
            "gateway_upstream_response_seconds_count{upstream=\"messaging\"} 2",
            "gateway_upstream_server_up{upstream=\"messaging\",server=\"10.0.0.2:9000\"} 0",
            "gateway_upstream_server_up{upstream=\"messaging\",server=\"10.0.0.1:9000\"} 1",
            "gateway_upstream_server_state{upstream=\"messaging\",server=\"10.0.0.2:9000\",state=\"ejected\"} 1",
            "gateway_upstream_server_state{upstream=\"messaging\",server=\"10.0.0.2:9000\",state=\"up\"} 0",
            "gateway_idempotency_conflicts_total{reason=\"in_progress\"} 1",
            "gateway_idempotency_evictions_total 2",
            "gateway_config_generation 1",
            "gateway_config_reloads_total{result=\"failure\"} 1",
            "gateway_start_time_seconds 1800000000.0",
            "gateway_errors_total{code=\"bad_gateway\"} 0",
            "gateway_access_log_dropped_lines_total 0",
        ] {
            XCTAssertTrue(lines.contains(expected), "missing: \(expected)\n\(text)")
        }
        // Every family is announced once, before its samples.
        let families = lines.filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }
        XCTAssertEqual(families.count, Set(families).count)
        XCTAssertEqual(lines.filter { $0.hasPrefix("# HELP ") }.count, families.count)
    }
}
