import CSystem
import Glibc

/// A provided-buffer ring (IORING_REGISTER_PBUF_RING, 5.19): `count` buffers of `bufferSize`
/// bytes the kernel picks from when a recv with IOSQE_BUFFER_SELECT has data, so a connection
/// waiting for bytes holds no receive buffer of its own. Each completion that carries
/// IORING_CQE_F_BUFFER hands one buffer to the receiver (`take`); it goes back to the kernel
/// with `recycle` once its bytes are consumed (parsed, copied, or sent on). When every buffer is
/// held, multishot receives end with -ENOBUFS (see StarvedReceivers).
package final class ProvidedBuffers {
    package let group: UInt16
    package let count: Int
    package let bufferSize: Int
    /// Buffers the kernel may pick from; the others are held by receivers.
    package private(set) var available: Int
    /// Keeps the ring (and with it the registration) alive as long as the buffers.
    private let ring: URing
    private let ringMemory: UnsafeMutableRawPointer
    private let ringBytes: Int
    private let slab: UnsafeMutableRawPointer
    private let slabBytes: Int
    private let mask: UInt32
    private var held: [Bool]

    /// `count` is a power of two, at most 32768 (the ring's tail is 16 bits).
    package init(ring: URing, group: UInt16 = 0, count: Int, bufferSize: Int) throws(SystemError) {
        precondition(count > 0 && count <= 32768 && count & (count - 1) == 0, "buffer count must be a power of two ≤ 32768")
        precondition(bufferSize > 0 && bufferSize <= Int(UInt32.max))
        self.ring = ring
        self.group = group
        self.count = count
        self.bufferSize = bufferSize
        mask = UInt32(count - 1)
        // The ring must be page-aligned (the kernel pins its pages); the slab is reserved lazily
        // (MAP_NORESERVE), so its pages only cost memory once a receive has written into them.
        ringBytes = count * csys_uring_buf_size()
        slabBytes = count * bufferSize
        guard let ringMemory = ProvidedBuffers.map(ringBytes, flags: 0) else { throw SystemError("mmap", csys_errno()) }
        guard let slab = ProvidedBuffers.map(slabBytes, flags: MAP_NORESERVE) else {
            let e = csys_errno()
            munmap(ringMemory, ringBytes)
            throw SystemError("mmap", e)
        }
        self.ringMemory = ringMemory
        self.slab = slab
        let rc = csys_uring_register_pbuf_ring(ring.raw, ringMemory, UInt32(count), group)
        if rc < 0 {
            munmap(ringMemory, ringBytes)
            munmap(slab, slabBytes)
            throw SystemError("IORING_REGISTER_PBUF_RING", -rc)
        }
        held = [Bool](repeating: false, count: count)
        available = count
        for id in 0..<count {
            csys_pbuf_add(ringMemory, mask, slab + id * bufferSize, UInt32(bufferSize), UInt16(id), UInt32(id))
        }
        csys_pbuf_advance(ringMemory, UInt32(count))
    }

    deinit {
        _ = csys_uring_unregister_pbuf_ring(ring.raw, group)
        munmap(ringMemory, ringBytes)
        munmap(slab, slabBytes)
    }

    /// The bytes a receive completion delivered, or nil when it carries no buffer. From here the
    /// buffer is the caller's until `recycle`; call once per completion, stale ones included.
    package func take(_ completion: URingCompletion) -> UnsafeMutableRawBufferPointer? {
        guard let id = completion.bufferID else { return nil }
        precondition(!held[Int(id)], "provided buffer \(id) delivered twice")
        held[Int(id)] = true
        available -= 1
        return bytes(id, count: max(0, Int(completion.result)))
    }

    package func bytes(_ id: UInt16, count: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: slab + Int(id) * bufferSize, count: count)
    }

    /// Gives buffer `id` back to the kernel; its bytes must not be read afterwards.
    package func recycle(_ id: UInt16) {
        precondition(held[Int(id)], "provided buffer \(id) recycled but not held")
        held[Int(id)] = false
        available += 1
        csys_pbuf_add(ringMemory, mask, slab + Int(id) * bufferSize, UInt32(bufferSize), id, 0)
        csys_pbuf_advance(ringMemory, 1)
    }

    /// Hands the pages of every buffer the kernel holds back to the system (after a spike): the
    /// next receive into one faults in a zeroed page. Safe while they sit in the ring, since with
    /// DEFER_TASKRUN the kernel only writes into them inside this thread's io_uring_enter.
    /// Returns the bytes released.
    @discardableResult
    package func releaseIdlePages() -> Int {
        var released = 0
        var id = 0
        while id < count {
            guard !held[id] else { id += 1; continue }
            let start = id
            while id < count && !held[id] { id += 1 }
            // Whole pages only: a page shared with a held buffer keeps its bytes.
            let page = Int(sysconf(Int32(_SC_PAGESIZE)))
            let first = (start * bufferSize + page - 1) / page * page
            let end = id * bufferSize / page * page
            if end > first, madvise(slab + first, end - first, MADV_DONTNEED) == 0 { released += end - first }
        }
        return released
    }

    private static func map(_ bytes: Int, flags: Int32) -> UnsafeMutableRawPointer? {
        let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0)
        return p == MAP_FAILED ? nil : p
    }
}
