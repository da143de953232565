import CSystem
import Glibc

/// The IORING_SETUP_* flags the gateway asks for. All are optional: setup drops them one by
/// one, newest first, on kernels that refuse them, and `URingCapabilities.setupFlags` reports
/// which were taken.
package struct URingSetupFlags: OptionSet, Sendable, CustomStringConvertible {
    package let rawValue: UInt32
    package init(rawValue: UInt32) { self.rawValue = rawValue }

    /// 5.18: keep submitting a batch past a failing SQE (its error comes back as a CQE).
    package static let submitAll = URingSetupFlags(rawValue: CSYS_IORING_SETUP_SUBMIT_ALL)
    /// 5.19: no inter-processor interrupt to run completion work; it waits for our next syscall.
    package static let coopTaskrun = URingSetupFlags(rawValue: CSYS_IORING_SETUP_COOP_TASKRUN)
    /// 5.19: IORING_SQ_TASKRUN tells us when that deferred work is waiting.
    package static let taskrunFlag = URingSetupFlags(rawValue: CSYS_IORING_SETUP_TASKRUN_FLAG)
    /// 6.0: only the creating thread submits; the kernel drops its locking.
    package static let singleIssuer = URingSetupFlags(rawValue: CSYS_IORING_SETUP_SINGLE_ISSUER)
    /// 6.1: completion work runs only inside our io_uring_enter(GETEVENTS), batched, never as
    /// an interrupting task_work; requires singleIssuer.
    package static let deferTaskrun = URingSetupFlags(rawValue: CSYS_IORING_SETUP_DEFER_TASKRUN)
    /// 6.6: SQ slots index SQEs directly.
    package static let noSQArray = URingSetupFlags(rawValue: CSYS_IORING_SETUP_NO_SQARRAY)

    /// 5.10: the ring takes no submissions until `URing.enable()`, and with singleIssuer the
    /// thread that enables it is its issuer: made (and its descriptor taken) on one thread, run on another.
    package static let disabled = URingSetupFlags(rawValue: CSYS_IORING_SETUP_R_DISABLED)

    package static let preferred: URingSetupFlags = [.submitAll, .coopTaskrun, .taskrunFlag, .singleIssuer, .deferTaskrun, .noSQArray]

    package var description: String {
        let names: [(URingSetupFlags, String)] = [
            (.submitAll, "SUBMIT_ALL"), (.coopTaskrun, "COOP_TASKRUN"), (.taskrunFlag, "TASKRUN_FLAG"),
            (.singleIssuer, "SINGLE_ISSUER"), (.deferTaskrun, "DEFER_TASKRUN"), (.noSQArray, "NO_SQARRAY"), (.disabled, "R_DISABLED"),
        ]
        let taken = names.filter { contains($0.0) }.map(\.1)
        return taken.isEmpty ? "none" : taken.joined(separator: "|")
    }
}

/// What the running kernel gave one ring: flags taken, IORING_FEAT_* bits and the opcodes
/// IORING_REGISTER_PROBE reports.
package struct URingCapabilities: Sendable {
    package let setupFlags: URingSetupFlags
    package let features: UInt32
    /// io_uring_enter goes through a registered ring index (IORING_REGISTER_RING_FDS).
    package let registeredRing: Bool
    /// Opcodes known to the kernel (supported or not), from the probe.
    package let opcodeCount: Int
    private let opcodes: [Bool]

    init(_ ring: UnsafeMutablePointer<csys_uring>) {
        setupFlags = URingSetupFlags(rawValue: ring.pointee.setup_flags)
        features = ring.pointee.features
        registeredRing = ring.pointee.enter_flags != 0
        var supported = [UInt8](repeating: 0, count: 256)
        let known = csys_uring_probe(ring, &supported, 256)
        opcodeCount = max(0, Int(known))
        opcodes = supported.map { $0 != 0 }
    }

    package func supports(_ opcode: UInt8) -> Bool { opcodes[Int(opcode)] }

    /// The operations the gateway's loop submits, and the features it relies on.
    package var missing: [String] {
        var missing: [String] = []
        let ops: [(UInt8, String)] = [
            (CSYS_IORING_OP_ACCEPT, "ACCEPT"), (CSYS_IORING_OP_RECV, "RECV"), (CSYS_IORING_OP_SEND, "SEND"),
            (CSYS_IORING_OP_SENDMSG, "SENDMSG"), (CSYS_IORING_OP_CONNECT, "CONNECT"), (CSYS_IORING_OP_CLOSE, "CLOSE"),
            (CSYS_IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"), (CSYS_IORING_OP_TIMEOUT, "TIMEOUT"),
        ]
        for (op, name) in ops where !supports(op) { missing.append("IORING_OP_\(name)") }
        // SUBMIT_STABLE: a connect address or msghdr may be reused once submitted; EXT_ARG: the
        // wait carries its own timeout; NODROP: a full CQ never loses a completion.
        let features: [(UInt32, String)] = [
            (CSYS_IORING_FEAT_SUBMIT_STABLE, "SUBMIT_STABLE"), (CSYS_IORING_FEAT_EXT_ARG, "EXT_ARG"),
            (CSYS_IORING_FEAT_NODROP, "NODROP"), (CSYS_IORING_FEAT_FAST_POLL, "FAST_POLL"),
            (CSYS_IORING_FEAT_CQE_SKIP, "CQE_SKIP"),
        ]
        for (bit, name) in features where self.features & bit == 0 { missing.append("IORING_FEAT_\(name)") }
        return missing
    }

    package var description: String {
        "setup \(setupFlags), features 0x\(String(features, radix: 16)), \(opcodes.filter { $0 }.count) of \(opcodeCount) opcodes"
            + (registeredRing ? ", registered ring fd" : "")
    }
}
