/// Where a handler sits in its loop's timer wheel; owned by the wheel.
struct TimerLink {
    var slot = -1
    var tick: UInt64 = 0
    var prev: EventHandler?
    var next: EventHandler?
}

/// A hashed timing wheel (Varghese & Lauck): setting, moving or cancelling a deadline is O(1).
/// Deadlines further away than one turn simply stay in their slot for later turns.
///
/// Moves are lazy, because every request moves its connection's deadlines several times (the
/// header timeout, none while the upstream works, the keep-alive park) and relinking costs
/// reference counting on both neighbours. A handler stays filed at the earliest tick it was
/// scheduled for: a later deadline, or none, leaves it where it is, and when its tick comes it is
/// fired, refiled at its current deadline, or dropped. Only an earlier deadline relinks it at
/// once. So a deadline never fires late, and never early: the due check reads the deadline itself.
final class TimerWheel {
    static let tickMillis: UInt64 = 10
    static let slotCount: UInt64 = 1024  // one turn = 10.24 s

    private var heads: [EventHandler?] = Array(repeating: nil, count: Int(TimerWheel.slotCount))
    private var lastTick: UInt64
    private var count = 0
    /// No slot before this tick holds anything; may be early (then the loop wakes for nothing).
    private var nextBusyTick = UInt64.max
    /// Handlers whose tick has come, gathered before any is acted on.
    private var reached: [EventHandler] = []

    init(now: UInt64) { lastTick = now / Self.tickMillis }

    /// Call after `handler.deadline` changed (0 cancels, lazily: see `cancel` for a handler that goes away).
    func schedule(_ handler: EventHandler) {
        let deadline = handler.deadline
        if deadline == 0 { return }
        // Round up, so a slot is only visited once all of its deadlines can have passed.
        let tick = max((deadline + Self.tickMillis - 1) / Self.tickMillis, lastTick + 1)
        if handler.timer.slot >= 0 {
            if handler.timer.tick <= tick { return }  // looked at by then, and refiled
            unlink(handler)
        }
        link(handler, at: tick)
    }

    /// Takes the handler out of the wheel now, whatever its deadline: the wheel holds a strong
    /// reference, and a closed connection must not wait for its tick to be freed.
    func cancel(_ handler: EventHandler) {
        unlink(handler)
    }

    private func link(_ handler: EventHandler, at tick: UInt64) {
        let slot = Int(tick % Self.slotCount)
        handler.timer = TimerLink(slot: slot, tick: tick, prev: nil, next: heads[slot])
        heads[slot]?.timer.prev = handler
        heads[slot] = handler
        count += 1
        if tick < nextBusyTick { nextBusyTick = tick }
    }

    private func unlink(_ handler: EventHandler) {
        let link = handler.timer
        if link.slot < 0 { return }
        if let prev = link.prev { prev.timer.next = link.next } else { heads[link.slot] = link.next }
        link.next?.timer.prev = link.prev
        handler.timer = TimerLink()
        count -= 1
    }

    /// Milliseconds epoll may sleep before the next deadline (-1: none).
    func timeout(now: UInt64) -> Int32 {
        if count == 0 { return -1 }
        let at = nextBusyTick * Self.tickMillis
        return at <= now ? 0 : Int32(min(at - now, 60_000))
    }

    /// Fires every handler whose deadline has passed, and refiles or drops the others whose tick
    /// has come. They are gathered first, because firing one may close or reschedule others.
    func advance(now: UInt64) {
        let nowTick = now / Self.tickMillis
        if nowTick <= lastTick { return }
        let steps = min(nowTick - lastTick, Self.slotCount)
        for step in 1...steps {
            var cursor = heads[Int((lastTick + step) % Self.slotCount)]
            while let handler = cursor {
                cursor = handler.timer.next
                if handler.timer.tick <= nowTick { reached.append(handler) }
            }
        }
        lastTick = nowTick
        for handler in reached where handler.timer.slot >= 0 {
            let deadline = handler.deadline
            unlink(handler)
            if deadline != 0 && deadline <= now {
                handler.deadlineExpired()
            } else {
                schedule(handler)
            }
        }
        reached.removeAll(keepingCapacity: true)
        findNextBusyTick()
    }

    private func findNextBusyTick() {
        nextBusyTick = .max
        if count == 0 { return }
        for offset in 1...Self.slotCount {
            let tick = lastTick + offset
            if heads[Int(tick % Self.slotCount)] != nil {
                nextBusyTick = tick
                return
            }
        }
    }
}
