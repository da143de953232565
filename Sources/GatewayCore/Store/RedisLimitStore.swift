/// The client limits kept in Redis (`store redis://...`), shared by every gateway instance: one
/// `EVALSHA` of `LimitScripts.admit` per request checks and takes every limit that applies at
/// once, all or nothing, on Redis's clock. Concurrency slots are leases renewed by the loop's
/// `LeaseBook` while the request runs. Anonymous requests ask only for the global slot. With
/// `store_sync local_burst`, a key's requests that hold no slot may be admitted from the loop's
/// `LocalAllowance` instead, their units charged by the key's next command.
///
/// In a Redis Cluster the global slots would sit in another hash slot than the key's, so each
/// instance keeps `global_concurrency` itself there (`localGlobal`).
public final class RedisLimitStore: LimitStore {
    private let policies: ClientPolicies
    public let failsOpen: Bool
    /// The global count in cluster mode.
    private let localGlobal: ConcurrencyGate

    public init(policies: ClientPolicies, failsOpen: Bool, localGlobal: ConcurrencyGate) {
        self.policies = policies
        self.failsOpen = failsOpen
        self.localGlobal = localGlobal
    }

    public func admit(_ request: LimitRequest, context: RequestContext, stage: any StoreStage) -> LimitAnswer {
        guard let link = context.storeLink else { return .now(.unavailable("no store connection on this loop")) }
        var request = request
        let keys = LimitCommand.Keys(prefix: context.storePrefix(policies.keys), globalInStore: !link.isCluster)
        if !keys.globalInStore, let limit = request.globalConcurrency {
            guard localGlobal.acquireGlobal(limit: limit) else {
                return .now(.refused(.globalConcurrency, BucketVerdict(waitMs: 0), retryAfterMs: 1000))
            }
            context.policyHolds.globalSlot = true
            request.globalConcurrency = nil
            if request.isEmpty { return .now(.admitted(BucketVerdict(waitMs: 0))) }
        }
        if let allowance = link.allowance, let limits = counted(request, context, keys),
           let buckets = allowance.take(keys.prefix, limits, now: context.monotonicMillis) {
            context.admittedLocally = true
            return .now(.admitted(buckets))
        }
        let (owed, mark) = link.allowance?.carry(keys.prefix) ?? (nil, LocalAllowance.Mark())
        context.allowanceMark = mark
        let lease = link.leases.take()
        context.policyHolds.lease = lease
        let member = link.leases.member(lease)
        let command = LimitCommand.admit(request, keys: keys, routePrefix: context.route!.config.prefix, member: member,
                                         quotaResetOffsetMs: policies.calendar.resetOffsetMs, owed: owed)
        link.send(command, slot: keys.slot, for: stage, context: context,
                  undo: Undo(keys: keys, member: member, localGlobal: context.policyHolds.globalSlot, owed: mark.units).bytes)
        return .later
    }

    public func decision(from reply: StoreReply, _ request: LimitRequest, context: RequestContext) -> LimitDecision {
        let link = context.storeLink!
        let keys = keys(context, link)
        link.allowance?.ended(keys.prefix, units: context.allowanceMark.units)
        guard case .value(let value) = reply, let answer = LimitCommand.answer(value) else {
            releaseLocalGlobal(context)
            if case .unavailable(let reason) = reply { return .unavailable(reason) }
            return .unavailable(Self.describe(reply))
        }
        let decision = LimitCommand.decision(answer)
        guard case .admitted = decision else {
            link.allowance?.refused(keys.prefix)
            releaseLocalGlobal(context)
            return decision
        }
        if let allowance = link.allowance, let limits = counted(request, context, keys) {
            allowance.granted(keys.prefix, context.allowanceMark, limits, answer: answer, now: context.monotonicMillis)
        }
        context.policyHolds.storeKeySlot = request.keyConcurrency != nil
        context.policyHolds.storeGlobalSlot = request.globalConcurrency != nil && keys.globalInStore
        context.policyHolds.quotaDay = answer.quotaDay
        if context.policyHolds.storeKeySlot || context.policyHolds.storeGlobalSlot {
            link.leases.hold(context.policyHolds.lease, keys: keys, ms: request.leaseMs, now: context.monotonicMillis)
        }
        return decision
    }

    /// A keyed request's limits when none of them is a slot held in Redis: what a local credit
    /// (`store_sync local_burst`) may cover. A cluster's global slot is this process's own.
    private func counted(_ request: LimitRequest, _ context: RequestContext, _ keys: LimitCommand.Keys) -> CountedLimits? {
        guard context.apiKeyIdentity != nil, request.keyConcurrency == nil, request.globalConcurrency == nil || !keys.globalInStore else {
            return nil
        }
        return CountedLimits(keyRate: request.keyRate, routePrefix: context.route!.config.prefix, routeRate: request.routeRate?.rate,
                             dailyQuota: request.dailyQuota, quotaResetOffsetMs: policies.calendar.resetOffsetMs)
    }

    public func release(_ context: RequestContext, refund: Bool) {
        let holds = context.policyHolds
        context.policyHolds = PolicyHolds()
        if holds.globalSlot { localGlobal.releaseGlobal() }
        let slots = (key: holds.storeKeySlot, global: holds.storeGlobalSlot)
        guard let link = context.storeLink, slots.key || slots.global || (refund && holds.quotaDay != nil) else { return }
        link.leases.drop(holds.lease)
        let keys = keys(context, link)
        for command in LimitCommand.release(keys: keys, member: link.leases.member(holds.lease), refundDay: refund ? holds.quotaDay : nil,
                                            slots: slots) {
            link.post(command, slot: keys.slot)
        }
    }

    /// Nothing reached the upstream: every slot and the quota unit go back.
    public func abandon(_ reply: StoreReply, undo: [UInt8], link: any StoreLink) {
        guard let undo = Undo(undo) else { return }
        link.allowance?.ended(undo.keys.prefix, units: undo.owed)
        if undo.localGlobal { localGlobal.releaseGlobal() }
        guard case .value(let value) = reply, let answer = LimitCommand.answer(value), answer.code == 0 else { return }
        for command in LimitCommand.release(keys: undo.keys, member: undo.member, refundDay: answer.quotaDay ?? -1,
                                            slots: (key: true, global: undo.keys.globalInStore)) {
            link.post(command, slot: undo.keys.slot)
        }
    }

    private func keys(_ context: RequestContext, _ link: any StoreLink) -> LimitCommand.Keys {
        LimitCommand.Keys(prefix: context.storePrefix(policies.keys), globalInStore: !link.isCluster)
    }

    private func releaseLocalGlobal(_ context: RequestContext) {
        if context.policyHolds.globalSlot { localGlobal.releaseGlobal() }
        context.policyHolds = PolicyHolds()
    }

    static func describe(_ reply: StoreReply) -> String {
        switch reply {
        case .unavailable(let reason): reason
        case .value(let value): value.errorText.map { "Redis answered: \($0)" } ?? "an unexpected answer from Redis"
        }
    }

    /// What a request that leaves while waiting needs undone, packed for `StoreLink.send`: flags u8
    /// (1: in-store global slots, 2: a local global slot), prefix length u8, owed units carried
    /// u16 (big-endian; at most `local_burst`), prefix, member.
    struct Undo {
        var keys: LimitCommand.Keys
        var member: [UInt8]
        var localGlobal: Bool
        var owed: Int

        init(keys: LimitCommand.Keys, member: [UInt8], localGlobal: Bool, owed: Int) {
            self.keys = keys
            self.member = member
            self.localGlobal = localGlobal
            self.owed = owed
        }

        init?(_ bytes: [UInt8]) {
            guard bytes.count >= 4, bytes.count >= 4 + Int(bytes[1]) else { return nil }
            let prefixEnd = 4 + Int(bytes[1])
            keys = LimitCommand.Keys(prefix: Array(bytes[4..<prefixEnd]), globalInStore: bytes[0] & 1 != 0)
            member = Array(bytes[prefixEnd...])
            localGlobal = bytes[0] & 2 != 0
            owed = Int(bytes[2]) << 8 | Int(bytes[3])
        }

        var bytes: [UInt8] {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(4 + keys.prefix.count + member.count)
            bytes.append((keys.globalInStore ? 1 : 0) | (localGlobal ? 2 : 0))
            bytes.append(UInt8(keys.prefix.count))
            bytes.append(UInt8(truncatingIfNeeded: owed >> 8))
            bytes.append(UInt8(truncatingIfNeeded: owed))
            bytes.append(contentsOf: keys.prefix)
            bytes.append(contentsOf: member)
            return bytes
        }
    }
}
