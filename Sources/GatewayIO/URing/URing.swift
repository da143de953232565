import CSystem
import Glibc

/// One io_uring, owned and driven by one thread (create it on that thread: with
/// IORING_SETUP_SINGLE_ISSUER the kernel refuses submissions from any other task with EEXIST).
///
/// Operations are only prepared when their method is called; `submitAndWait` publishes all of
/// them and collects completions in one io_uring_enter per loop iteration.
package final class URing {
    package let capabilities: URingCapabilities
    private let ring: UnsafeMutablePointer<csys_uring>
    /// Completions are copied out in batches, so CQ slots go back to the kernel before handlers run.
    private let batch: UnsafeMutablePointer<csys_cqe>
    private static let batchCapacity = 256
    /// Side storage per SQE slot for what the kernel copies when the SQE is submitted (connect's
    /// address, a timeout's timespec): valid until the next io_uring_enter, which is all it needs.
    private let addresses: UnsafeMutablePointer<sockaddr_storage>
    private let timespecs: UnsafeMutablePointer<__kernel_timespec>
    private var reaping = false
    /// io_uring_enter calls made, for measurements.
    package private(set) var enterCalls = 0

    /// Throws when the kernel, a sysctl or a seccomp filter refuses io_uring; `URing.availability()`
    /// turns that into a reason for the log.
    package init(entries: UInt32 = 512, completionEntries: UInt32 = 4096,
                 flags: URingSetupFlags = .preferred, required: URingSetupFlags = []) throws(SystemError) {
        ring = .allocate(capacity: 1)
        let rc = csys_uring_setup(ring, entries, completionEntries, required.rawValue, flags.subtracting(required).rawValue)
        if rc < 0 {
            ring.deallocate()
            throw SystemError("io_uring_setup", -rc)
        }
        let sqEntries = Int(ring.pointee.sq_entries)
        batch = .allocate(capacity: URing.batchCapacity)
        addresses = .allocate(capacity: sqEntries)
        timespecs = .allocate(capacity: sqEntries)
        capabilities = URingCapabilities(ring)
    }

    deinit {
        csys_uring_destroy(ring)
        ring.deallocate()
        batch.deallocate()
        addresses.deallocate()
        timespecs.deallocate()
    }

    /// Enables a ring set up with `.disabled`, on the thread that will submit to it.
    package func enable() throws(SystemError) {
        let rc = csys_uring_enable(ring)
        if rc < 0 { throw SystemError("io_uring_register(ENABLE_RINGS)", -rc) }
    }

    var raw: UnsafeMutablePointer<csys_uring> { ring }
    package var submissionEntries: Int { Int(ring.pointee.sq_entries) }
    package var completionEntries: Int { Int(ring.pointee.cq_entries) }
    /// Completions the kernel has posted (or holds in its overflow list) that are not reaped yet.
    package var hasUnreapedCompletions: Bool {
        csys_uring_cq_ready(ring) > 0 || csys_uring_sq_flags(ring) & CSYS_IORING_SQ_CQ_OVERFLOW != 0
    }

    /// Prepared and not yet submitted.
    package var pendingSubmissions: Int { Int(csys_uring_sq_pending(ring)) }

    // MARK: Preparing operations

    package func acceptMultishot(_ fd: Int32, token: URingToken) {
        csys_prep_accept_multishot(sqe(), fd, token.rawValue)
    }

    /// Readiness of `fd` (`mask`: poll/epoll bits) reported edge-triggered until cancelled.
    package func pollMultishot(_ fd: Int32, mask: UInt32, userData: UInt64) {
        csys_prep_poll_multishot(sqe(), fd, mask, userData)
    }

    package func receiveMultishot(_ fd: Int32, buffers: ProvidedBuffers, token: URingToken) {
        csys_prep_recv_multishot(sqe(), fd, buffers.group, token.rawValue)
    }

    /// One recv into one provided buffer, whatever is waiting beyond it.
    package func receiveOnce(_ fd: Int32, buffers: ProvidedBuffers, token: URingToken) {
        csys_prep_recv_select(sqe(), fd, buffers.group, token.rawValue)
    }

    /// One recv into memory the caller keeps valid until the completion.
    package func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, token: URingToken) {
        csys_prep_recv(sqe(), fd, buffer.baseAddress, UInt32(buffer.count), token.rawValue)
    }

    /// The bytes must stay valid until the completion; a short send reports fewer bytes.
    package func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, token: URingToken) {
        csys_prep_send(sqe(), fd, bytes.baseAddress, UInt32(bytes.count), token.rawValue)
    }

    /// Gather send: `message` (and its iovecs) must stay valid until the next submission, the
    /// bytes until the completion.
    package func sendMessage(_ fd: Int32, _ message: UnsafePointer<msghdr>, token: URingToken) {
        csys_prep_sendmsg(sqe(), fd, message, token.rawValue)
    }

    /// Gather send that never waits in the kernel: it completes during the submitting
    /// io_uring_enter with the bytes sent (possibly short) or -EAGAIN, so the bytes need only stay
    /// valid until then.
    package func sendMessageNow(_ fd: Int32, _ message: UnsafePointer<msghdr>, token: URingToken) {
        csys_prep_sendmsg_dontwait(sqe(), fd, message, token.rawValue)
    }

    /// One completion, with the ready mask, once `fd` is ready for `mask` (poll/epoll bits).
    package func pollOnce(_ fd: Int32, mask: UInt32, token: URingToken) {
        csys_prep_poll_once(sqe(), fd, mask, token.rawValue)
    }

    package func connect(_ fd: Int32, to address: SocketAddress, token: URingToken) {
        let entry = sqe()
        let slot = addresses + Int(csys_uring_sqe_index(ring, entry))
        slot.pointee = address.storage
        slot.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            csys_prep_connect(entry, fd, $0, address.length, token.rawValue)
        }
    }

    /// Closes `fd` through the ring. With `cancelPending` (the default), every request still
    /// pending on it is cancelled first: each holds a reference to the file, so a bare close
    /// would leave the socket open (no FIN) while a multishot recv waits. The cancel is
    /// hard-linked (it runs before the close whatever it finds) and posts no CQE on success.
    package func close(_ fd: Int32, token: URingToken, cancelPending: Bool = true) {
        if cancelPending {
            let cancel = sqe()
            csys_prep_cancel_fd(cancel, fd, URingToken.housekeeping.rawValue)
            csys_sqe_set_flags(cancel, CSYS_IOSQE_IO_HARDLINK | CSYS_IOSQE_CQE_SKIP_SUCCESS)
        }
        csys_prep_close(sqe(), fd, token.rawValue)
    }

    /// Cancels the request submitted with `target`.
    package func cancel(_ target: URingToken, token: URingToken = .housekeeping) {
        csys_prep_cancel_user_data(sqe(), target.rawValue, token.rawValue)
    }

    /// Cancels every request pending on `fd` (the multishot recv of a connection being handed back).
    package func cancelAll(on fd: Int32, token: URingToken = .housekeeping) {
        csys_prep_cancel_fd(sqe(), fd, token.rawValue)
    }

    /// A one-shot timer completing with -ETIME. The loop's deadlines do not need it (the wait's
    /// own timeout carries the timing wheel's next tick); it exists for linked timeouts and tests.
    package func timeout(nanoseconds: Int64, token: URingToken) {
        let entry = sqe()
        let ts = timespecs + Int(csys_uring_sqe_index(ring, entry))
        ts.pointee = __kernel_timespec(tv_sec: nanoseconds / 1_000_000_000, tv_nsec: nanoseconds % 1_000_000_000)
        csys_prep_timeout(entry, ts, 0, 0, token.rawValue)
    }

    package func nop(token: URingToken) {
        csys_prep_nop(sqe(), token.rawValue)
    }

    @inline(__always)
    private func sqe() -> UnsafeMutablePointer<io_uring_sqe> {
        if let entry = csys_uring_get_sqe(ring) { return entry }
        return sqeAfterFlushing()
    }

    /// The SQ is full: submit what is there (without waiting) to make room.
    private func sqeAfterFlushing() -> UnsafeMutablePointer<io_uring_sqe> {
        for _ in 0..<8 {
            _ = enter(wait: 0, timeoutNanos: 0)
            if let entry = csys_uring_get_sqe(ring) { return entry }
        }
        fatalError("io_uring submission queue stays full")
    }

    // MARK: Driving

    /// One loop iteration: submits everything prepared, waits up to `timeoutMillis` (-1: until
    /// something completes; 0: not at all) unless completions are already waiting, and hands each
    /// completion to `body`. One io_uring_enter, more only if the kernel takes part of the batch; after it
    /// returns, every prepared entry has been submitted. `body` may prepare new operations (they go
    /// out with the next call) but must not call this method.
    @discardableResult
    package func submitAndWait(timeoutMillis: Int32, _ body: (URingCompletion) -> Void) -> Int {
        precondition(!reaping, "submitAndWait called from a completion handler")
        let ready = csys_uring_cq_ready(ring)
        // With DEFER_TASKRUN completions are only posted inside io_uring_enter(GETEVENTS), so
        // entering is needed unless completions are already waiting and nothing is to be
        // submitted; IORING_SQ_TASKRUN (TASKRUN_FLAG) or CQ_OVERFLOW say the kernel has more.
        let kernelHasMore = csys_uring_sq_flags(ring) & (CSYS_IORING_SQ_TASKRUN | CSYS_IORING_SQ_CQ_OVERFLOW) != 0
        if ready == 0 || csys_uring_sq_pending(ring) > 0 || kernelHasMore {
            let wait: UInt32 = ready == 0 && timeoutMillis != 0 ? 1 : 0
            _ = enter(wait: wait, timeoutNanos: timeoutMillis < 0 ? -1 : Int64(timeoutMillis) * 1_000_000)
        }
        // Short of memory the kernel may take only part of the SQ; callers may reuse what the
        // entries point at (a send's msghdr, its bytes) once this returns, so nothing may wait.
        var refusals = 0
        while csys_uring_sq_pending(ring) > 0 {
            _ = enter(wait: 0, timeoutNanos: 0)
            refusals += 1
            if refusals == 10_000 { fatalError("io_uring keeps refusing \(csys_uring_sq_pending(ring)) submissions") }
        }
        return reap(body)
    }

    /// Submits without waiting; returns how many SQEs the kernel took.
    @discardableResult
    package func submit() -> Int {
        Int(max(0, enter(wait: 0, timeoutNanos: 0)))
    }

    private func enter(wait: UInt32, timeoutNanos: Int64) -> Int32 {
        enterCalls += 1
        let rc = csys_uring_enter(ring, wait, timeoutNanos)
        if rc >= 0 { return rc }
        switch -rc {
        case ETIME, EINTR:
            return 0
        case EAGAIN, EBUSY:
            // Out of kernel memory for requests, or completions backed up: reaping makes room.
            return 0
        default:
            // EEXIST: another thread submitted to a SINGLE_ISSUER ring; EBADF, EFAULT: a bug.
            fatalError("io_uring_enter: \(String(cString: strerror(-rc)))")
        }
    }

    private func reap(_ body: (URingCompletion) -> Void) -> Int {
        reaping = true
        defer { reaping = false }
        var total = 0
        while true {
            let n = Int(csys_uring_reap(ring, batch, UInt32(URing.batchCapacity)))
            if n == 0 { return total }
            for i in 0..<n { body(URingCompletion(batch[i])) }
            total += n
        }
    }
}
