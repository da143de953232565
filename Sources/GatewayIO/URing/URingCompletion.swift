import CSystem
import Glibc

/// One CQE, decoded. `result` is the operation's return value or -errno, as io_uring_enter(2)
/// describes for each opcode (bytes for recv/send, a descriptor for accept, 0 for connect).
package struct URingCompletion: Sendable {
    package let token: URingToken
    package let result: Int32
    package let flags: UInt32

    init(_ cqe: csys_cqe) {
        token = URingToken(rawValue: cqe.user_data)
        result = cqe.res
        flags = cqe.flags
    }

    package var fd: Int32 { token.fd }
    package var operation: URingOperation { token.operation }

    /// IORING_CQE_F_MORE: the multishot request that produced this stays armed. Without it the
    /// request has ended and its owner re-arms it if it wants more (after EOF, an error,
    /// -ENOBUFS, or a CQ overflow the kernel ends multishot requests on).
    package var more: Bool { flags & CSYS_IORING_CQE_F_MORE != 0 }

    /// IORING_CQE_F_BUFFER: the kernel picked provided buffer `bufferID`; the receiver owns it
    /// now and hands it back with ProvidedBuffers.recycle once the bytes are consumed.
    package var bufferID: UInt16? {
        flags & CSYS_IORING_CQE_F_BUFFER != 0 ? UInt16(truncatingIfNeeded: flags >> CSYS_IORING_CQE_BUFFER_SHIFT) : nil
    }

    /// IORING_CQE_F_SOCK_NONEMPTY: more bytes were already waiting when this recv completed.
    package var socketNonEmpty: Bool { flags & CSYS_IORING_CQE_F_SOCK_NONEMPTY != 0 }

    /// The errno of a failed operation (ECANCELED, ENOBUFS, ECONNREFUSED, ...), nil on success.
    package var error: Int32? { result < 0 ? -result : nil }

    /// A multishot recv that stopped because the provided-buffer group ran dry: the bytes are
    /// still in the socket; re-arm once buffers are recycled (see StarvedReceivers).
    package var outOfBuffers: Bool { result == -ENOBUFS }
}
