import Glibc

/// Starts a detached OS thread. Lives outside main.swift on purpose: a closure created there
/// inherits main-actor isolation and traps when another thread runs it.
public enum Thread {
    private final class Box: @unchecked Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    /// Fails (e.g. EAGAIN under a thread limit, with many `workers`) instead of trapping.
    public static func start(_ body: @escaping @Sendable () -> Void) throws(SystemError) {
        let box = Unmanaged.passRetained(Box(body))
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            Unmanaged<Box>.fromOpaque(raw).takeRetainedValue().body()
            return nil
        }, box.toOpaque())
        guard rc == 0 else {
            box.release()
            throw SystemError("pthread_create", rc)
        }
        pthread_detach(thread)
    }
}
