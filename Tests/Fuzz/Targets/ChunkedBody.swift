@testable import GatewayCore

/// The chunked decoder, differentially: the body decoded in one read must equal the body decoded
/// from the same bytes cut into arbitrary reads. Input: byte 0 seeds the cut points; the rest is the body.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let p = data + 1, count = size - 1

    var oneShot = BodyDecoder(framing: .chunked)
    let expected = decodeBody(&oneShot, p, count: count)
    require(oneShot.payloadBytes == Int64(expected.payload.count), "payloadBytes \(oneShot.payloadBytes)")
    if expected.outcome == .ended { require(count >= 5, "a chunked body ended in \(count) bytes") }

    // A connection's buffer: bytes arrive in reads of pseudo-random size and unconsumed ones stay.
    var random = UInt64(data[0]) &* 0x9E37_79B9_7F4A_7C15 | 1
    var decoder = BodyDecoder(framing: .chunked)
    var payload: [UInt8] = []
    var consumed = 0, available = 0
    var outcome = BodyOutcome.incomplete
    reading: while true {
        switch decoder.next(p + consumed, count: available - consumed) {
        case .data(let offset, let length, let used):
            require(offset + length <= used && used <= available - consumed, "split data step out of bounds")
            payload.append(contentsOf: UnsafeBufferPointer(start: p + consumed + offset, count: length))
            consumed += used
        case .needMore(let used):
            consumed += used
            if available == count { break reading }
            random ^= random << 13; random ^= random >> 7; random ^= random << 17
            available = min(count, available + 1 + Int(random % 16))
        case .end(let used):
            consumed += used
            outcome = .ended
            break reading
        case .failed(let reason):
            outcome = .failed(reason.text)
            break reading
        }
    }
    require(outcome == expected.outcome, "split outcome \(outcome) versus \(expected.outcome)")
    require(payload == expected.payload, "split payload differs")
    require(decoder.payloadBytes == oneShot.payloadBytes, "split payloadBytes differ")
    if outcome == .ended { require(consumed == expected.consumed, "split body ended at \(consumed), not \(expected.consumed)") }
    return 0
}
