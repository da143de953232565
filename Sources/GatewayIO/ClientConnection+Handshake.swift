import CSystem
import GatewayCore
import Glibc

/// The TLS handshake of a connection accepted on an `ssl` listener, before its machine starts:
/// one non-blocking step per readiness event (OpenSSL's WANT_READ / WANT_WRITE wait for the next
/// edge), at most `EventLoop.handshakesPerIteration` steps per loop iteration, and the connection
/// dropped at `ssl_handshake_timeout` (its deadline until the handshake is done).
extension ClientConnection: DeferredStep {
    func runDeferred() {
        queuedForHandshake = false
        stepHandshake()
    }

    func stepHandshake() {
        guard let session = handshaking else { return }
        if !probed {
            switch Self.firstByte(fd) {
            case .none:
                return
            case .closed, .neither:
                closeSocket()
                return
            case .plainHTTP:
                refusePlainHTTP()
                return
            case .tlsRecord:
                probed = true
            }
        }
        guard loop.takeHandshakeTurn() else {
            // Edge-triggered: the bytes are already announced, so the loop must come back by itself.
            if !queuedForHandshake {
                queuedForHandshake = true
                loop.deferToNextIteration(self)
            }
            return
        }
        switch session.handshake() {
        case .done:
            handshaking = nil
            machine.now = loop.now
            machine.transportReady()
            drive()
        case .wantRead:
            handshakeWaitsFor = CSYS_EPOLLIN
        case .wantWrite:
            handshakeWaitsFor = CSYS_EPOLLOUT
        case .failed:
            // A garbage or truncated ClientHello, a protocol or cipher mismatch: OpenSSL has sent
            // its alert if it could; there is no one to tell anything more.
            closeSocket()
        }
    }

    /// nginx answers plain HTTP on a TLS port with its 497 page; here it is the 400 envelope, in
    /// plain text so the client can read it, then the usual lingering close.
    private func refusePlainHTTP() {
        handshaking = nil
        transport = .plain(PlainTransport(fd: fd))
        machine.now = loop.now
        machine.refuseConnection(GatewayError(.invalidRequest, "Plain HTTP was sent to an HTTPS port; use https://"))
        drive()
    }

    enum FirstByte { case none, closed, plainHTTP, tlsRecord, neither }

    /// Looks at the first byte the client sent without taking it: every TLS ClientHello starts
    /// with 0x16 (a handshake record); a request line starts with an upper-case method name.
    /// Anything else is closed at once: an SSLv2-style hello (high bit set) would have OpenSSL
    /// wait for a length of up to 32 KiB that never comes, and SSLv2 is never accepted anyway.
    static func firstByte(_ fd: Int32) -> FirstByte {
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        if n == 1 {
            if byte == 0x16 { return .tlsRecord }
            return (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? .plainHTTP : .neither
        }
        if n == 0 { return .closed }
        let error = csys_errno()
        return error == EAGAIN || error == EWOULDBLOCK || error == EINTR ? .none : .closed
    }
}
