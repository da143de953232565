/// Writes access log lines into a loop's buffer, straight from an `AccessLogRecord`: room for the
/// worst case is reserved once per line and every byte is a plain store, so no String is built
/// and no capacity is checked per byte. JSON lines escape every value (paths and ids come from
/// clients); text lines write bytes outside printable ASCII, quotes and backslashes as `\xHH`,
/// so a line stays one line.
public enum AccessLogEncoder {
    public static func append(_ record: AccessLogRecord, format: AccessLogConfig.Format, to out: ByteBuffer) {
        out.reserve(bound(record))
        let start = out.writePointer
        var w = LineWriter(start)
        switch format {
        case .json: json(record, &w)
        case .text: text(record, &w)
        }
        out.writeIndex += w.p - start
    }

    /// The fixed text and numbers (under 512 bytes), plus every value escaped at its worst: JSON
    /// escapes one byte into at most six.
    static func bound(_ r: AccessLogRecord) -> Int {
        let values = r.requestID.count + r.client.count + r.request.count
            + (r.route?.utf8.count ?? 0) + (r.upstream?.utf8.count ?? 0) + (r.server?.utf8.count ?? 0)
        return 512 + 6 * values
    }

    private static func json(_ r: AccessLogRecord, _ w: inout LineWriter) {
        w.put("{\"time\":\"")
        w.time(wallMillis: r.wallMillis)
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
        quoted(r.route, &w)
        w.put(",\"status\":")
        w.decimal(UInt64(max(r.status, 0)))
        w.put(",\"error\":")
        quoted(r.error?.snakeCode, &w)
        w.put(",\"key\":")
        if let fingerprint = r.keyFingerprint {
            w.put(UInt8(ascii: "\""))
            w.hex(fingerprint)
            w.put(UInt8(ascii: "\""))
        } else {
            w.put("null")
        }
        w.put(",\"upstream\":")
        quoted(r.upstream, &w)
        w.put(",\"server\":")
        quoted(r.server, &w)
        w.put(",\"upstream_us\":")
        number(r.upstreamMicros, &w)
        w.put(",\"total_us\":")
        w.decimal(r.totalMicros)
        w.put(",\"bytes_in\":")
        w.decimal(r.bytesIn)
        w.put(",\"bytes_out\":")
        w.decimal(r.bytesOut)
        w.put(",\"idempotency\":\"")
        w.put(r.idempotency.logValue)
        w.put("\",\"ratelimit_remaining\":")
        number(r.rateLimitRemaining.map { UInt64(max($0, 0)) }, &w)
        w.put("}\n")
    }

    private static func text(_ r: AccessLogRecord, _ w: inout LineWriter) {
        w.time(wallMillis: r.wallMillis)
        w.put(0x20)
        plain(r.client, &w)
        r.request.withUnsafeBufferPointer { bytes in
            guard r.methodLength > 0 else { return w.put(" - -") }
            w.put(0x20)
            w.plain(UnsafeBufferPointer(rebasing: bytes[..<r.methodLength]))
            w.put(0x20)
            plain(UnsafeBufferPointer(rebasing: bytes[r.methodLength...]), &w)
        }
        w.put(0x20)
        w.decimal(UInt64(max(r.status, 0)))
        w.put(0x20)
        w.decimal(r.totalMicros)
        w.put("us id=")
        plain(r.requestID, &w)
        w.put(" route=")
        plain(r.route, &w)
        w.put(" error=")
        plain(r.error?.snakeCode, &w)
        w.put(" key=")
        if let fingerprint = r.keyFingerprint { w.hex(fingerprint) } else { w.put("-") }
        w.put(" upstream=")
        plain(r.upstream, &w)
        w.put(" server=")
        plain(r.server, &w)
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

    private static func quoted(_ text: String?, _ w: inout LineWriter) {
        guard let text else { return w.put("null") }
        w.put(UInt8(ascii: "\""))
        utf8(text) { w.escaped($0) }
        w.put(UInt8(ascii: "\""))
    }

    private static func number(_ value: UInt64?, _ w: inout LineWriter) {
        if let value { w.decimal(value) } else { w.put("null") }
    }

    /// `-` for a missing or empty value.
    private static func plain(_ text: String?, _ w: inout LineWriter) {
        guard let text, !text.isEmpty else { return w.put("-") }
        utf8(text) { w.plain($0) }
    }

    private static func plain(_ bytes: [UInt8], _ w: inout LineWriter) {
        bytes.withUnsafeBufferPointer { plain($0, &w) }
    }

    private static func plain(_ bytes: UnsafeBufferPointer<UInt8>, _ w: inout LineWriter) {
        if bytes.isEmpty { w.put("-") } else { w.plain(bytes) }
    }

    /// A configured name's bytes without copying them (native strings are contiguous).
    private static func utf8(_ text: String, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        if text.utf8.withContiguousStorageIfAvailable(body) == nil {
            var copy = text
            copy.withUTF8(body)
        }
    }
}
