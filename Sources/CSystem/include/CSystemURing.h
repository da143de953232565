#ifndef GATEWAY_CSYSTEM_URING_H
#define GATEWAY_CSYSTEM_URING_H
// io_uring through raw syscalls (no liburing): ring setup and mmap in uring.c, the per-request
// pieces (taking an SQE, preparing it, reaping CQEs, recycling provided buffers) inline here,
// because they run several times per request. Field use follows io_uring_enter(2),
// io_uring_setup(2), io_uring_register(2) and io_uring_buf_ring_init(3).
#include <linux/io_uring.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

// The installed headers come from linux-libc-dev 6.1; flags added later are defined here with
// the kernel release that introduced them. Setup drops any flag the running kernel refuses.
#ifndef IORING_SETUP_NO_SQARRAY
#define IORING_SETUP_NO_SQARRAY (1U << 16)  // 6.6: SQEs are indexed directly, no sq_array indirection
#endif
#ifndef IORING_FEAT_REG_REG_RING
#define IORING_FEAT_REG_REG_RING (1U << 13)  // 6.3: io_uring_register accepts a registered ring index
#endif

/// One ring, owned and driven by one thread. `sqe_tail` is the local tail: SQEs taken but not yet
/// published to the kernel, which happens once per io_uring_enter (csys_uring_enter).
struct csys_uring {
    int fd;
    /// The fd or, after IORING_REGISTER_RING_FDS, the registered index passed to io_uring_enter.
    int enter_fd;
    unsigned enter_flags;
    /// IORING_SETUP_* the kernel accepted, and the IORING_FEAT_* it reported.
    unsigned setup_flags;
    unsigned features;
    unsigned sq_entries, cq_entries;
    unsigned sq_mask, cq_mask;
    unsigned sqe_tail;
    unsigned *sq_khead, *sq_ktail, *sq_kflags, *sq_array;
    struct io_uring_sqe *sqes;
    unsigned *cq_khead, *cq_ktail, *cq_koverflow;
    struct io_uring_cqe *cqes;
    void *sq_ring_ptr, *cq_ring_ptr;
    size_t sq_ring_size, cq_ring_size, sqes_size;
};

/// A completion copied out of the CQ ring, so the ring slot is released before handlers run
/// (a handler may then submit, or even wait, without invalidating what it reads).
struct csys_cqe {
    uint64_t user_data;
    int32_t res;
    uint32_t flags;
};

// MARK: Setup, registration, submission (uring.c)

/// Creates a ring with `required | optional` setup flags, dropping optional flags one by one,
/// newest first, while the kernel answers EINVAL. `cq_entries` 0 keeps the kernel's 2 × SQ.
/// Returns 0 or -errno (EPERM: io_uring_disabled or not in io_uring_group; ENOSYS: seccomp or
/// an old kernel; ENOMEM: locked-memory limit on pre-5.12 kernels).
int csys_uring_setup(struct csys_uring *r, unsigned entries, unsigned cq_entries, unsigned required,
                     unsigned optional);
void csys_uring_destroy(struct csys_uring *r);
/// Enables a ring made with IORING_SETUP_R_DISABLED (5.10): with SINGLE_ISSUER the calling thread
/// becomes its only submitter. Registers the ring fd for that thread. 0 or -errno.
int csys_uring_enable(struct csys_uring *r);
/// Publishes prepared SQEs and enters the kernel once: submits them and, when `wait_nr` > 0,
/// waits for that many completions or `timeout_ns` (< 0: no limit). Always passes
/// IORING_ENTER_GETEVENTS so DEFER_TASKRUN work (completions) runs. Returns the number submitted,
/// or -errno; -ETIME and -EINTR mean "nothing more to do this time".
int csys_uring_enter(struct csys_uring *r, unsigned wait_nr, int64_t timeout_ns);
/// Fills supported[op] = 1 for each opcode the kernel accepts (IORING_REGISTER_PROBE);
/// returns the number of opcodes known to the kernel, or -errno.
int csys_uring_probe(struct csys_uring *r, uint8_t *supported, int capacity);
/// IORING_REGISTER_PBUF_RING: `ring` is page-aligned memory for `entries` (a power of two,
/// at most 32768) struct io_uring_buf, shared with the kernel.
int csys_uring_register_pbuf_ring(struct csys_uring *r, void *ring, unsigned entries, uint16_t group);
int csys_uring_unregister_pbuf_ring(struct csys_uring *r, uint16_t group);
size_t csys_uring_buf_size(void);

// MARK: SQEs

/// The next free SQE, zeroed, or NULL when the SQ is full (then csys_uring_enter and retry).
static inline struct io_uring_sqe *csys_uring_get_sqe(struct csys_uring *r) {
    // The kernel advances sq_khead as it consumes SQEs; acquire pairs with its release.
    unsigned head = __atomic_load_n(r->sq_khead, __ATOMIC_ACQUIRE);
    if (r->sqe_tail - head >= r->sq_entries) return NULL;
    struct io_uring_sqe *sqe = &r->sqes[r->sqe_tail & r->sq_mask];
    r->sqe_tail++;
    memset(sqe, 0, sizeof(*sqe));
    return sqe;
}

static inline unsigned csys_uring_sq_pending(const struct csys_uring *r) {
    return r->sqe_tail - __atomic_load_n(r->sq_khead, __ATOMIC_ACQUIRE);
}

/// The SQE's slot number: callers keep per-slot side storage (a connect address, a timespec)
/// that must stay valid until the SQE is submitted.
static inline unsigned csys_uring_sqe_index(const struct csys_uring *r, const struct io_uring_sqe *sqe) {
    return (unsigned)(sqe - r->sqes);
}

static inline void csys_sqe_set_flags(struct io_uring_sqe *sqe, uint8_t flags) { sqe->flags |= flags; }

/// Multishot accept (5.19): one SQE posts a CQE per accepted connection while CQE_F_MORE is set.
/// No address: every accept would write the same buffer; use getpeername for the peer.
/// Accepted sockets are non-blocking and close-on-exec, like csys_accept's, so the epoll engine
/// could take them over; io_uring's own send/recv wait on them all the same.
static inline void csys_prep_accept_multishot(struct io_uring_sqe *sqe, int fd, uint64_t user_data) {
    sqe->opcode = IORING_OP_ACCEPT;
    sqe->fd = fd;
    sqe->accept_flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
    sqe->ioprio = IORING_ACCEPT_MULTISHOT;
    sqe->user_data = user_data;
}

/// One-shot poll: a single CQE with the ready mask once `fd` is ready for `mask`.
static inline void csys_prep_poll_once(struct io_uring_sqe *sqe, int fd, uint32_t mask, uint64_t user_data) {
    sqe->opcode = IORING_OP_POLL_ADD;
    sqe->fd = fd;
    sqe->poll32_events = mask;
    sqe->user_data = user_data;
}

/// Multishot poll (5.13): a CQE with the ready mask (poll's bits, which are epoll's) each time the
/// descriptor's wait queue wakes, i.e. edge-triggered like EPOLLET, while CQE_F_MORE is set.
static inline void csys_prep_poll_multishot(struct io_uring_sqe *sqe, int fd, uint32_t mask, uint64_t user_data) {
    csys_prep_poll_once(sqe, fd, mask, user_data);
    sqe->len = IORING_POLL_ADD_MULTI;
}

/// One recv into one buffer picked from provided-buffer group `group` (a single CQE, CQE_F_BUFFER
/// with the buffer id in flags >> 16 when it carries bytes): one buffer however much is waiting.
static inline void csys_prep_recv_select(struct io_uring_sqe *sqe, int fd, uint16_t group, uint64_t user_data) {
    sqe->opcode = IORING_OP_RECV;
    sqe->fd = fd;
    sqe->flags = IOSQE_BUFFER_SELECT;
    sqe->buf_group = group;
    sqe->user_data = user_data;
}

/// Multishot recv (6.0) into buffers picked from group `group`: a CQE per buffer filled. It ends
/// (no CQE_F_MORE) on EOF (res 0), an error, -ENOBUFS when the group ran dry, or a CQ overflow;
/// the owner re-arms when it wants more.
static inline void csys_prep_recv_multishot(struct io_uring_sqe *sqe, int fd, uint16_t group, uint64_t user_data) {
    csys_prep_recv_select(sqe, fd, group, user_data);
    sqe->ioprio = IORING_RECV_MULTISHOT;
}

/// One-shot recv into a caller buffer (an upstream response into the connection's own buffer).
static inline void csys_prep_recv(struct io_uring_sqe *sqe, int fd, void *buf, uint32_t len, uint64_t user_data) {
    sqe->opcode = IORING_OP_RECV;
    sqe->fd = fd;
    sqe->addr = (uint64_t)(uintptr_t)buf;
    sqe->len = len;
    sqe->user_data = user_data;
}

/// MSG_NOSIGNAL: a peer reset must come back as -EPIPE, not SIGPIPE.
static inline void csys_prep_send(struct io_uring_sqe *sqe, int fd, const void *buf, uint32_t len, uint64_t user_data) {
    sqe->opcode = IORING_OP_SEND;
    sqe->fd = fd;
    sqe->addr = (uint64_t)(uintptr_t)buf;
    sqe->len = len;
    sqe->msg_flags = MSG_NOSIGNAL;
    sqe->user_data = user_data;
}

/// The gather write (head + body pieces in one request). The msghdr and its iovec array are
/// copied when the SQE is submitted (IORING_FEAT_SUBMIT_STABLE); the bytes they point at must
/// live until the completion. Preferred to IORING_OP_WRITEV for MSG_NOSIGNAL; both wait for
/// room on a full O_NONBLOCK socket rather than failing with -EAGAIN (checked on 6.18: io_uring
/// arms its internal poll for pollable files, IORING_FEAT_FAST_POLL).
static inline void csys_prep_sendmsg(struct io_uring_sqe *sqe, int fd, const struct msghdr *msg, uint64_t user_data) {
    sqe->opcode = IORING_OP_SENDMSG;
    sqe->fd = fd;
    sqe->addr = (uint64_t)(uintptr_t)msg;
    sqe->len = 1;
    sqe->msg_flags = MSG_NOSIGNAL;
    sqe->user_data = user_data;
}

/// The same gather send with MSG_DONTWAIT: instead of waiting for room inside the kernel (and
/// holding the iovecs' pointers until then) it completes while being submitted, with every byte,
/// the bytes that fitted, or -EAGAIN. After io_uring_enter returns, the kernel holds no pointer
/// into the caller's memory, so the caller may move or reuse it as after a writev.
static inline void csys_prep_sendmsg_dontwait(struct io_uring_sqe *sqe, int fd, const struct msghdr *msg,
                                              uint64_t user_data) {
    csys_prep_sendmsg(sqe, fd, msg, user_data);
    sqe->msg_flags = MSG_NOSIGNAL | MSG_DONTWAIT;
}


/// The address is copied when the SQE is submitted; res is 0 or -errno (ECONNREFUSED, ...).
static inline void csys_prep_connect(struct io_uring_sqe *sqe, int fd, const struct sockaddr *addr, socklen_t len,
                                     uint64_t user_data) {
    sqe->opcode = IORING_OP_CONNECT;
    sqe->fd = fd;
    sqe->addr = (uint64_t)(uintptr_t)addr;
    sqe->off = len;
    sqe->user_data = user_data;
}

/// Closing does not end requests still pending on the socket (each holds a file reference, so
/// not even a FIN is sent): cancel them first, e.g. csys_prep_cancel_fd hard-linked to this.
static inline void csys_prep_close(struct io_uring_sqe *sqe, int fd, uint64_t user_data) {
    sqe->opcode = IORING_OP_CLOSE;
    sqe->fd = fd;
    sqe->user_data = user_data;
}

/// A timer: completes with -ETIME after `ts` (copied at submission), or after `count` other
/// completions when count > 0.
static inline void csys_prep_timeout(struct io_uring_sqe *sqe, const struct __kernel_timespec *ts, uint32_t count,
                                     uint32_t flags, uint64_t user_data) {
    sqe->opcode = IORING_OP_TIMEOUT;
    sqe->fd = -1;
    sqe->addr = (uint64_t)(uintptr_t)ts;
    sqe->len = 1;
    sqe->off = count;
    sqe->timeout_flags = flags;
    sqe->user_data = user_data;
}

/// Cancels the request submitted with `target` (res: 0, -ENOENT, -EALREADY).
static inline void csys_prep_cancel_user_data(struct io_uring_sqe *sqe, uint64_t target, uint64_t user_data) {
    sqe->opcode = IORING_OP_ASYNC_CANCEL;
    sqe->fd = -1;
    sqe->addr = target;
    sqe->user_data = user_data;
}

/// Cancels every request on `fd` (5.19; res: how many, or -ENOENT).
static inline void csys_prep_cancel_fd(struct io_uring_sqe *sqe, int fd, uint64_t user_data) {
    sqe->opcode = IORING_OP_ASYNC_CANCEL;
    sqe->fd = fd;
    sqe->cancel_flags = IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL;
    sqe->user_data = user_data;
}

static inline void csys_prep_nop(struct io_uring_sqe *sqe, uint64_t user_data) {
    sqe->opcode = IORING_OP_NOP;
    sqe->fd = -1;
    sqe->user_data = user_data;
}

// MARK: CQEs

static inline unsigned csys_uring_cq_ready(const struct csys_uring *r) {
    return __atomic_load_n(r->cq_ktail, __ATOMIC_ACQUIRE) - *r->cq_khead;
}

/// Copies up to `max` completions out and releases their slots to the kernel.
static inline unsigned csys_uring_reap(struct csys_uring *r, struct csys_cqe *out, unsigned max) {
    unsigned head = *r->cq_khead;
    // Acquire: the CQE contents the kernel wrote before moving the tail are visible.
    unsigned tail = __atomic_load_n(r->cq_ktail, __ATOMIC_ACQUIRE);
    unsigned n = 0;
    while (head != tail && n < max) {
        const struct io_uring_cqe *cqe = &r->cqes[head & r->cq_mask];
        out[n].user_data = cqe->user_data;
        out[n].res = cqe->res;
        out[n].flags = cqe->flags;
        head++;
        n++;
    }
    // Release: the kernel may reuse the slots only after we have read them.
    __atomic_store_n(r->cq_khead, head, __ATOMIC_RELEASE);
    return n;
}

/// IORING_SQ_CQ_OVERFLOW: completions wait in the kernel's overflow list (FEAT_NODROP) until the
/// next io_uring_enter with GETEVENTS flushes them.
static inline unsigned csys_uring_sq_flags(const struct csys_uring *r) {
    return __atomic_load_n(r->sq_kflags, __ATOMIC_RELAXED);
}

// MARK: Provided buffer ring (io_uring_buf_ring_add(3), io_uring_buf_ring_advance(3))

/// Writes buffer `bid` into slot `offset` past the ring's current tail; not yet visible.
static inline void csys_pbuf_add(void *ring, unsigned mask, void *addr, uint32_t len, uint16_t bid, unsigned offset) {
    struct io_uring_buf_ring *br = (struct io_uring_buf_ring *)ring;
    struct io_uring_buf *buf = &br->bufs[(br->tail + offset) & mask];
    buf->addr = (uint64_t)(uintptr_t)addr;
    buf->len = len;
    buf->bid = bid;
}

/// Makes `count` added buffers visible to the kernel (a release store of the 16-bit tail).
static inline void csys_pbuf_advance(void *ring, unsigned count) {
    struct io_uring_buf_ring *br = (struct io_uring_buf_ring *)ring;
    __atomic_store_n(&br->tail, (uint16_t)(br->tail + count), __ATOMIC_RELEASE);
}

// MARK: Constants for Swift (function-like and enum macros do not always import)

static const uint32_t CSYS_IORING_SETUP_SUBMIT_ALL = IORING_SETUP_SUBMIT_ALL;
static const uint32_t CSYS_IORING_SETUP_COOP_TASKRUN = IORING_SETUP_COOP_TASKRUN;
static const uint32_t CSYS_IORING_SETUP_TASKRUN_FLAG = IORING_SETUP_TASKRUN_FLAG;
static const uint32_t CSYS_IORING_SETUP_SINGLE_ISSUER = IORING_SETUP_SINGLE_ISSUER;
static const uint32_t CSYS_IORING_SETUP_DEFER_TASKRUN = IORING_SETUP_DEFER_TASKRUN;
static const uint32_t CSYS_IORING_SETUP_NO_SQARRAY = IORING_SETUP_NO_SQARRAY;
static const uint32_t CSYS_IORING_SETUP_R_DISABLED = IORING_SETUP_R_DISABLED;
static const uint32_t CSYS_IORING_FEAT_SINGLE_MMAP = IORING_FEAT_SINGLE_MMAP;
static const uint32_t CSYS_IORING_FEAT_NODROP = IORING_FEAT_NODROP;
static const uint32_t CSYS_IORING_FEAT_SUBMIT_STABLE = IORING_FEAT_SUBMIT_STABLE;
static const uint32_t CSYS_IORING_FEAT_FAST_POLL = IORING_FEAT_FAST_POLL;
static const uint32_t CSYS_IORING_FEAT_EXT_ARG = IORING_FEAT_EXT_ARG;
static const uint32_t CSYS_IORING_FEAT_CQE_SKIP = IORING_FEAT_CQE_SKIP;
static const uint32_t CSYS_IORING_CQE_F_BUFFER = IORING_CQE_F_BUFFER;
static const uint32_t CSYS_IORING_CQE_F_MORE = IORING_CQE_F_MORE;
static const uint32_t CSYS_IORING_CQE_F_SOCK_NONEMPTY = IORING_CQE_F_SOCK_NONEMPTY;
static const uint32_t CSYS_IORING_CQE_BUFFER_SHIFT = IORING_CQE_BUFFER_SHIFT;
static const uint32_t CSYS_IORING_SQ_CQ_OVERFLOW = IORING_SQ_CQ_OVERFLOW;
static const uint32_t CSYS_IORING_SQ_TASKRUN = IORING_SQ_TASKRUN;
static const uint8_t CSYS_IOSQE_IO_LINK = IOSQE_IO_LINK;
static const uint8_t CSYS_IOSQE_IO_HARDLINK = IOSQE_IO_HARDLINK;
static const uint8_t CSYS_IOSQE_CQE_SKIP_SUCCESS = IOSQE_CQE_SKIP_SUCCESS;
static const uint8_t CSYS_IORING_OP_NOP = IORING_OP_NOP;
static const uint8_t CSYS_IORING_OP_TIMEOUT = IORING_OP_TIMEOUT;
static const uint8_t CSYS_IORING_OP_ACCEPT = IORING_OP_ACCEPT;
static const uint8_t CSYS_IORING_OP_ASYNC_CANCEL = IORING_OP_ASYNC_CANCEL;
static const uint8_t CSYS_IORING_OP_CONNECT = IORING_OP_CONNECT;
static const uint8_t CSYS_IORING_OP_CLOSE = IORING_OP_CLOSE;
static const uint8_t CSYS_IORING_OP_SENDMSG = IORING_OP_SENDMSG;
static const uint8_t CSYS_IORING_OP_SEND = IORING_OP_SEND;
static const uint8_t CSYS_IORING_OP_RECV = IORING_OP_RECV;
static const uint8_t CSYS_IORING_OP_SHUTDOWN = IORING_OP_SHUTDOWN;
static const uint8_t CSYS_IORING_OP_SEND_ZC = IORING_OP_SEND_ZC;
#endif
