import Glibc

/// Finds CRLF-terminated lines incrementally, so bytes that trickle in are never rescanned.
struct HeadLineScanner {
    var lineStart = 0
    var scanned = 0

    enum Step { case line(start: Int, length: Int), needMore, bareLineFeed }

    mutating func reset() { lineStart = 0; scanned = 0 }

    mutating func next(_ p: UnsafePointer<UInt8>, _ count: Int) -> Step {
        if scanned >= count { return .needMore }
        guard let hit = memchr(p + scanned, 0x0A, count - scanned) else {
            scanned = count
            return .needMore
        }
        let lf = UnsafePointer<UInt8>(hit.assumingMemoryBound(to: UInt8.self)) - p
        if lf == lineStart || p[lf - 1] != 0x0D { return .bareLineFeed }
        let start = lineStart
        lineStart = lf + 1
        scanned = lf + 1
        return .line(start: start, length: lf - 1 - start)
    }
}

/// Parses one header line into `facts`, enforcing RFC 9112 §5 strictly: smuggling lives in leniency.
enum HeaderLineParser {
    static func parse(_ p: UnsafePointer<UInt8>, start: Int, length: Int, into facts: inout HeaderFacts) -> HTTPParseError? {
        let end = start + length
        if p[start] == 0x20 || p[start] == 0x09 { return .malformed("obsolete line folding is not accepted") }
        var i = SWAR.tokenEnd(p, from: start, to: end)
        if i == start { return .malformed("header line without a name") }
        if i == end || p[i] != UInt8(ascii: ":") {
            return .malformed("invalid character in header name (whitespace before colon?)")
        }
        let nameLength = i - start
        i += 1
        while i < end && (p[i] == 0x20 || p[i] == 0x09) { i += 1 }
        var valueEnd = end
        while valueEnd > i && (p[valueEnd - 1] == 0x20 || p[valueEnd - 1] == 0x09) { valueEnd -= 1 }
        if SWAR.fieldValueEnd(p, from: i, to: valueEnd) != valueEnd { return .malformed("invalid character in header value") }
        let known = KnownHeader.classify(p + start, nameLength)
        let field = HeaderField(nameStart: Int32(start), nameLength: Int32(nameLength),
                                valueStart: Int32(i), valueLength: Int32(valueEnd - i), known: known)
        facts.fields.append(field)
        return apply(field, p + i, valueEnd - i, to: &facts)
    }

    /// Folds framing and connection headers into the facts as they are seen.
    private static func apply(_ field: HeaderField, _ v: UnsafePointer<UInt8>, _ n: Int, to facts: inout HeaderFacts) -> HTTPParseError? {
        switch field.known {
        case .contentLength:
            return applyContentLength(v, n, to: &facts)
        case .transferEncoding:
            // Only a final `chunked` frames a body; anything after chunked is an attack or a bug.
            var error: HTTPParseError?
            Bytes.forEachListElement(v, n) { e, len in
                if facts.chunked { error = .malformed("transfer-coding after chunked") }
                facts.chunked = Bytes.equalsLowercase(e, len, "chunked")
                if !facts.chunked { facts.otherTransferCoding = true }
            }
            facts.transferEncodingSeen = true
            return error
        case .connection:
            Bytes.forEachListElement(v, n) { e, len in
                if Bytes.equalsLowercase(e, len, "close") {
                    facts.connectionClose = true
                } else if Bytes.equalsLowercase(e, len, "keep-alive") {
                    facts.connectionKeepAlive = true
                } else if Bytes.equalsLowercase(e, len, "upgrade") {
                    // Names the Upgrade field, which is hop-by-hop anyway.
                    facts.connectionUpgrade = true
                } else {
                    facts.connectionNamesOthers = true
                }
            }
            return nil
        default:
            return nil
        }
    }

    /// RFC 9110 §8.6: a list may be collapsed only when every member is the same valid number.
    /// An empty member (`,5`, `5,`, `5,,5`, an empty line next to a valid one) is refused, as
    /// nginx and HAProxy do: it is what a broken or malicious intermediary produces.
    private static func applyContentLength(_ v: UnsafePointer<UInt8>, _ n: Int, to facts: inout HeaderFacts) -> HTTPParseError? {
        if n == 0 { return .malformed("empty Content-Length") }
        // The usual value is one plain number: no list to split.
        if let length = Bytes.parseDecimal(v, n) { return record(length, in: &facts) }
        var start = 0
        var i = 0
        while i <= n {
            if i == n || v[i] == UInt8(ascii: ",") {
                var s = start, e = i
                while s < e && (v[s] == 0x20 || v[s] == 0x09) { s += 1 }
                while e > s && (v[e - 1] == 0x20 || v[e - 1] == 0x09) { e -= 1 }
                if s == e { return .malformed("empty element in Content-Length list") }
                guard let parsed = Bytes.parseDecimal(v + s, e - s) else { return .malformed("invalid Content-Length") }
                if let error = record(parsed, in: &facts) { return error }
                start = i + 1
            }
            i += 1
        }
        return nil
    }

    private static func record(_ length: Int64, in facts: inout HeaderFacts) -> HTTPParseError? {
        if facts.contentLength >= 0 && facts.contentLength != length { return .malformed("conflicting Content-Length values") }
        facts.contentLength = length
        return nil
    }
}
