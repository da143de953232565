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
    checkRoundTrip(head, p)

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
    require(head.targetLength > 0 && head.targetStart + head.targetLength < headLength, "target range")
    require(head.pathLength >= 0 && head.pathLength <= head.targetLength, "path length")
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
            if !field.known.isDroppedWhenForwarding && !ProxyHeadWriter.isNamedByConnection(field, head.facts, p) { kept += 1 }
        }
    }
    var expected = kept + 3 + (head.facts.first(.host) == nil ? 1 : 0)
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
