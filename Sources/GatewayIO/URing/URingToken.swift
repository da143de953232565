/// What a submission was for; travels in the top byte of its user_data. A struct rather than an
/// enum so the loop's glue can name its own operations without editing this file.
package struct URingOperation: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    package let rawValue: UInt8
    package init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Completions nobody waits for (a cancel before a close, say); handlers may ignore them.
    package static let housekeeping = URingOperation(rawValue: 0)
    package static let accept = URingOperation(rawValue: 1)
    package static let receive = URingOperation(rawValue: 2)
    package static let send = URingOperation(rawValue: 3)
    package static let connect = URingOperation(rawValue: 4)
    package static let close = URingOperation(rawValue: 5)
    package static let cancel = URingOperation(rawValue: 6)
    package static let timeout = URingOperation(rawValue: 7)
    package static let wake = URingOperation(rawValue: 8)

    package var description: String {
        switch rawValue {
        case 0: "housekeeping"
        case 1: "accept"
        case 2: "receive"
        case 3: "send"
        case 4: "connect"
        case 5: "close"
        case 6: "cancel"
        case 7: "timeout"
        case 8: "wake"
        default: "op\(rawValue)"
        }
    }
}

/// The 64-bit user_data of an SQE: the descriptor, its registration generation and the operation,
/// so a completion for a descriptor number that was closed and reused is recognised as stale,
/// as EventLoop's epoll tokens do. Layout: fd in bits 0-31, generation in 32-55, operation 56-63.
package struct URingToken: Hashable, Sendable {
    package let rawValue: UInt64

    package init(rawValue: UInt64) { self.rawValue = rawValue }

    package init(fd: Int32, generation: UInt32, operation: URingOperation) {
        rawValue = UInt64(operation.rawValue) << 56
            | UInt64(generation & URingToken.generationMask) << 32
            | UInt64(UInt32(bitPattern: fd))
    }

    package static let generationMask: UInt32 = 0x00FF_FFFF

    package var fd: Int32 { Int32(bitPattern: UInt32(truncatingIfNeeded: rawValue)) }
    package var generation: UInt32 { UInt32(truncatingIfNeeded: rawValue >> 32) & URingToken.generationMask }
    package var operation: URingOperation { URingOperation(rawValue: UInt8(truncatingIfNeeded: rawValue >> 56)) }

    package static let housekeeping = URingToken(rawValue: 0)
}
