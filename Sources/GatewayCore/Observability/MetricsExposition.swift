/// The families `/metrics` serves, written from one snapshot of the loops' counters and the
/// process-wide sources. Family and label names are the operator's interface: README lists them.
struct MetricsExposition {
    var snapshot: MetricsSnapshot
    /// The servers' shared health, read at `nowMillis` (the loops' monotonic clock).
    var health: UpstreamHealthTable?
    var nowMillis: UInt64
    var status: GatewayStatus
    var idempotency: IdempotencyGauges?
    var store: StoreStats?
    var accessLog: AccessLogStats?

    func render() -> String {
        var out = PrometheusText()
        traffic(&out)
        upstreams(&out)
        if let idempotency { Self.idempotency(idempotency, snapshot, &out) }
        if let store { Self.store(store, localAdmissions: snapshot[.storeLocalAdmissions], &out) }
        process(&out)
        return out.text
    }

    private func traffic(_ out: inout PrometheusText) {
        out.family("gateway_requests_total", .counter,
                   "Requests answered, by route prefix (none: no route matched or the request did not parse), method and status class.")
        for (series, value) in snapshot.requests.sorted(by: { ($0.key.route, $0.key.method, $0.key.statusClass) < ($1.key.route, $1.key.method, $1.key.statusClass) }) {
            out.sample("gateway_requests_total", [("route", series.route), ("method", series.method), ("status_class", series.statusClass)], value)
        }
        out.family("gateway_errors_total", .counter, "Answers the gateway produced itself, by error code (snake spelling).")
        for (i, kind) in GatewayErrorKind.allCases.enumerated() {
            out.sample("gateway_errors_total", [("code", kind.snakeCode)], snapshot.errors[i])
        }
        out.family("gateway_policy_rejections_total", .counter, "Requests refused by a rate limit, a concurrency limit or a daily quota, by limit and whose limit it was.")
        for limit in PolicyLimit.allCases {
            out.sample("gateway_policy_rejections_total", [("limit", limit.limit), ("scope", limit.scope)], snapshot.rejections[limit.rawValue])
        }
        out.family("gateway_client_connections_open", .gauge, "Client connections open now.")
        out.sample("gateway_client_connections_open", snapshot[.connectionsOpened] &- min(snapshot[.connectionsClosed], snapshot[.connectionsOpened]))
        out.family("gateway_client_connections_total", .counter, "Client connections accepted.")
        out.sample("gateway_client_connections_total", snapshot[.connectionsOpened])
        out.family("gateway_exchanges_in_flight", .gauge, "Requests received and not yet answered (or abandoned).")
        out.sample("gateway_exchanges_in_flight", snapshot[.exchangesStarted] &- min(snapshot[.exchangesEnded], snapshot[.exchangesStarted]))
        out.family("gateway_client_received_bytes_total", .counter, "Request bytes read from clients: heads and body payloads.")
        out.sample("gateway_client_received_bytes_total", snapshot[.bytesReceived])
        out.family("gateway_client_sent_bytes_total", .counter, "Response bytes written to clients.")
        out.sample("gateway_client_sent_bytes_total", snapshot[.bytesSent])
    }

    private func upstreams(_ out: inout PrometheusText) {
        out.family("gateway_upstream_response_seconds", .histogram,
                   "Time from starting an upstream attempt (connecting, or taking a pooled connection) to the upstream's response head.")
        for (name, histogram) in snapshot.latency.sorted(by: { $0.key < $1.key }) {
            Self.histogram("gateway_upstream_response_seconds", [("upstream", name)], histogram.buckets, sumMicros: histogram.sumMicros,
                           count: histogram.count, &out)
        }
        let servers = snapshot.ejections.keys.sorted { ($0.upstream, $0.server) < ($1.upstream, $1.server) }
        out.family("gateway_upstream_pooled_connections", .gauge, "Idle keep-alive connections to a server, over all loops' pools.")
        for series in servers where snapshot.pooled[series] != nil {
            out.sample("gateway_upstream_pooled_connections", [("upstream", series.upstream), ("server", series.server)], snapshot.pooled[series]!)
        }
        out.family("gateway_upstream_server_ejections_total", .counter, "Times passive health took a server out of rotation (max_fails failures in a row).")
        for series in servers {
            out.sample("gateway_upstream_server_ejections_total", [("upstream", series.upstream), ("server", series.server)], snapshot.ejections[series]!)
        }
        guard let health else { return }
        let states = health.groups.flatMap { group in group.servers.map { ($0, $0.snapshot(now: nowMillis).state) } }
        out.family("gateway_upstream_server_up", .gauge, "1 while a server is in rotation, 0 while it is out (ejected, or failing its health checks).")
        for (server, state) in states {
            out.sample("gateway_upstream_server_up", [("upstream", server.upstream), ("server", server.label)], UInt64(state == .up ? 1 : 0))
        }
        out.family("gateway_upstream_server_state", .gauge, "1 for the state a server is in: up, ejected (passive health) or failing_checks (active health checks).")
        for (server, state) in states {
            for candidate in [ServerHealthSnapshot.State.up, .ejected, .failingChecks] {
                out.sample("gateway_upstream_server_state", [("upstream", server.upstream), ("server", server.label), ("state", candidate.rawValue)],
                           UInt64(state == candidate ? 1 : 0))
            }
        }
    }

    private static func idempotency(_ gauges: IdempotencyGauges, _ snapshot: MetricsSnapshot, _ out: inout PrometheusText) {
        func counter(_ name: String, _ help: String, _ outcome: IdempotencyOutcome) {
            out.family(name, .counter, help)
            out.sample(name, snapshot.idempotency[outcome.rawValue])
        }
        counter("gateway_idempotency_stored_total", "Answers kept for their Idempotency-Key.", .stored)
        counter("gateway_idempotency_replays_total", "Requests answered from the idempotency store.", .replayed)
        counter("gateway_idempotency_released_total", "Keys freed after their request: an answer not kept (5xx, 429, ...) or none reached the upstream.", .released)
        counter("gateway_idempotency_outcome_unknown_total", "Keys locked until their ttl because the upstream may have acted without answering.", .markedUnknown)
        out.family("gateway_idempotency_conflicts_total", .counter,
                   "Requests refused for their Idempotency-Key, by reason (in_progress: the first request with the key is still in flight).")
        for outcome in IdempotencyOutcome.allCases {
            if let reason = outcome.conflictReason {
                out.sample("gateway_idempotency_conflicts_total", [("reason", reason)], snapshot.idempotency[outcome.rawValue])
            }
        }
        out.family("gateway_idempotency_evictions_total", .counter, "Completed entries evicted, least recently used first, to stay within max_memory.")
        out.sample("gateway_idempotency_evictions_total", gauges.evictions)
        out.family("gateway_idempotency_entries", .gauge, "Keys held: in flight, stored, or locked with an unknown outcome.")
        out.sample("gateway_idempotency_entries", UInt64(gauges.entries))
        out.family("gateway_idempotency_memory_bytes", .gauge, "Memory charged against max_memory.")
        out.sample("gateway_idempotency_memory_bytes", UInt64(gauges.memoryBytes))
        out.family("gateway_idempotency_memory_limit_bytes", .gauge, "max_memory.")
        out.sample("gateway_idempotency_memory_limit_bytes", UInt64(gauges.memoryLimitBytes))
        guard let journal = gauges.journal else { return }
        out.family("gateway_idempotency_journal_bytes", .gauge, "Size of the journal file.")
        out.sample("gateway_idempotency_journal_bytes", UInt64(max(journal.fileBytes, 0)))
        out.family("gateway_idempotency_journal_live_bytes", .gauge, "Part of the journal file that describes the entries held (compaction keeps only this).")
        out.sample("gateway_idempotency_journal_live_bytes", UInt64(max(journal.liveBytes, 0)))
        out.family("gateway_idempotency_journal_errors_total", .counter, "Journal operations that failed (each may lose records in a crash), by operation.")
        out.sample("gateway_idempotency_journal_errors_total", [("operation", "write")], UInt64(journal.writeErrors))
        out.sample("gateway_idempotency_journal_errors_total", [("operation", "fsync")], UInt64(journal.syncErrors))
        out.sample("gateway_idempotency_journal_errors_total", [("operation", "compaction")], UInt64(journal.compactionFailures))
        out.family("gateway_idempotency_journal_compactions_total", .counter, "Journal compactions completed.")
        out.sample("gateway_idempotency_journal_compactions_total", UInt64(journal.compactions))
    }

    private static func store(_ store: StoreStats, localAdmissions: UInt64, _ out: inout PrometheusText) {
        out.family("gateway_store_up", .gauge, "1 while every worker's connection to the shared store (store redis://...) is up, 0 while any breaker is open.")
        out.sample("gateway_store_up", UInt64(store.isUp ? 1 : 0))
        out.family("gateway_store_connections_up", .gauge, "Workers whose connection to the shared store is up (of gateway_store_workers).")
        out.sample("gateway_store_connections_up", UInt64(store.connectionsUp))
        out.family("gateway_store_workers", .gauge, "Workers, each with its own connections to the shared store.")
        out.sample("gateway_store_workers", UInt64(store.loopCount))
        out.family("gateway_store_commands_total", .counter,
                   "Commands sent to the shared store, by result (replied; timeout: no reply within store_command_timeout; unavailable: breaker open, connection lost or queue full).")
        for result in StoreStats.Result.allCases {
            out.sample("gateway_store_commands_total", [("result", result.label)], store.results(result))
        }
        out.family("gateway_store_round_trip_seconds", .histogram, "From queueing a command for the shared store to its reply.")
        let latency = store.latency
        histogram("gateway_store_round_trip_seconds", [], latency.buckets, sumMicros: latency.sumMicros, count: latency.count, &out)
        out.family("gateway_store_local_admissions_total", .counter,
                   "Requests the limits admitted from a worker's local allowance (store_sync local_burst), without a round trip to the shared store.")
        out.sample("gateway_store_local_admissions_total", localAdmissions)
    }

    /// One histogram series over `LatencyBuckets`: cumulative buckets, the sum in seconds, the count.
    private static func histogram(_ name: String, _ labels: [(String, String)], _ buckets: [UInt64], sumMicros: UInt64, count: UInt64,
                                  _ out: inout PrometheusText) {
        var cumulative: UInt64 = 0
        for (i, bucket) in buckets.enumerated() {
            cumulative &+= bucket
            let bound = i < LatencyBuckets.labels.count ? LatencyBuckets.labels[i] : "+Inf"
            out.sample(name + "_bucket", labels + [("le", bound)], cumulative)
        }
        out.sample(name + "_sum", labels, Double(sumMicros) / 1_000_000)
        out.sample(name + "_count", labels, count)
    }

    private func process(_ out: inout PrometheusText) {
        out.family("gateway_config_generation", .gauge, "The configuration in force: 1 at start, plus one per successful reload.")
        out.sample("gateway_config_generation", status.configGeneration)
        let reloads = status.reloads
        out.family("gateway_config_reloads_total", .counter, "Reloads, by result (a failed reload keeps the old configuration).")
        out.sample("gateway_config_reloads_total", [("result", "success")], reloads.succeeded)
        out.sample("gateway_config_reloads_total", [("result", "failure")], reloads.failed)
        out.family("gateway_draining", .gauge, "1 once graceful shutdown has begun.")
        out.sample("gateway_draining", UInt64(status.isDraining ? 1 : 0))
        out.family("gateway_start_time_seconds", .gauge, "Start time of the process since the Unix epoch.")
        out.sample("gateway_start_time_seconds", Double(status.startedAtWallMillis / 1000))
        if let accessLog {
            out.family("gateway_access_log_dropped_lines_total", .counter,
                       "Access log lines lost because the destination refused them (a full disk) or the writer fell behind.")
            out.sample("gateway_access_log_dropped_lines_total", accessLog.droppedLines)
            out.family("gateway_access_log_reopens_total", .counter, "Times SIGUSR1 reopened the access log file.")
            out.sample("gateway_access_log_reopens_total", accessLog.reopens)
        }
    }
}
