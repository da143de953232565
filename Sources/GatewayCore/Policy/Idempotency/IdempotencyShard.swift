/// One slice of the store: a dictionary from key to node slot, nodes in an array with free-list
/// reuse, and intrusive index-linked lists, so lookup, insert, touch and evict are all O(1).
///
/// Lists: `expiring` holds every settled entry, `lru` only completed ones (replayable or not).
/// Every settled entry lives `ttl` from when it settled, so append order is deadline order and
/// expiry only ever pops heads. In-flight entries are on no list and unknown outcomes are not on
/// `lru`: nothing can evict them, and an unknown outcome leaves only when its `ttl` ends.
struct IdempotencyShard {
    let budget: Int
    private(set) var bytesUsed = 0
    /// Size of the latest journal record of every entry here: the live part of the journal file.
    private(set) var journalBytes = 0
    /// Completed entries evicted to stay within the budget, ever.
    private(set) var evictions: UInt64 = 0
    private var slots: [IdempotencyCacheKey: Int32] = [:]
    private var nodes: [Node?] = []
    private var free: [Int32] = []
    private var lru = Ends()
    private var expiring = Ends()
    private var nextToken: UInt64 = 0

    init(budget: Int) {
        self.budget = budget
    }

    var count: Int { slots.count }

    enum Lookup {
        case reserved(token: UInt64)
        case inFlight
        case settled(SettledEntry)
    }

    /// The settled entry for `key`, or a new reservation when there is none (or it has expired).
    /// Keys evicted to make room are appended to `evicted`.
    /// `deadline` is when a reservation would expire if the gateway stopped with it in flight;
    /// `recordBytes` the size of its journal record (0 without a journal).
    mutating func lookupOrReserve(_ key: IdempotencyCacheKey, now: UInt64, deadline: UInt64, recordBytes: Int = 0,
                                  evicted: inout [IdempotencyCacheKey]) -> Lookup {
        purgeExpired(now: now)
        if let i = slots[key] {
            switch nodes[Int(i)]!.state {
            case .inFlight:
                return .inFlight
            case .settled(let entry) where entry.deadline > now:
                if !entry.isUnknownOutcome { touch(i) }
                return .settled(entry)
            case .settled:
                remove(i)
            }
        }
        nextToken &+= 1
        let cost = Self.nodeCost(key)
        let i = allocate(Node(key: key, state: .inFlight(token: nextToken, deadline: deadline), cost: cost, recordBytes: recordBytes))
        slots[key] = i
        bytesUsed += cost
        journalBytes += recordBytes
        evict(into: &evicted)
        return .reserved(token: nextToken)
    }

    /// Turns the reservation into a settled entry; false if the reservation is no longer held.
    mutating func settle(_ reservation: IdempotencyReservation, as entry: SettledEntry, now: UInt64, recordBytes: Int = 0,
                         evicted: inout [IdempotencyCacheKey]) -> Bool {
        guard let i = slots[reservation.key], case .inFlight(let token, _) = nodes[Int(i)]!.state,
              token == reservation.token else { return false }
        setSettled(i, entry, recordBytes: recordBytes)
        purgeExpired(now: now)
        evict(into: &evicted)
        return true
    }

    /// Frees a reservation so the next request with the key executes; false if it was not held.
    mutating func release(_ reservation: IdempotencyReservation) -> Bool {
        guard let i = slots[reservation.key], case .inFlight(let token, _) = nodes[Int(i)]!.state,
              token == reservation.token else { return false }
        remove(i)
        return true
    }

    /// An entry read back from the journal; replaces any entry for the same key.
    mutating func insert(_ key: IdempotencyCacheKey, _ entry: SettledEntry, now: UInt64, recordBytes: Int = 0,
                         evicted: inout [IdempotencyCacheKey]) {
        if let old = slots[key] { remove(old) }
        let cost = Self.nodeCost(key)
        let i = allocate(Node(key: key, state: .inFlight(token: 0, deadline: 0), cost: cost, recordBytes: 0))
        slots[key] = i
        bytesUsed += cost
        setSettled(i, entry, recordBytes: recordBytes)
        purgeExpired(now: now)
        evict(into: &evicted)
    }

    /// The settled, unexpired entry of `key` without touching or reserving anything.
    func peek(_ key: IdempotencyCacheKey, now: UInt64) -> SettledEntry? {
        guard let i = slots[key], case .settled(let entry) = nodes[Int(i)]!.state, entry.deadline > now else { return nil }
        return entry
    }

    /// Drops the settled entry of `key`, if any: a later journal record said it is gone.
    mutating func discard(_ key: IdempotencyCacheKey) {
        guard let i = slots[key], case .settled = nodes[Int(i)]!.state else { return }
        remove(i)
    }

    /// Records that rebuild this shard's live entries: settled ones in expiry order, then the
    /// reservations in flight.
    func snapshot(now: UInt64) -> [JournalRecord] {
        var records: [JournalRecord] = []
        records.reserveCapacity(slots.count)
        var i = expiring.head
        while i >= 0 {
            let node = nodes[Int(i)]!
            if case .settled(let entry) = node.state, entry.deadline > now { records.append(.settled(node.key, entry)) }
            i = node.timeNext
        }
        for case let node? in nodes {
            if case .inFlight(_, let deadline) = node.state { records.append(.reserved(node.key, deadline: deadline)) }
        }
        return records
    }

    /// What an entry costs: its node slot, its dictionary slot (at the 3/4 maximum load factor),
    /// the key's bytes, and the stored response if any.
    static func nodeCost(_ key: IdempotencyCacheKey) -> Int {
        MemoryLayout<Node?>.stride + MemoryLayout<Int32>.stride
            + (MemoryLayout<IdempotencyCacheKey>.stride + MemoryLayout<Int32>.stride + 1) * 4 / 3
            + IdempotencyMemory.arrayCost(key.bytes)
    }

    private mutating func setSettled(_ i: Int32, _ entry: SettledEntry, recordBytes: Int) {
        var node = nodes[Int(i)]!
        let cost = Self.nodeCost(node.key) + { if case .stored(let r) = entry.outcome { r.memoryCost } else { 0 } }()
        bytesUsed += cost - node.cost
        node.cost = cost
        journalBytes += recordBytes - node.recordBytes
        node.recordBytes = recordBytes
        node.state = .settled(entry)
        nodes[Int(i)] = node
        appendTime(i)
        if !entry.isUnknownOutcome { pushLRU(i) }
    }

    /// Expired entries go first, in deadline order; then least recently used completed entries.
    mutating func purgeExpired(now: UInt64) {
        while expiring.head >= 0, nodes[Int(expiring.head)]!.deadline <= now { remove(expiring.head) }
    }

    private mutating func evict(into evicted: inout [IdempotencyCacheKey]) {
        while bytesUsed > budget, lru.tail >= 0 {
            evicted.append(nodes[Int(lru.tail)]!.key)
            remove(lru.tail)
            evictions += 1
        }
    }

    private mutating func remove(_ i: Int32) {
        let node = nodes[Int(i)]!
        if case .settled(let entry) = node.state {
            unlinkTime(i)
            if !entry.isUnknownOutcome { unlinkLRU(i) }
        }
        slots[node.key] = nil
        bytesUsed -= node.cost
        journalBytes -= node.recordBytes
        nodes[Int(i)] = nil
        free.append(i)
    }

    private mutating func allocate(_ node: Node) -> Int32 {
        if let i = free.popLast() {
            nodes[Int(i)] = node
            return i
        }
        nodes.append(node)
        return Int32(nodes.count - 1)
    }

    private mutating func touch(_ i: Int32) {
        guard lru.head != i else { return }
        unlinkLRU(i)
        pushLRU(i)
    }

    private mutating func pushLRU(_ i: Int32) {
        nodes[Int(i)]!.lruPrev = -1
        nodes[Int(i)]!.lruNext = lru.head
        if lru.head >= 0 { nodes[Int(lru.head)]!.lruPrev = i } else { lru.tail = i }
        lru.head = i
    }

    private mutating func unlinkLRU(_ i: Int32) {
        let (prev, next) = (nodes[Int(i)]!.lruPrev, nodes[Int(i)]!.lruNext)
        if prev >= 0 { nodes[Int(prev)]!.lruNext = next } else { lru.head = next }
        if next >= 0 { nodes[Int(next)]!.lruPrev = prev } else { lru.tail = prev }
    }

    private mutating func appendTime(_ i: Int32) {
        nodes[Int(i)]!.timePrev = expiring.tail
        nodes[Int(i)]!.timeNext = -1
        if expiring.tail >= 0 { nodes[Int(expiring.tail)]!.timeNext = i } else { expiring.head = i }
        expiring.tail = i
    }

    private mutating func unlinkTime(_ i: Int32) {
        let (prev, next) = (nodes[Int(i)]!.timePrev, nodes[Int(i)]!.timeNext)
        if prev >= 0 { nodes[Int(prev)]!.timeNext = next } else { expiring.head = next }
        if next >= 0 { nodes[Int(next)]!.timePrev = prev } else { expiring.tail = prev }
    }

    private struct Ends {
        var head: Int32 = -1
        var tail: Int32 = -1
    }

    private struct Node {
        var key: IdempotencyCacheKey
        var state: EntryState
        var cost: Int
        var recordBytes: Int
        var lruPrev: Int32 = -1, lruNext: Int32 = -1
        var timePrev: Int32 = -1, timeNext: Int32 = -1

        var deadline: UInt64 {
            if case .settled(let entry) = state { return entry.deadline }
            return .max
        }
    }
}
