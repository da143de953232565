@testable import GatewayCore

/// A property violation: trap with the reason, so libFuzzer records the input as a crash.
func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("property violated: \(message())") }
}

/// Walks a whole body with `decoder` over `p[0..<count]` the way a connection does: the caller
/// advances past what each step consumed. Checks every step stays in bounds and makes progress.
/// Returns the payload, how many bytes the body took, and whether it ended, failed or ran out.
func decodeBody(_ decoder: inout BodyDecoder, _ p: UnsafePointer<UInt8>, count: Int)
    -> (payload: [UInt8], consumed: Int, outcome: BodyOutcome) {
    var payload: [UInt8] = []
    var position = 0
    while true {
        let remaining = count - position
        switch decoder.next(p + position, count: remaining) {
        case .data(let offset, let length, let consumed):
            require(offset >= 0 && length > 0 && offset + length <= consumed && consumed <= remaining,
                    "data step out of bounds: offset \(offset) length \(length) consumed \(consumed) of \(remaining)")
            payload.append(contentsOf: UnsafeBufferPointer(start: p + position + offset, count: length))
            position += consumed
        case .needMore(let consumed):
            require(consumed == remaining, "needMore consumed \(consumed) of \(remaining)")
            return (payload, position + consumed, .incomplete)
        case .end(let consumed):
            require(consumed >= 0 && consumed <= remaining, "end consumed \(consumed) of \(remaining)")
            require(decoder.isDone, "end reported but decoder not done")
            return (payload, position + consumed, .ended)
        case .failed(let reason):
            return (payload, position, .failed(reason.text))
        }
    }
}

enum BodyOutcome: Equatable {
    case ended, incomplete
    case failed(String)
}

extension HeadParseStatus {
    var headLength: Int? {
        if case .complete(let n) = self { return n }
        return nil
    }
}
