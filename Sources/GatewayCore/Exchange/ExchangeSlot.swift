/// What a request in progress needs: its facts and decoders, both parsers, the stages' context,
/// and the storage of the bytes the gateway writes to the client. The loop lends one to a
/// connection from its first request byte and takes it back when the connection has been idle a
/// moment, so 10,000 idle keep-alive connections hold none of it.
///
/// It lives behind a pointer the loop's pool owns (`ExchangeSlots`): the machine reaches its
/// fields with plain loads and stores, where a class reference held in a `var` would cost a
/// retain and a release around every access of a request's many.
struct ExchangeSlot {
    var exchange = Exchange()
    var parser: RequestHeadParser
    var responseParser: ResponseHeadParser
    let context = RequestContext()
    /// Heads, chunk framing and envelopes for the client, before they are written; grows on demand.
    let outputStorage = ByteBuffer(capacity: 2048)
    /// Method and normalised path for the access log line, kept from the head (whose bytes are
    /// gone by the time the line is written); reused request after request.
    var loggedRequest: [UInt8] = []
    var loggedMethodLength = 0

    init(headLimits: HeadLimits) {
        parser = RequestHeadParser(limits: headLimits)
        responseParser = ResponseHeadParser(limits: headLimits)
    }
}

/// One loop's slots: lent with `take`, given back with `give`, at most `spares` kept after a spike.
public final class ExchangeSlots {
    private var free: [UnsafeMutablePointer<ExchangeSlot>] = []
    /// The fewest free slots since the last trim: that many were not needed at all meanwhile.
    private var lowWater = 0
    private let headLimits: HeadLimits
    let spares: Int

    init(headLimits: HeadLimits, spares: Int = 256) {
        self.headLimits = headLimits
        self.spares = spares
    }

    deinit {
        for slot in free { release(slot) }
    }

    func take() -> UnsafeMutablePointer<ExchangeSlot> {
        if let slot = free.popLast() {
            lowWater = min(lowWater, free.count)
            return slot
        }
        let slot = UnsafeMutablePointer<ExchangeSlot>.allocate(capacity: 1)
        slot.initialize(to: ExchangeSlot(headLimits: headLimits))
        return slot
    }

    /// Ready for another connection: what a request begins with anyway is not reset here.
    func give(_ slot: UnsafeMutablePointer<ExchangeSlot>) {
        guard free.count < spares else { return release(slot) }
        slot.pointee.parser.reset()
        slot.pointee.responseParser.reset()
        slot.pointee.outputStorage.clear()
        free.append(slot)
    }

    /// Frees the slots that sat unused since the last call, down to `keeping`; returns how many.
    public func trim(keeping: Int) -> Int {
        let spare = max(0, min(lowWater, free.count - keeping))
        for _ in 0..<spare { release(free.removeLast()) }
        lowWater = free.count
        return spare
    }

    private func release(_ slot: UnsafeMutablePointer<ExchangeSlot>) {
        slot.deinitialize(count: 1)
        slot.deallocate()
    }
}
