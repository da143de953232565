import Synchronization

/// Request counters shared by all connection threads.
final class MockStats: Sendable {
    private struct State {
        var total = 0
        var messageSequence = 0
        var paths: [String: Int] = [:]
    }

    private let state = Mutex(State())

    static let shared = MockStats()

    /// Counts one request; returns the total including it.
    func record(method: String, path: String) -> Int {
        state.withLock { s in
            s.total += 1
            s.paths["\(method) \(path)", default: 0] += 1
            return s.total
        }
    }

    var total: Int { state.withLock { $0.total } }

    /// Next id for POST /v1/messages/text (never reset, so ids stay unique for a process).
    func nextMessageNumber() -> Int {
        state.withLock { s in
            s.messageSequence += 1
            return s.messageSequence
        }
    }

    func reset() {
        state.withLock { s in
            s.total = 0
            s.paths.removeAll()
        }
    }

    /// `{"requests":N,"paths":{"GET /v1/x":n,...}}`, keys sorted.
    func json() -> [UInt8] {
        let (total, paths) = state.withLock { ($0.total, $0.paths) }
        var out = JSONOut()
        out.raw("{\"requests\":")
        out.int(total)
        out.raw(",\"paths\":{")
        for (i, key) in paths.keys.sorted().enumerated() {
            if i > 0 { out.raw(",") }
            out.string(key)
            out.raw(":")
            out.int(paths[key] ?? 0)
        }
        out.raw("}}")
        return out.bytes
    }
}
