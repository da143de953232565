@testable import GatewayCore

/// Upstream response heads and their bodies. Input: byte 0 picks the request method (HEAD
/// changes the framing) and where the head is split into two reads; the rest is the wire.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 1 else { return 0 }
    let method: HTTPMethod = data[0] & 1 == 0 ? .get : .head
    let split = Int(data[0] >> 1)
    let p = data + 1, count = size - 1
    let limits = HeadLimits(maxStartLine: 200, maxHeadSize: 1_000, maxHeaders: 12)

    var whole = ResponseHeadParser(limits: limits)
    let status = whole.parse(p, count: count)
    var pieces = ResponseHeadParser(limits: limits)
    let early = pieces.parse(p, count: min(split, count))
    let late = early == .needMore ? pieces.parse(p, count: count) : early
    require(late == status || (late.headLength == nil && status.headLength == nil && late != .needMore && status != .needMore),
            "split at \(split): \(late) versus \(status)")
    guard let headLength = status.headLength else { return 0 }

    let head = whole.head
    require(headLength >= 4 && headLength <= count && Bytes.equals(p + headLength - 4, 4, "\r\n\r\n"), "head length")
    require(head.status >= 100 && head.status <= 999, "status \(head.status)")
    require(head.reasonStart >= 12 && head.reasonStart + head.reasonLength <= headLength - 4, "reason range")
    for field in head.facts.fields {
        require(Int(field.valueStart) + Int(field.valueLength) <= headLength - 4 && field.nameLength > 0, "field range")
    }
    let framing = head.framing(requestMethod: method)
    require(pieces.head.status == head.status && pieces.head.framing(requestMethod: method) == framing,
            "split parse found a different head")

    checkRoundTrip(head, p, framing: clientFraming(framing, head: head, method: method), method: method)

    var decoder = BodyDecoder(framing: framing)
    let body = decodeBody(&decoder, p + headLength, count: count - headLength)
    require(decoder.payloadBytes == Int64(body.payload.count), "payloadBytes")
    if framing == .untilClose { require(body.outcome == .incomplete && decoder.endsAtClose, "close-delimited body ended") }
    return 0
}

/// The framing ClientConnection picks for an HTTP/1.1 client (GatewayIO, not linked here):
/// an empty body gets an explicit length, a streamed one is re-chunked.
private func clientFraming(_ framing: BodyFraming, head: ResponseHead, method: HTTPMethod) -> BodyFraming {
    switch framing {
    case .none: return method == .head || head.status < 200 || head.status == 204 || head.status == 304 ? .none : .length(0)
    case .length: return framing
    case .chunked, .untilClose: return .chunked
    }
}

/// The head the gateway relays to its client must parse back with the same status and framing.
private func checkRoundTrip(_ head: ResponseHead, _ p: UnsafePointer<UInt8>, framing: BodyFraming, method: HTTPMethod) {
    let out = ByteBuffer(capacity: 256)
    let id: StaticString = "req-1"
    ProxyHeadWriter.writeResponse(head, from: p, framing: framing,
                                  requestID: UnsafeRawBufferPointer(start: id.utf8Start, count: id.utf8CodeUnitCount),
                                  connection: .close, extraHeaders: UnsafeRawBufferPointer(start: nil, count: 0), into: out)
    var reparser = ResponseHeadParser(limits: HeadLimits(maxStartLine: 1 << 20, maxHeadSize: 1 << 20, maxHeaders: 1 << 10))
    let again = reparser.parse(out.readPointer, count: out.readableCount)
    require(again == .complete(headLength: out.readableCount), "relayed head does not re-parse: \(again)")
    require(reparser.head.status == head.status, "relayed status changed")
    let relayed = reparser.head.framing(requestMethod: method)
    require(relayed == framing || (relayed == .none && framing == .length(0)), "relayed framing \(relayed) versus \(framing)")
}
