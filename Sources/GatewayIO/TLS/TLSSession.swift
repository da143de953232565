import COpenSSL
import CSystem
import GatewayCore
import Glibc

/// One TLS connection over a non-blocking socket, in either role. It does what `PlainTransport`
/// does (read into a buffer, drain an `OutputQueue`) through OpenSSL, so the HTTP code above
/// cannot tell the two apart; the handshake comes first, one non-blocking step per readiness event.
///
/// Edge-triggered epoll announces new bytes once, so reads go on until OpenSSL wants more from
/// the socket (or the buffer is full): a record OpenSSL has already taken off the socket would
/// otherwise wait for an event that never comes.
final class TLSSession {
    enum HandshakeStep {
        case done
        /// Call again when the socket is readable (or writable).
        case wantRead, wantWrite
        case failed(String)
    }

    private let ssl: OpaquePointer
    let fd: Int32
    /// The context whose callbacks (SNI, tickets) this session's handshake calls back into.
    private let owner: AnyObject
    /// Per-loop staging for `flush`: small queued segments are coalesced into one record.
    private let scratch: ByteBuffer
    private var established = false
    /// A fatal error (or a peer that vanished): no close_notify is owed, and none can be sent.
    private var broken = false
    /// The peer sent close_notify or the connection failed: nothing more will be read.
    private(set) var peerClosed = false
    /// Why reading failed, when it was TLS's doing (an alert from the peer, a bad record).
    private(set) var failure: String?
    /// OpenSSL wanted the socket writable to go on reading (or readable to go on writing): rare
    /// (a TLS 1.3 key update under a full socket), but the other readiness must then wake the side that waits.
    private(set) var readWantsWrite = false
    private(set) var writeWantsRead = false

    /// A record holds at most 16 KiB: coalescing more would not save a record, nor a write(2).
    static let recordSize = 16 * 1024

    init?(context: OpaquePointer, owner: AnyObject, fd: Int32, server: Bool, scratch: ByteBuffer) {
        guard let ssl = SSL_new(context) else {
            OpenSSLError.clear()
            return nil
        }
        guard SSL_set_fd(ssl, fd) == 1 else {
            SSL_free(ssl)
            OpenSSLError.clear()
            return nil
        }
        if server { SSL_set_accept_state(ssl) } else { SSL_set_connect_state(ssl) }
        self.ssl = ssl
        self.fd = fd
        self.owner = owner
        self.scratch = scratch
    }

    deinit { SSL_free(ssl) }

    func expectPeer(hostName name: String) -> Bool {
        gw_ssl_set_host_name(ssl, name) == 1 && SSL_set1_host(ssl, name) == 1
    }

    func expectPeer(ipAddress: String) -> Bool {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ipAddress) == 1
    }

    /// Bytes OpenSSL holds that no read has taken yet, decrypted or not (read-ahead).
    var hasPendingBytes: Bool { SSL_has_pending(ssl) == 1 }

    // MARK: Handshake

    func handshake() -> HandshakeStep {
        OpenSSLError.clear()
        let rc = SSL_do_handshake(ssl)
        if rc == 1 {
            established = true
            return .done
        }
        switch SSL_get_error(ssl, rc) {
        case SSL_ERROR_WANT_READ: return .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        case let code:
            broken = true
            return .failed(failureReason(code))
        }
    }

    /// Why a handshake failed, in words for a log line and a 502's details: the verification
    /// verdict when there is one, else OpenSSL's errors, else the socket's.
    private func failureReason(_ code: Int32) -> String {
        let verdict = SSL_get_verify_result(ssl)
        if verdict != X509_V_OK, let text = X509_verify_cert_error_string(verdict) {
            OpenSSLError.clear()
            return "certificate verify failed: \(String(cString: text))"
        }
        let errno = csys_errno()
        let fallback = code == SSL_ERROR_SYSCALL
            ? (errno == 0 ? "the peer closed the connection" : String(cString: strerror(errno)))
            : "TLS error \(code)"
        return OpenSSLError.drain(or: fallback)
    }

    // MARK: Data

    /// Reads until OpenSSL needs more from the socket or `buffer` is full.
    func read(into buffer: ByteBuffer) -> ReadResult {
        if peerClosed { return .eof }
        readWantsWrite = false
        var total = 0
        while buffer.writableCount > 0 {
            OpenSSLError.clear()
            let n = SSL_read(ssl, buffer.writePointer, Int32(clamping: buffer.writableCount))
            if n > 0 {
                buffer.writeIndex += Int(n)
                total += Int(n)
                continue
            }
            switch SSL_get_error(ssl, n) {
            case SSL_ERROR_WANT_READ:
                break
            case SSL_ERROR_WANT_WRITE:
                readWantsWrite = true
            case SSL_ERROR_ZERO_RETURN:
                peerClosed = true
            case let code:
                peerClosed = true
                broken = true
                failure = code == SSL_ERROR_SSL ? OpenSSLError.drain() : nil
                OpenSSLError.clear()
            }
            return total > 0 ? .bytes(total) : peerClosed ? .eof : .wouldBlock
        }
        return .bytes(total)
    }

    /// Writes as much of `queue` as the socket takes, a record at a time. A record built from
    /// several small segments (head, chunk framing, body) is staged in the loop's scratch buffer;
    /// a segment of a whole record or more is encrypted in place. A write that blocks is retried
    /// with the same leading bytes (the queue's front only moves when bytes are taken), which is
    /// what OpenSSL requires of a retry; the staging address may differ (ACCEPT_MOVING_WRITE_BUFFER).
    func flush(_ queue: OutputQueue) -> FlushResult {
        let before = queue.totalWritten
        writeWantsRead = false
        return withUnsafeTemporaryAllocation(of: iovec.self, capacity: OutputQueue.maxSegments) { iov in
            guard let vectors = iov.baseAddress else { return .failed(ENOMEM) }
            while !queue.isEmpty {
                let count = queue.gather(into: vectors, capacity: OutputQueue.maxSegments)
                let (pointer, length) = stage(vectors, count)
                OpenSSLError.clear()
                let n = SSL_write(ssl, pointer, Int32(clamping: length))
                if n > 0 {
                    queue.consume(Int(n))
                    continue
                }
                let error = SSL_get_error(ssl, n)
                switch error {
                case SSL_ERROR_WANT_WRITE:
                    return .blocked(progressed: queue.totalWritten != before)
                case SSL_ERROR_WANT_READ:
                    writeWantsRead = true
                    return .blocked(progressed: queue.totalWritten != before)
                default:
                    broken = true
                    let code = csys_errno()
                    OpenSSLError.clear()
                    return .failed(error == SSL_ERROR_SYSCALL && code != 0 ? code : EPIPE)
                }
            }
            return .drained
        }
    }

    /// The bytes of the next record: the first segment itself when it fills one, else the leading
    /// segments copied into the scratch buffer up to a record's size.
    private func stage(_ vectors: UnsafeMutablePointer<iovec>, _ count: Int) -> (UnsafeRawPointer, Int) {
        let first = vectors[0]
        if first.iov_len >= Self.recordSize, let base = first.iov_base { return (UnsafeRawPointer(base), first.iov_len) }
        scratch.clear()
        for i in 0..<count where scratch.writeIndex < Self.recordSize {
            guard let base = vectors[i].iov_base else { continue }
            let take = min(vectors[i].iov_len, Self.recordSize - scratch.writeIndex)
            scratch.writePointer.update(from: base.assumingMemoryBound(to: UInt8.self), count: take)
            scratch.writeIndex += take
        }
        return (UnsafeRawPointer(scratch.base), scratch.writeIndex)
    }

    // MARK: A few bytes at a time

    /// What `send` or `receive` did, in the terms of a socket call.
    enum Transfer {
        case bytes(Int)
        case wouldBlock
        /// close_notify or EOF (receive only).
        case closed
        case failed(String)
    }

    /// One SSL_write of `bytes`, for callers without an output queue (health checks).
    func send(_ bytes: UnsafeRawBufferPointer) -> Transfer {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return .bytes(0) }
        OpenSSLError.clear()
        let n = SSL_write(ssl, base, Int32(clamping: bytes.count))
        return n > 0 ? .bytes(Int(n)) : transfer(after: n)
    }

    /// One SSL_read into `buffer`.
    func receive(into buffer: UnsafeMutableRawBufferPointer) -> Transfer {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return .bytes(0) }
        OpenSSLError.clear()
        let n = SSL_read(ssl, base, Int32(clamping: buffer.count))
        return n > 0 ? .bytes(Int(n)) : transfer(after: n)
    }

    private func transfer(after rc: Int32) -> Transfer {
        let code = SSL_get_error(ssl, rc)
        switch code {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .wouldBlock
        case SSL_ERROR_ZERO_RETURN: return .closed
        default:
            broken = true
            return .failed(failureReason(code))
        }
    }

    // MARK: Ending

    /// close_notify, once, when the connection is healthy; it never waits for the peer's.
    func sendCloseNotify() {
        guard established, !broken else { return }
        established = false
        OpenSSLError.clear()
        _ = SSL_shutdown(ssl)
        OpenSSLError.clear()
    }
}
