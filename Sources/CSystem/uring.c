// io_uring ring setup, mmap, registration and io_uring_enter through raw syscalls: the
// once-per-ring and once-per-loop-iteration parts. See CSystemURing.h for the inline hot path.
#define _GNU_SOURCE
#include "CSystemURing.h"
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static int sys_setup(unsigned entries, struct io_uring_params *p) {
    return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int sys_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags, void *arg, size_t argsz) {
    return (int)syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, arg, argsz);
}

static int sys_register(int fd, unsigned opcode, void *arg, unsigned nr_args) {
    return (int)syscall(__NR_io_uring_register, fd, opcode, arg, nr_args);
}

// Maps the SQ ring, the CQ ring (the same mapping with IORING_FEAT_SINGLE_MMAP, 5.4) and the
// SQE array, at the magic offsets of io_uring_setup(2).
static int map_rings(struct csys_uring *r, const struct io_uring_params *p) {
    int no_array = (r->setup_flags & IORING_SETUP_NO_SQARRAY) != 0;
    // Without the array (NO_SQARRAY implies SINGLE_MMAP kernels) the SQ fields live inside the
    // CQ ring's mapping, whose size covers them.
    r->sq_ring_size = no_array ? 0 : p->sq_off.array + p->sq_entries * sizeof(unsigned);
    r->cq_ring_size = p->cq_off.cqes + p->cq_entries * sizeof(struct io_uring_cqe);
    if (p->features & IORING_FEAT_SINGLE_MMAP) {
        if (r->cq_ring_size > r->sq_ring_size) r->sq_ring_size = r->cq_ring_size;
        r->cq_ring_size = r->sq_ring_size;
    }
    r->sq_ring_ptr = mmap(NULL, r->sq_ring_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
                          IORING_OFF_SQ_RING);
    if (r->sq_ring_ptr == MAP_FAILED) return -errno;
    if (p->features & IORING_FEAT_SINGLE_MMAP) {
        r->cq_ring_ptr = r->sq_ring_ptr;
    } else {
        r->cq_ring_ptr = mmap(NULL, r->cq_ring_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
                              IORING_OFF_CQ_RING);
        if (r->cq_ring_ptr == MAP_FAILED) {
            r->cq_ring_ptr = NULL;
            return -errno;
        }
    }
    r->sqes_size = p->sq_entries * sizeof(struct io_uring_sqe);
    r->sqes = mmap(NULL, r->sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
    if (r->sqes == MAP_FAILED) {
        r->sqes = NULL;
        return -errno;
    }
    char *sq = r->sq_ring_ptr, *cq = r->cq_ring_ptr;
    r->sq_khead = (unsigned *)(sq + p->sq_off.head);
    r->sq_ktail = (unsigned *)(sq + p->sq_off.tail);
    r->sq_kflags = (unsigned *)(sq + p->sq_off.flags);
    r->sq_mask = *(unsigned *)(sq + p->sq_off.ring_mask);
    r->sq_entries = p->sq_entries;
    r->cq_khead = (unsigned *)(cq + p->cq_off.head);
    r->cq_ktail = (unsigned *)(cq + p->cq_off.tail);
    r->cq_koverflow = (unsigned *)(cq + p->cq_off.overflow);
    r->cq_mask = *(unsigned *)(cq + p->cq_off.ring_mask);
    r->cq_entries = p->cq_entries;
    r->cqes = (struct io_uring_cqe *)(cq + p->cq_off.cqes);
    if (!no_array) {
        // Slot i always names SQE i (as liburing does), so submission never touches the array again.
        r->sq_array = (unsigned *)(sq + p->sq_off.array);
        for (unsigned i = 0; i < p->sq_entries; i++) r->sq_array[i] = i;
    }
    r->sqe_tail = *r->sq_ktail;
    return 0;
}

// IORING_REGISTER_RING_FDS (5.18) spares io_uring_enter the fd table lookup; optional. The
// registration belongs to the calling thread, which must be the one that enters the ring.
static void register_ring_fd(struct csys_uring *r) {
    struct io_uring_rsrc_update reg = {.offset = -1U, .data = (uint64_t)r->fd};
    if (sys_register(r->fd, IORING_REGISTER_RING_FDS, &reg, 1) == 1) {
        r->enter_fd = (int)reg.offset;
        r->enter_flags = IORING_ENTER_REGISTERED_RING;
    }
}

int csys_uring_setup(struct csys_uring *r, unsigned entries, unsigned cq_entries, unsigned required,
                     unsigned optional) {
    memset(r, 0, sizeof(*r));
    r->fd = -1;
    unsigned flags = required | optional;
    for (;;) {
        struct io_uring_params p;
        memset(&p, 0, sizeof(p));
        p.flags = flags;
        if (cq_entries) {
            // CLAMP (5.6): an oversized request is cut to the kernel's maximum, not refused.
            p.flags |= IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
            p.cq_entries = cq_entries;
        }
        int fd = sys_setup(entries, &p);
        if (fd < 0) {
            int e = errno;
            unsigned dropping = flags & optional;
            // EINVAL is how a kernel refuses a flag it does not know (or a combination it does not
            // allow, e.g. DEFER_TASKRUN without SINGLE_ISSUER); drop the newest and retry.
            if (e == EINVAL && dropping) {
                unsigned highest = 1U << (31 - __builtin_clz(dropping));
                flags &= ~highest;
                continue;
            }
            return -e;
        }
        r->fd = fd;
        r->enter_fd = fd;
        r->setup_flags = flags;
        r->features = p.features;
        int rc = map_rings(r, &p);
        if (rc < 0) {
            csys_uring_destroy(r);
            return rc;
        }
        break;
    }
    // A disabled ring registers its fd when it is enabled: registered ring fds are per thread.
    if (!(flags & IORING_SETUP_R_DISABLED)) register_ring_fd(r);
    return 0;
}

int csys_uring_enable(struct csys_uring *r) {
    if (sys_register(r->fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0) return -errno;
    register_ring_fd(r);
    return 0;
}

void csys_uring_destroy(struct csys_uring *r) {
    if (r->sqes) munmap(r->sqes, r->sqes_size);
    if (r->cq_ring_ptr && r->cq_ring_ptr != r->sq_ring_ptr) munmap(r->cq_ring_ptr, r->cq_ring_size);
    if (r->sq_ring_ptr && r->sq_ring_ptr != MAP_FAILED) munmap(r->sq_ring_ptr, r->sq_ring_size);
    // Closing the ring fd cancels whatever is still in flight (the kernel finishes that
    // asynchronously) and drops the registered ring index with it.
    if (r->fd >= 0) close(r->fd);
    memset(r, 0, sizeof(*r));
    r->fd = -1;
}

int csys_uring_enter(struct csys_uring *r, unsigned wait_nr, int64_t timeout_ns) {
    // Publish the local tail: the release store orders our SQE writes before the kernel reads them.
    __atomic_store_n(r->sq_ktail, r->sqe_tail, __ATOMIC_RELEASE);
    unsigned to_submit = r->sqe_tail - __atomic_load_n(r->sq_khead, __ATOMIC_ACQUIRE);
    unsigned flags = r->enter_flags | IORING_ENTER_GETEVENTS;
    int rc;
    if (wait_nr > 0 && timeout_ns >= 0 && (r->features & IORING_FEAT_EXT_ARG)) {
        // IORING_ENTER_EXT_ARG (5.11): the wait's timeout rides along; no timeout SQE needed.
        struct __kernel_timespec ts = {.tv_sec = timeout_ns / 1000000000, .tv_nsec = timeout_ns % 1000000000};
        struct io_uring_getevents_arg arg = {.sigmask = 0, .sigmask_sz = _NSIG / 8, .ts = (uint64_t)(uintptr_t)&ts};
        rc = sys_enter(r->enter_fd, to_submit, wait_nr, flags | IORING_ENTER_EXT_ARG, &arg, sizeof(arg));
    } else {
        rc = sys_enter(r->enter_fd, to_submit, timeout_ns == 0 ? 0 : wait_nr, flags, NULL, _NSIG / 8);
    }
    return rc < 0 ? -errno : rc;
}

int csys_uring_probe(struct csys_uring *r, uint8_t *supported, int capacity) {
    enum { ops = 256 };
    size_t size = sizeof(struct io_uring_probe) + ops * sizeof(struct io_uring_probe_op);
    struct io_uring_probe *probe = calloc(1, size);
    if (!probe) return -ENOMEM;
    int rc = sys_register(r->fd, IORING_REGISTER_PROBE, probe, ops);
    if (rc < 0) {
        rc = -errno;
        free(probe);
        return rc;
    }
    memset(supported, 0, (size_t)capacity);
    for (int i = 0; i < probe->ops_len && i < ops; i++) {
        int op = probe->ops[i].op;
        if (op < capacity && (probe->ops[i].flags & IO_URING_OP_SUPPORTED)) supported[op] = 1;
    }
    rc = probe->last_op + 1;
    free(probe);
    return rc;
}

int csys_uring_register_pbuf_ring(struct csys_uring *r, void *ring, unsigned entries, uint16_t group) {
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (uint64_t)(uintptr_t)ring;
    reg.ring_entries = entries;
    reg.bgid = group;
    // The kernel reads the tail from the ring's first slot; start empty.
    ((struct io_uring_buf_ring *)ring)->tail = 0;
    return sys_register(r->fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0 ? -errno : 0;
}

int csys_uring_unregister_pbuf_ring(struct csys_uring *r, uint16_t group) {
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof(reg));
    reg.bgid = group;
    return sys_register(r->fd, IORING_UNREGISTER_PBUF_RING, &reg, 1) < 0 ? -errno : 0;
}

size_t csys_uring_buf_size(void) { return sizeof(struct io_uring_buf); }
