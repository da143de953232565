/// Writes one loop's access log lines into its buffer, straight from an `AccessLogRecord`: room
/// for the worst case is reserved once per line and every byte is a plain store; the
/// configuration's names (route prefixes, upstream names, server addresses) were escaped once,
/// and the date and time once per second, so a line copies them. JSON lines escape every value
/// from a request (paths, ids); text lines write bytes outside printable ASCII, quotes and
/// backslashes as `\xHH`, so a line stays one line.
public struct AccessLogEncoder {
    public let format: AccessLogConfig.Format
    /// Escaped for `format`, by route index, group index, and group then server index.
    private let routes: [[UInt8]]
    private let upstreams: [[UInt8]]
    private let servers: [[[UInt8]]]
    /// Error codes in the snake spelling (letters and underscores: nothing to escape).
    private let errorCodes = Dictionary(uniqueKeysWithValues: GatewayErrorKind.allCases.map { ($0, Array($0.snakeCode.utf8)) })
    private let longestName: Int
    /// `2026-11-30T12:00:00.` for `second`.
    private var stamp = [UInt8](repeating: 0, count: 20)
    private var second = UInt64.max

    /// `layout` names the configuration's routes, upstreams and servers.
    public init(format: AccessLogConfig.Format, layout: MetricsLayout) {
        self.format = format
        let escape = { (name: String) -> [UInt8] in
            var bytes = Array(name.utf8)
            var out = [UInt8](repeating: 0, count: bytes.count * 6)
            let written = out.withUnsafeMutableBufferPointer { room in
                bytes.withUnsafeMutableBufferPointer { name in
                    var w = LineWriter(room.baseAddress!)
                    if format == .json { w.escaped(UnsafeBufferPointer(name)) } else { w.plain(UnsafeBufferPointer(name)) }
                    return w.p - room.baseAddress!
                }
            }
            bytes = Array(out[..<written])
            return bytes
        }
        routes = layout.routes.map(escape)
        upstreams = layout.upstreams.map(escape)
        servers = layout.servers.map { $0.map(escape) }
        longestName = (routes + upstreams + servers.flatMap { $0 }).map(\.count).max() ?? 0
    }

    public mutating func append(_ record: AccessLogRecord, to out: ByteBuffer) {
        out.reserve(bound(record))
        let start = out.writePointer
        var w = LineWriter(start)
        switch format {
        case .json: json(record, &w)
        case .text: text(record, &w)
        }
        out.writeIndex += w.p - start
    }

    /// The fixed text and numbers (under 512 bytes), three names, and every value from the request
    /// escaped at its worst: JSON escapes one byte into at most six.
    func bound(_ r: AccessLogRecord) -> Int {
        512 + 3 * longestName + 6 * (r.requestID.count + r.client.count + r.request.count)
    }

    private mutating func json(_ r: AccessLogRecord, _ w: inout LineWriter) {
        w.put("{\"time\":\"")
        time(r.wallMillis, &w)
        w.put("\",\"request_id\":\"")
        r.requestID.withUnsafeBufferPointer { w.escaped($0) }
        w.put("\",\"client\":\"")
        r.client.withUnsafeBufferPointer { w.escaped($0) }
        w.put("\",\"method\":")
        r.request.withUnsafeBufferPointer { bytes in
            guard r.methodLength > 0 else { return w.put("null,\"path\":null") }
            w.put(UInt8(ascii: "\""))
            w.escaped(UnsafeBufferPointer(rebasing: bytes[..<r.methodLength]))
            w.put("\",\"path\":\"")
            w.escaped(UnsafeBufferPointer(rebasing: bytes[r.methodLength...]))
            w.put(UInt8(ascii: "\""))
        }
        w.put(",\"route\":")
        quoted(r.route.map { routes[$0] }, &w)
        w.put(",\"status\":")
        w.decimal(UInt64(max(r.status, 0)))
        w.put(",\"error\":")
        quoted(r.error.flatMap { errorCodes[$0] }, &w)
        w.put(",\"key\":")
        if let fingerprint = r.keyFingerprint {
            w.put(UInt8(ascii: "\""))
            w.hex(fingerprint)
            w.put(UInt8(ascii: "\""))
        } else {
            w.put("null")
        }
        w.put(",\"upstream\":")
        quoted(r.upstream.map { upstreams[$0.group] }, &w)
        w.put(",\"server\":")
        quoted(r.upstream.map { servers[$0.group][$0.server] }, &w)
        w.put(",\"upstream_us\":")
        if let micros = r.upstreamMicros { w.decimal(micros) } else { w.put("null") }
        w.put(",\"total_us\":")
        w.decimal(r.totalMicros)
        w.put(",\"bytes_in\":")
        w.decimal(r.bytesIn)
        w.put(",\"bytes_out\":")
        w.decimal(r.bytesOut)
        w.put(",\"idempotency\":\"")
        w.put(r.idempotency.logValue)
        w.put("\",\"ratelimit_remaining\":")
        if let remaining = r.rateLimitRemaining { w.decimal(UInt64(max(remaining, 0))) } else { w.put("null") }
        w.put("}\n")
    }

    private mutating func text(_ r: AccessLogRecord, _ w: inout LineWriter) {
        time(r.wallMillis, &w)
        w.put(0x20)
        plain(r.client, &w)
        r.request.withUnsafeBufferPointer { bytes in
            guard r.methodLength > 0 else { return w.put(" - -") }
            w.put(0x20)
            w.plain(UnsafeBufferPointer(rebasing: bytes[..<r.methodLength]))
            w.put(0x20)
            let path = UnsafeBufferPointer(rebasing: bytes[r.methodLength...])
            if path.isEmpty { w.put("-") } else { w.plain(path) }
        }
        w.put(0x20)
        w.decimal(UInt64(max(r.status, 0)))
        w.put(0x20)
        w.decimal(r.totalMicros)
        w.put("us id=")
        plain(r.requestID, &w)
        w.put(" route=")
        named(r.route.map { routes[$0] }, &w)
        w.put(" error=")
        named(r.error.flatMap { errorCodes[$0] }, &w)
        w.put(" key=")
        if let fingerprint = r.keyFingerprint { w.hex(fingerprint) } else { w.put("-") }
        w.put(" upstream=")
        named(r.upstream.map { upstreams[$0.group] }, &w)
        w.put(" server=")
        named(r.upstream.map { servers[$0.group][$0.server] }, &w)
        w.put(" upstream_us=")
        if let micros = r.upstreamMicros { w.decimal(micros) } else { w.put("-") }
        w.put(" in=")
        w.decimal(r.bytesIn)
        w.put(" out=")
        w.decimal(r.bytesOut)
        w.put(" idempotency=")
        w.put(r.idempotency.logValue)
        w.put(" ratelimit_remaining=")
        if let remaining = r.rateLimitRemaining { w.decimal(UInt64(max(remaining, 0))) } else { w.put("-") }
        w.put(0x0A)
    }

    // MARK: Values

    /// RFC 3339 in UTC with milliseconds; everything up to the milliseconds is formatted once per second.
    private mutating func time(_ wallMillis: UInt64, _ w: inout LineWriter) {
        let now = wallMillis / 1000
        if now != second {
            second = now
            stamp.withUnsafeMutableBufferPointer { room in
                var s = LineWriter(room.baseAddress!)
                s.time(wallMillis: wallMillis)
            }
        }
        stamp.withUnsafeBufferPointer { w.put(UnsafeBufferPointer(rebasing: $0[..<20])) }
        w.digits(Int(wallMillis % 1000), 3)
        w.put(UInt8(ascii: "Z"))
    }

    private func quoted(_ name: [UInt8]?, _ w: inout LineWriter) {
        guard let name else { return w.put("null") }
        w.put(UInt8(ascii: "\""))
        name.withUnsafeBufferPointer { w.put($0) }
        w.put(UInt8(ascii: "\""))
    }

    /// `-` for a missing or empty name.
    private func named(_ name: [UInt8]?, _ w: inout LineWriter) {
        guard let name, !name.isEmpty else { return w.put("-") }
        name.withUnsafeBufferPointer { w.put($0) }
    }

    private func plain(_ bytes: [UInt8], _ w: inout LineWriter) {
        bytes.withUnsafeBufferPointer { if $0.isEmpty { w.put("-") } else { w.plain($0) } }
    }
}
