#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The journal as a local file, through plain Glibc calls: open, pread, pwrite, fsync, rename.
/// Not sockets, and never on a path that waits for the network, so the core may own it.
/// Writes go to explicit offsets (no O_APPEND): after a failed write the journal writes its next
/// record over the partial one instead of leaving garbage between records.
public final class JournalFile: JournalStorage {
    public let path: String
    private let descriptor: Mutex<Int32>

    /// Opens or creates the journal (mode 0600).
    public init(path: String) throws(JournalIOError) {
        self.path = path
        descriptor = Mutex(try Self.open(path, O_RDWR | O_CREAT))
    }

    deinit { descriptor.withLock { _ = close($0) } }

    public func read(at offset: Int64, maxBytes: Int, into buffer: inout [UInt8]) throws(JournalIOError) -> Int {
        let fd = descriptor.withLock { $0 }
        let start = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: maxBytes))
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + start, maxBytes, off_t(offset)) }
            if n >= 0 {
                buffer.removeLast(maxBytes - n)
                return n
            }
            guard errno == EINTR else {
                buffer.removeLast(maxBytes)
                throw JournalIOError("read", path: path, code: errno)
            }
        }
    }

    public func write(_ bytes: [UInt8], at offset: Int64) throws(JournalIOError) {
        try Self.writeAll(descriptor.withLock { $0 }, bytes, at: offset, path: path)
    }

    public func sync() throws(JournalIOError) {
        guard fsync(descriptor.withLock { $0 }) == 0 else { throw JournalIOError("fsync", path: path, code: errno) }
    }

    public func size() throws(JournalIOError) -> Int64 {
        var info = stat()
        guard fstat(descriptor.withLock { $0 }, &info) == 0 else { throw JournalIOError("fstat", path: path, code: errno) }
        return Int64(info.st_size)
    }

    /// Written beside the journal (`PATH.compact`; a leftover from a crash is simply overwritten).
    public func beginReplacement() throws(JournalIOError) -> any JournalReplacement {
        let temporary = path + ".compact"
        return Replacement(target: self, path: temporary, fd: try Self.open(temporary, O_RDWR | O_CREAT | O_TRUNC))
    }

    /// Written in full, fsynced, renamed over the journal, and the directory fsynced so the
    /// rename itself survives a crash; then the journal reads and writes the new file.
    private final class Replacement: JournalReplacement {
        let target: JournalFile
        let path: String
        var fd: Int32

        init(target: JournalFile, path: String, fd: Int32) {
            self.target = target
            self.path = path
            self.fd = fd
        }

        deinit { if fd >= 0 { close(fd) } }

        func write(_ bytes: [UInt8], at offset: Int64) throws(JournalIOError) {
            try JournalFile.writeAll(fd, bytes, at: offset, path: path)
        }

        func sync() throws(JournalIOError) {
            guard fsync(fd) == 0 else { throw JournalIOError("fsync", path: path, code: errno) }
        }

        func commit() throws(JournalIOError) {
            try sync()
            guard rename(path, target.path) == 0 else { throw JournalIOError("rename", path: path, code: errno) }
            let directory = JournalFile.open(directoryOf: target.path)
            if directory >= 0 {
                fsync(directory)
                close(directory)
            }
            let fresh = fd
            fd = -1
            target.descriptor.withLock { old in
                close(old)
                old = fresh
            }
        }

        func abandon() {
            if fd >= 0 { close(fd) }
            fd = -1
            unlink(path)
        }
    }

    private static func open(_ path: String, _ flags: Int32) throws(JournalIOError) -> Int32 {
        let fd = Glibc.open(path, flags | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw JournalIOError("open", path: path, code: errno) }
        return fd
    }

    private static func open(directoryOf path: String) -> Int32 {
        guard let slash = path.lastIndex(of: "/") else { return Glibc.open(".", O_RDONLY | O_CLOEXEC) }
        let directory = slash == path.startIndex ? "/" : String(path[..<slash])
        return Glibc.open(directory, O_RDONLY | O_CLOEXEC)
    }

    fileprivate static func writeAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int64, path: String) throws(JournalIOError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, $0.count - done, off_t(offset) + off_t(done)) }
            if n > 0 {
                done += n
            } else if n == 0 || errno != EINTR {
                throw JournalIOError("write", path: path, code: n == 0 ? EIO : errno)
            }
        }
    }
}
