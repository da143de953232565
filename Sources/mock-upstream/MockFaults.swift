import GatewayCore
#if canImport(Glibc)
import Glibc
#endif

/// Failure switches, read from the query of any /v1/ request. They win over the endpoint.
enum MockFaults {
    /// Answers (or refuses to answer) according to `fail=`; nil when the request asks for no fault.
    /// Otherwise returns whether the connection stays open.
    static func apply(_ ex: MockExchange, on conn: MockConnection) -> Bool? {
        guard let mode = ex.request.query["fail"], !mode.isEmpty else { return nil }
        let query = ex.request.query
        switch mode {
        case "html502":
            return conn.reply(ex, status: 502, contentType: "text/html", body: MockErrors.htmlPage(status: 502, reason: "Bad Gateway"))
        case "status":
            return conn.reply(ex, status: status(query, default: 500), contentType: nil, body: [])
        case "text":
            let code = status(query, default: 500)
            let text = query["message"] ?? "mock failure: status \(code)"
            return conn.reply(ex, status: code, contentType: "text/plain; charset=utf-8", body: Array((text + "\n").utf8))
        case "json":
            return conn.reply(ex, status: status(query, default: 500), contentType: "application/json", body: jsonError(ex))
        case "429", "503":
            return retryLater(ex, status: mode == "429" ? 429 : 503, on: conn)
        case "truncated_json":
            let full = jsonError(ex)
            return conn.reply(ex, status: status(query, default: 500), contentType: "application/json",
                              body: Array(full.prefix(full.count / 2)))
        case "oversized":
            let size = min(max(query.int("size") ?? 200 * 1024, 0), 64 << 20)
            let padding = String(repeating: "x", count: size)
            let body = MockErrors.body(code: query["code"] ?? MockErrors.code("internal_server_error", "SERVER_ERROR", ex.dialect),
                                       message: query["message"] ?? "oversized mock error",
                                       details: [("padding", .string(padding))], dialect: ex.dialect)
            return conn.reply(ex, status: status(query, default: 500), contentType: "application/json", body: body)
        case "close":
            conn.gracefulClose()
            return false
        case "fin_after":
            // A complete keep-alive answer with FIN in the same segment (corked, so the FIN rides
            // along): the connection must not be pooled.
            var on: Int32 = 1
            setsockopt(conn.fd, Int32(IPPROTO_TCP), TCP_CORK, &on, socklen_t(MemoryLayout<Int32>.size))
            _ = conn.reply(ex, status: 200, contentType: "application/json", body: Array("{\"success\":true}".utf8))
            conn.gracefulClose()
            return false
        case "reset":
            conn.abortiveClose()
            return false
        case "half":
            let out = ByteBuffer(capacity: 512)
            conn.appendHead(to: out, status: status(query, default: 200), contentType: "application/octet-stream",
                            framing: .length(1000), keepAlive: true, version: ex.request.version)
            out.append("0123456789")
            _ = conn.writeAll(out)
            conn.gracefulClose()
            return false
        case "stall":
            conn.drainUntilPeerCloses()
            return false
        default:
            let body = MockErrors.body(code: MockErrors.code("invalid_request", "VALIDATION_ERROR", ex.dialect),
                                       message: "unknown fail mode: \(mode)", details: [("fail", .string(mode))], dialect: ex.dialect)
            return conn.reply(ex, status: 400, contentType: "application/json", body: body)
        }
    }

    /// `status=NNN` when it is a usable final status (200...599), else `fallback`.
    static func status(_ query: MockQuery, default fallback: Int) -> Int {
        guard let n = query.int("status"), (200...599).contains(n) else { return fallback }
        return n
    }

    private static func jsonError(_ ex: MockExchange) -> [UInt8] {
        let query = ex.request.query
        return MockErrors.body(code: query["code"] ?? MockErrors.code("internal_server_error", "SERVER_ERROR", ex.dialect),
                               message: query["message"] ?? "mock failure", dialect: ex.dialect)
    }

    /// 429 or 503 with `Retry-After` as seconds (`retry_after=N`) or as an IMF-fixdate
    /// (`retry_after=date` = 30 s ahead, `retry_after=date:N` = N s ahead). No header without `retry_after`.
    private static func retryLater(_ ex: MockExchange, status: Int, on conn: MockConnection) -> Bool {
        let query = ex.request.query
        var extra: [(String, String)] = []
        var details: [(String, MockErrors.Detail)] = []
        if let value = query["retry_after"] {
            if value.hasPrefix("date") {
                var seconds = 30
                if value.hasPrefix("date:"), let n = Int(value.dropFirst(5)), n >= 0, n < 1 << 40 { seconds = n }
                extra.append(("Retry-After", imfFixdate(secondsFromNow: seconds)))
                details.append(("retry_after_s", .int(seconds)))
            } else {
                extra.append(("Retry-After", value))
                if let n = Int(value) { details.append(("retry_after_s", .int(n))) }
            }
        }
        let code = status == 429
            ? MockErrors.code("rate_limit_exceeded", "RATE_LIMITED", ex.dialect)
            : MockErrors.code("service_unavailable", "SERVICE_UNAVAILABLE", ex.dialect)
        let message = query["message"] ?? (status == 429 ? "Too many requests" : "Service temporarily unavailable")
        let body = MockErrors.body(code: query["code"] ?? code, message: message, details: details, dialect: ex.dialect)
        return conn.reply(ex, status: status, contentType: "application/json", body: body, extra: extra)
    }

    /// `Sun, 06 Nov 1994 08:49:37 GMT` for now + `secondsFromNow`.
    static func imfFixdate(secondsFromNow: Int) -> String {
        var t = time(nil) + secondsFromNow
        var parts = tm()
        gmtime_r(&t, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(days[Int(parts.tm_wday) % 7]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon) % 12]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
