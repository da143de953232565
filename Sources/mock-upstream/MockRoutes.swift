#if canImport(Glibc)
import Glibc
#endif
import GatewayCore

/// A request whose body has been read, with what the endpoints need to answer it.
struct MockExchange {
    let request: MockRequest
    let dialect: MockDialect
    let bodyLength: Int
    let bodySHA256: String
}

extension MockConnection {
    /// A complete Content-Length answer to `ex`, honouring HEAD and keep-alive.
    func reply(_ ex: MockExchange, status: Int, contentType: String?, body: [UInt8], extra: [(String, String)] = []) -> Bool {
        respond(status: status, contentType: contentType, body: body, keepAlive: ex.request.keepAlive,
                version: ex.request.version, headOnly: ex.request.method == .head, extra: extra)
    }
}

/// Endpoint dispatch. Returns whether the connection stays open for the next request.
enum MockRoutes {
    static func handle(_ request: MockRequest, on conn: MockConnection) -> Bool {
        var dialect = conn.config.dialect
        if let name = request.query["dialect"], let chosen = MockDialect(name) { dialect = chosen }
        let isControl = request.path.hasPrefix("/__mock/")
        if !isControl { conn.requestCount = MockStats.shared.record(method: request.methodText, path: request.path) }

        if !isControl && request.query["fail"] == "wedge" {
            // An upstream that accepted the request and stopped reading (GC pause, full worker pool).
            conn.wedgeUntilPeerCloses(maxMs: min(request.query.int("wedge_ms") ?? 60_000, 600_000))
            return false
        }
        let hasher = SHA256Stream()
        var length = 0
        switch conn.consumeBody(request, { chunk in hasher.update(chunk.baseAddress, count: chunk.count); length += chunk.count }) {
        case .complete:
            break
        case .eof:
            return false
        case .malformed:
            let body = MockErrors.body(code: MockErrors.code("invalid_request", "VALIDATION_ERROR", dialect),
                                       message: "malformed request body", dialect: dialect)
            _ = conn.respond(status: 400, contentType: "application/json", body: body, keepAlive: false, version: request.version)
            return false
        }
        let ex = MockExchange(request: request, dialect: dialect, bodyLength: length, bodySHA256: KeyHash.hex(hasher.finish()))

        if isControl { return control(ex, on: conn) }
        if request.path.hasPrefix("/v1/") {
            if let ms = request.query.int("delay_ms"), ms >= 0 {
                let capped = min(ms, 600_000)
                conn.delayMs = capped
                if capped > 0 { sleepMilliseconds(capped) }
            }
            if let keepOpen = MockFaults.apply(ex, on: conn) { return keepOpen }
            return v1(ex, on: conn)
        }
        if request.path == "/healthz" {
            let status = MockHealth.status
            let body = (200...399).contains(status) ? "{\"status\":\"ok\"}" : "{\"status\":\"failing\"}"
            return conn.reply(ex, status: status, contentType: "application/json", body: Array(body.utf8))
        }
        return notFound(ex, on: conn)
    }

    private static func sleepMilliseconds(_ ms: Int) {
        var request = timespec(tv_sec: ms / 1000, tv_nsec: (ms % 1000) * 1_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }

    private static func v1(_ ex: MockExchange, on conn: MockConnection) -> Bool {
        let segments = ex.request.path.utf8.dropFirst(4).split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        let method = ex.request.method
        let reading = method == .get || method == .head
        switch (segments.count, segments.first ?? "") {
        case (2, "messages") where segments[1] == "text" && method == .post:
            let id = "msg_\(MockStats.shared.nextMessageNumber())"
            return success(ex, status: 201, id: id, state: "queued", on: conn)
        case (2, "sessions") where reading && !segments[1].isEmpty:
            return session(ex, id: segments[1], on: conn)
        case (2, "messages") where reading && !segments[1].isEmpty:
            if segments[1] == "missing" {
                return error(ex, 404, "message_not_found", "MESSAGE_NOT_FOUND", "Message not found",
                             [("message_id", .string(segments[1]))], on: conn)
            }
            return success(ex, status: 200, id: segments[1], state: "delivered", on: conn)
        case (1, "echo"):
            return echo(ex, on: conn)
        case (1, "tunnel") where method == .get:
            return conn.switchToEchoTunnel(ex)
        case (1, "upload") where method == .post || method == .put:
            var out = JSONOut()
            out.raw("{\"received\":")
            out.int(ex.bodyLength)
            out.raw(",\"sha256\":")
            out.string(ex.bodySHA256)
            out.raw("}")
            return conn.reply(ex, status: 200, contentType: "application/json", body: out.bytes)
        case (2, "bytes") where reading:
            return MockBytes.serve(ex, count: segments[1], on: conn)
        default:
            return generic(ex, on: conn)
        }
    }

    private static func session(_ ex: MockExchange, id: String, on conn: MockConnection) -> Bool {
        switch id {
        case "missing":
            return error(ex, 404, "session_not_found", "SESSION_NOT_FOUND", "Session not found",
                         [("session_id", .string(id))], on: conn)
        case "disconnected":
            return error(ex, 409, "session_disconnected", "SESSION_DISCONNECTED", "Session is disconnected; reconnect the phone",
                         [("session_id", .string(id))], on: conn)
        default:
            return success(ex, status: 200, id: id, state: "connected", on: conn)
        }
    }

    /// `{"success":true,"data":{"id":ID,"status":STATE}}`
    private static func success(_ ex: MockExchange, status: Int, id: String, state: String, on conn: MockConnection) -> Bool {
        var out = JSONOut()
        out.raw("{\"success\":true,\"data\":{\"id\":")
        out.string(id)
        out.raw(",\"status\":")
        out.string(state)
        out.raw("}}")
        return conn.reply(ex, status: status, contentType: "application/json", body: out.bytes)
    }

    /// `{"success":true,"data":{"method":..,"path":..,"body_length":n}}` for any other /v1/ request.
    private static func generic(_ ex: MockExchange, on conn: MockConnection) -> Bool {
        var out = JSONOut()
        out.raw("{\"success\":true,\"data\":{\"method\":")
        out.string(ex.request.methodText)
        out.raw(",\"path\":")
        out.string(ex.request.path)
        out.raw(",\"body_length\":")
        out.int(ex.bodyLength)
        out.raw("}}")
        return conn.reply(ex, status: 200, contentType: "application/json", body: out.bytes)
    }

    private static func echo(_ ex: MockExchange, on conn: MockConnection) -> Bool {
        var out = JSONOut(capacity: 1024)
        out.raw("{\"method\":")
        out.string(ex.request.methodText)
        out.raw(",\"target\":")
        out.string(ex.request.target)
        out.raw(",\"headers\":[")
        for (i, field) in ex.request.headers.enumerated() {
            if i > 0 { out.raw(",") }
            out.raw("[")
            out.string(bytes: field.name)
            out.raw(",")
            out.string(bytes: field.value)
            out.raw("]")
        }
        out.raw("],\"body_length\":")
        out.int(ex.bodyLength)
        out.raw(",\"body_sha256\":")
        out.string(ex.bodySHA256)
        out.raw("}")
        return conn.reply(ex, status: 200, contentType: "application/json", body: out.bytes)
    }

    private static func control(_ ex: MockExchange, on conn: MockConnection) -> Bool {
        switch (ex.request.method, ex.request.path) {
        case (.get, "/__mock/stats"), (.head, "/__mock/stats"):
            conn.requestCount = MockStats.shared.total
            return conn.reply(ex, status: 200, contentType: "application/json", body: MockStats.shared.json())
        case (.post, "/__mock/health"):
            // What /healthz answers from now on: `status=503` makes health checks fail, `status=200` recovers.
            let status = MockFaults.status(ex.request.query, default: 200)
            MockHealth.status = status
            return conn.reply(ex, status: 200, contentType: "application/json", body: Array("{\"healthz_status\":\(status)}".utf8))
        case (.post, "/__mock/reset"):
            MockStats.shared.reset()
            conn.requestCount = 0
            return conn.reply(ex, status: 200, contentType: "application/json", body: Array("{\"reset\":true}".utf8))
        default:
            return notFound(ex, on: conn)
        }
    }

    private static func notFound(_ ex: MockExchange, on conn: MockConnection) -> Bool {
        error(ex, 404, "resource_not_found", "NOT_FOUND", "No mock endpoint for this path",
              [("path", .string(ex.request.path))], on: conn)
    }

    static func error(_ ex: MockExchange, _ status: Int, _ snake: String, _ upper: String, _ message: String,
                      _ details: [(String, MockErrors.Detail)] = [], on conn: MockConnection) -> Bool {
        let body = MockErrors.body(code: MockErrors.code(snake, upper, ex.dialect), message: message, details: details, dialect: ex.dialect)
        return conn.reply(ex, status: status, contentType: "application/json", body: body)
    }
}
