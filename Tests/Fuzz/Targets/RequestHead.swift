@testable import GatewayCore

/// Request heads (and the bodies their framing announces), pipelined one after another.
/// Input: byte 0 picks where the first head is split into two reads; the rest is the wire.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let split = Int(data[0])
    let wire = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    wire.withUnsafeBufferPointer { buffer in
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return }
        var start = 0
        // A bound on messages keeps one input cheap; pipelines of more add nothing new.
        for _ in 0..<8 where start < buffer.count {
            guard let used = message(base + start, count: buffer.count - start, split: split) else { return }
            start += used
        }
    }
    return 0
}

/// Small limits so the fuzzer reaches every limit check with short inputs.
private let limits = HeadLimits(maxStartLine: 200, maxHeadSize: 1_000, maxHeaders: 12)

/// Parses one message at `p`; the bytes it took, or nil when it failed or is incomplete.
private func message(_ p: UnsafePointer<UInt8>, count: Int, split: Int) -> Int? {
    var whole = RequestHeadParser(limits: limits)
    let status = whole.parse(p, count: count)

    // The same bytes arriving in two reads must give the same answer.
    var pieces = RequestHeadParser(limits: limits)
    let early = pieces.parse(p, count: min(split, count))
    let late = early == .needMore ? pieces.parse(p, count: count) : early
    // A limit may trip on a partial line before a syntax error further on is visible, so two
    // failures may differ in reason; a complete head must not depend on how the bytes arrived.
    require(late == status || (late.headLength == nil && status.headLength == nil && late != .needMore && status != .needMore),
            "split at \(split): \(late) versus \(status)")

    guard let headLength = status.headLength else { return nil }
    let head = whole.head
    checkOffsets(head, p, headLength: headLength, count: count)
    require(sameHead(head, p, pieces.head, p), "split parse found a different head")

    // As the gateway does: normalise the target in place (here in a copy of the head's bytes), then forward.
    var copy = Array(UnsafeBufferPointer(start: p, count: headLength))
    let normalized = copy.withUnsafeMutableBufferPointer { b -> Bool in
        var normalizer = whole
        guard normalizer.normalizeTarget(b.baseAddress!) == nil else { return false }
        checkNormalized(normalizer.head, b.baseAddress!, original: head, p)
        checkRoundTrip(normalizer.head, UnsafePointer(b.baseAddress!))
        return true
    }
    // A target that cannot be normalised is refused and the connection closed: nothing follows it.
    if !normalized { return nil }

    var decoder = BodyDecoder(framing: head.framing)
    let body = decodeBody(&decoder, p + headLength, count: count - headLength)
    require(decoder.payloadBytes == Int64(body.payload.count), "payloadBytes \(decoder.payloadBytes) vs \(body.payload.count)")
    if case .length(let n) = head.framing, body.outcome == .ended { require(Int64(body.payload.count) == n, "length body size") }
    return body.outcome == .ended ? headLength + body.consumed : nil
}

private func checkOffsets(_ head: RequestHead, _ p: UnsafePointer<UInt8>, headLength: Int, count: Int) {
    require(headLength >= 4 && headLength <= count, "head length \(headLength) of \(count)")
    require(Bytes.equals(p + headLength - 4, 4, "\r\n\r\n"), "head does not end in an empty line")
    require(head.methodLength > 0 && head.methodStart >= 0 && head.methodStart + head.methodLength < head.targetStart,
            "method range")
    require(head.targetLength >= 0 && head.targetStart + head.targetLength < headLength, "target range")
    require(head.pathLength >= 0 && head.queryLength >= 0, "path and query lengths")
    require(head.queryLength == 0 || p[head.queryStart] == UInt8(ascii: "?"), "query starts with ?")
    if head.authorityLength > 0 {
        require(head.authorityStart > head.methodStart + head.methodLength && head.authorityStart + head.authorityLength == head.pathStart,
                "authority range")
    } else {
        require(head.pathLength > 0 && p[head.pathStart] == UInt8(ascii: "/"), "origin-form path")
    }
    for field in head.facts.fields {
        let nameEnd = Int(field.nameStart) + Int(field.nameLength)
        let valueEnd = Int(field.valueStart) + Int(field.valueLength)
        require(field.nameStart > Int32(head.targetStart) && field.nameLength > 0 && nameEnd < Int(field.valueStart),
                "field name range")
        require(field.valueLength >= 0 && valueEnd <= headLength - 4, "field value range")
        require(p[nameEnd] == UInt8(ascii: ":"), "field name not followed by a colon")
    }
}

private func sameHead(_ a: RequestHead, _ pa: UnsafePointer<UInt8>, _ b: RequestHead, _ pb: UnsafePointer<UInt8>) -> Bool {
    a.method == b.method && a.framing == b.framing && a.version == b.version && a.expectContinue == b.expectContinue
        && a.facts.fields.count == b.facts.fields.count && a.keepAlive == b.keepAlive
        && a.methodLength == b.methodLength && Bytes.memcmpBytes(pa + a.methodStart, pb + b.methodStart, a.methodLength)
        && a.targetLength == b.targetLength && Bytes.memcmpBytes(pa + a.targetStart, pb + b.targetStart, a.targetLength)
}

/// The normalised path is canonical (no empty, `.` or `..` segment, escapes only of reserved
/// bytes, in upper case), no longer than the raw one, stable when normalised again, and followed
/// by the query exactly as sent.
private func checkNormalized(_ head: RequestHead, _ p: UnsafeMutablePointer<UInt8>, original: RequestHead,
                             _ raw: UnsafePointer<UInt8>) {
    let path = p + head.pathStart, n = head.pathLength
    require(n >= 1 && path[0] == UInt8(ascii: "/"), "normalised path starts with /")
    require(n <= max(original.pathLength, 1), "normalised path grew")
    require(head.queryStart == head.pathStart + n && head.queryLength == original.queryLength
            && Bytes.memcmpBytes(p + head.queryStart, raw + original.queryStart, head.queryLength), "query changed")
    var segmentStart = 1
    for i in 1...n {
        if i < n && path[i] != UInt8(ascii: "/") {
            require(path[i] != UInt8(ascii: "\\"), "backslash left")
            if path[i] == UInt8(ascii: "%") {
                require(i + 2 < n, "truncated escape")
                let hi = path[i + 1], lo = path[i + 2]
                let upper = { (b: UInt8) in (b >= 48 && b <= 57) || (b >= 65 && b <= 70) }
                require(upper(hi) && upper(lo), "escape not in upper-case hex")
                let value = Int(PathNormalizer.hexValue(hi)! << 4 | PathNormalizer.hexValue(lo)!)
                require(!PathNormalizer.unreserved[value] && value != 0x2F && value != 0x5C && value != 0, "escape left encoded")
            }
            continue
        }
        let length = i - segmentStart
        if i < n { require(length > 0, "empty segment") }
        let dot = length > 0 && path[segmentStart] == UInt8(ascii: ".")
        require(!(length == 1 && dot) && !(length == 2 && dot && path[segmentStart + 1] == UInt8(ascii: ".")), "dot-segment left")
        segmentStart = i + 1
    }
    var again = Array(UnsafeBufferPointer(start: path, count: n))
    let outcome = again.withUnsafeMutableBufferPointer { PathNormalizer.normalize($0.baseAddress!, count: n) }
    require(outcome == .normalized(length: n) && Bytes.memcmpBytes(again, path, n), "normalising twice changed the path")
}

/// What the gateway sends upstream must parse back to the same request.
private func checkRoundTrip(_ head: RequestHead, _ p: UnsafePointer<UInt8>) {
    let out = ByteBuffer(capacity: 256)
    let address: StaticString = "192.0.2.1", id: StaticString = "req-1", host: StaticString = "upstream"
    let facts = ProxyHeadWriter.ForwardingFacts(
        clientAddress: UnsafeRawBufferPointer(start: address.utf8Start, count: address.utf8CodeUnitCount),
        requestID: UnsafeRawBufferPointer(start: id.utf8Start, count: id.utf8CodeUnitCount), proto: "http",
        defaultHost: UnsafeRawBufferPointer(start: host.utf8Start, count: host.utf8CodeUnitCount))
    ProxyHeadWriter.writeRequest(head, from: p, framing: head.framing, facts: facts, into: out)

    var kept = 0
    for field in head.facts.fields {
        switch field.known {
        case .xRequestId, .xForwardedProto, .xForwardedFor: continue
        default:
            if field.known == .host && head.authorityLength > 0 { continue }
            if !field.known.isDroppedWhenForwarding && !ProxyHeadWriter.isNamedByConnection(field, head.facts, p) { kept += 1 }
        }
    }
    // Host: the client's, or the absolute-form authority in its place, or the default one.
    var expected = kept + 3 + (head.facts.first(.host) == nil || head.authorityLength > 0 ? 1 : 0)
    if head.framing != .none { expected += 1 }

    // The upstream's limits are its own; only the shape of the head matters here.
    var reparser = RequestHeadParser(limits: HeadLimits(maxStartLine: 1 << 20, maxHeadSize: 1 << 20, maxHeaders: 1 << 10))
    let again = reparser.parse(out.readPointer, count: out.readableCount)
    require(again == .complete(headLength: out.readableCount), "forwarded head does not re-parse: \(again)")
    let copy = reparser.head
    require(copy.method == head.method && copy.framing == head.framing, "forwarded method or framing changed")
    require(copy.targetLength == head.targetLength
            && Bytes.memcmpBytes(out.readPointer + copy.targetStart, p + head.targetStart, head.targetLength),
            "forwarded target changed")
    require(copy.facts.fields.count == expected, "forwarded \(copy.facts.fields.count) headers, expected \(expected)")
}
