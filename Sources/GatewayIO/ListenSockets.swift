import CSystem
import Glibc

/// Opens every worker's listening socket for every address, refusing an address another process
/// already listens on. The first socket of an address listens *without* SO_REUSEPORT, which the
/// kernel refuses while any other socket listens there (even one with SO_REUSEPORT): a second
/// gateway fails with "Address already in use" instead of silently taking half the connections.
/// Only then is SO_REUSEPORT switched on, on that same socket, so our other workers' listeners
/// join its group. The check and the claim are one listen() call: no window for a racing start,
/// and no separate probe socket whose closing would open one.
enum ListenSockets {
    /// One array per worker, holding that worker's socket for each address in order.
    static func open(_ addresses: [ResolvedAddresses.Listen], workers: Int) throws(SystemError) -> [[Int32]] {
        var perWorker = [[Int32]](repeating: [], count: workers)
        do throws(SystemError) {
            for entry in addresses {
                let first = try socket(entry, reusePort: false)
                perWorker[0].append(first)
                guard workers > 1 else { continue }
                if csys_set_int_option(first, SOL_SOCKET, SO_REUSEPORT, 1) != 0 {
                    throw SystemError("\(entry.location): setsockopt(SO_REUSEPORT) \(entry.address)", csys_errno())
                }
                for worker in 1..<workers { perWorker[worker].append(try socket(entry, reusePort: true)) }
            }
        } catch {
            for fd in perWorker.joined() { close(fd) }
            throw error
        }
        return perWorker
    }

    private static func socket(_ entry: ResolvedAddresses.Listen, reusePort: Bool) throws(SystemError) -> Int32 {
        switch Socket.listen(on: entry.address, reusePort: reusePort) {
        case .success(let fd): return fd
        case .failure(let error): throw SystemError("\(entry.location): \(error.call) \(entry.address)", error.code)
        }
    }
}
