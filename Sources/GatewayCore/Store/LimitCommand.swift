/// The arguments of the limit scripts for one request, and what their answers say. Pure, so the
/// exact bytes sent and the reading of every answer are unit-tested without a server.
public enum LimitCommand {
    /// Where one caller's limits live. In a cluster the global slots cannot share a script with a
    /// key's (another hash slot), so `globalSlots` is then the key's own slots key and the global
    /// limit is kept by each instance.
    public struct Keys {
        public var prefix: [UInt8]
        public var globalInStore: Bool

        public init(prefix: [UInt8], globalInStore: Bool) {
            self.prefix = prefix
            self.globalInStore = globalInStore
        }

        public var slot: Int { ClusterSlot.slot(prefix) }

        func appendSlotsAndQuota(to command: inout RESPCommand) {
            command.append(prefix, StoreKeys.keySlots)
            if globalInStore { command.append(StoreKeys.globalSlots) } else { command.append(prefix, StoreKeys.keySlots) }
            command.append(prefix, StoreKeys.quota)
        }
    }

    /// `EVALSHA admit 6 <key bucket> <route bucket> <key slots> <global slots> <quota> <owed route
    /// bucket> <20 argv>`. Limits the store does not keep (a cluster's global concurrency) are left
    /// out as 0; `owed` (from `LocalAllowance.carry`) is charged before the request is checked.
    public static func admit(_ request: LimitRequest, keys: Keys, routePrefix: String, member: [UInt8],
                             quotaResetOffsetMs: Int64, owed: OwedUnits? = nil) -> RESPCommand {
        var command = LimitScripts.admit.evalsha(keys: 6, arguments: 26)
        command.append(keys.prefix, StoreKeys.keyBucket)
        command.append(keys.prefix, StoreKeys.routeBucket, routePrefix.utf8)
        keys.appendSlotsAndQuota(to: &command)
        let owedRoute = owed.map { $0.limits.routeRate == nil ? routePrefix : $0.limits.routePrefix } ?? routePrefix
        command.append(keys.prefix, StoreKeys.routeBucket, owedRoute.utf8)
        command.append(member)
        command.append(request.leaseMs)
        appendRate(request.keyRate, to: &command)
        appendRate(request.routeRate?.rate, to: &command)
        command.append(Int64(request.keyConcurrency ?? 0))
        command.append(Int64(keys.globalInStore ? request.globalConcurrency ?? 0 : 0))
        command.append(request.dailyQuota ?? 0)
        command.append(quotaResetOffsetMs)
        command.append(Int64(owed?.units ?? 0))
        appendRate(owed?.limits.keyRate, to: &command)
        appendRate(owed?.limits.routeRate, to: &command)
        command.append(owed?.limits.dailyQuota == nil ? 0 : 1)
        return command
    }

    /// Charges units owed by a key that went quiet: the admit script for an empty request, which
    /// takes nothing else.
    public static func settle(_ owed: OwedUnits, prefix: [UInt8]) -> RESPCommand {
        admit(LimitRequest(leaseMs: 0), keys: Keys(prefix: prefix, globalInStore: false), routePrefix: owed.limits.routePrefix,
              member: [], quotaResetOffsetMs: owed.limits.quotaResetOffsetMs, owed: owed)
    }

    /// count, period ms, burst; zeros for no bucket.
    private static func appendRate(_ rate: TokenRate?, to command: inout RESPCommand) {
        command.append(rate?.count ?? 0)
        command.append(rate?.periodMs ?? 0)
        command.append(rate?.burst ?? 0)
    }

    /// Gives the lease's slots back, and a quota unit of `refundDay` (nil: none; -1: none either,
    /// but through the script, which removes the member from both slot sets). Without a unit to
    /// give back, plain `ZREM`s of the slots held: much cheaper for Redis than a script call.
    public static func release(keys: Keys, member: [UInt8], refundDay: Int64?, slots: (key: Bool, global: Bool)) -> [RESPCommand] {
        guard let refundDay else {
            var commands: [RESPCommand] = []
            if slots.key { commands.append(zrem(keys.prefix + StoreKeys.keySlots, member)) }
            if slots.global && keys.globalInStore { commands.append(zrem(StoreKeys.globalSlots, member)) }
            return commands
        }
        var command = LimitScripts.lease.evalsha(keys: 3, arguments: 6)
        keys.appendSlotsAndQuota(to: &command)
        command.append("release".utf8)
        command.append(member)
        command.append(refundDay)
        return [command]
    }

    private static func zrem(_ key: [UInt8], _ member: [UInt8]) -> RESPCommand {
        var command = RESPCommand(arguments: 3)
        command.append("ZREM".utf8)
        command.append(key)
        command.append(member)
        return command
    }

    /// Extends the lease to `leaseMs` from now (Redis's now).
    public static func renew(keys: Keys, member: [UInt8], leaseMs: Int64) -> RESPCommand {
        var command = LimitScripts.lease.evalsha(keys: 3, arguments: 6)
        keys.appendSlotsAndQuota(to: &command)
        command.append("renew".utf8)
        command.append(member)
        command.append(leaseMs)
        return command
    }

    /// What the admit script answered.
    public struct Answer: Equatable {
        public var code: Int64
        public var retryMs: Int64
        public var buckets: BucketVerdict
        /// The quota day a unit was taken on, when one was.
        public var quotaDay: Int64?
        /// What the quota holds after this request, when it counted against it.
        public var quotaRemaining: Int64?
    }

    /// nil for anything but the script's eight integers.
    public static func answer(_ reply: RESPValue) -> Answer? {
        guard let items = reply.elements, items.count == 8 else { return nil }
        let numbers = items.compactMap(\.integer)
        guard numbers.count == 8, (0...4).contains(numbers[0]), numbers[1] >= 0 else { return nil }
        func status(_ remaining: Int64, _ next: Int64) -> BucketStatus? {
            remaining < 0 || next < 0 ? nil : BucketStatus(remaining: remaining, msUntilNextToken: UInt64(next))
        }
        let buckets = BucketVerdict(waitMs: numbers[0] == 1 ? UInt64(numbers[1]) : 0,
                                    first: status(numbers[2], numbers[3]), second: status(numbers[4], numbers[5]))
        return Answer(code: numbers[0], retryMs: numbers[1], buckets: buckets, quotaDay: numbers[6] >= 0 ? numbers[6] : nil,
                      quotaRemaining: numbers[7] >= 0 ? numbers[7] : nil)
    }

    /// The decision an answer carries.
    public static func decision(_ answer: Answer) -> LimitDecision {
        let retry = UInt64(answer.retryMs)
        switch answer.code {
        case 0: return .admitted(answer.buckets)
        case 1: return .refused(answer.buckets.first?.remaining == 0 ? .keyRate : .routeRate, answer.buckets, retryAfterMs: retry)
        case 2: return .refused(.globalConcurrency, answer.buckets, retryAfterMs: 1000)
        case 3: return .refused(.keyConcurrency, answer.buckets, retryAfterMs: 1000)
        default: return .refused(.dailyQuota, answer.buckets, retryAfterMs: retry)
        }
    }
}
