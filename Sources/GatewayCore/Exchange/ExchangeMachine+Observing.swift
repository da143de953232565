/// What the metrics and the access log learn from each request: when it began, when its upstream
/// attempt started and answered, how it ended. None of it runs unless the loop has a metric block
/// or an access log; then it costs a few loads of the loop's clock and plain counter stores per request.
extension ExchangeMachine {
    private var observing: Bool { environment.metrics != nil || environment.accessLog != nil }

    /// A request head was read (the method and normalised path are kept for the log line, since
    /// the head's bytes are gone by the time it is written).
    mutating func observeBegin(_ head: RequestHead, _ bytes: UnsafePointer<UInt8>, headLength: Int) {
        guard observing else { return }
        exchange.observed = true
        exchange.startedMicros = environment.clock.micros
        exchange.headBytes = UInt64(headLength)
        exchange.clientWrittenAtStart = client.output.totalWritten
        environment.metrics?.count(.exchangesStarted)
        guard environment.accessLog != nil else { return }
        current.pointee.loggedRequest.removeAll(keepingCapacity: true)
        current.pointee.loggedRequest.append(contentsOf: UnsafeBufferPointer(start: bytes + head.methodStart, count: head.methodLength))
        current.pointee.loggedRequest.append(contentsOf: UnsafeBufferPointer(start: bytes + head.pathStart, count: head.pathLength))
        current.pointee.loggedMethodLength = head.methodLength
    }

    /// The first upstream attempt starts: the upstream's time counts from here, failovers included.
    mutating func observeUpstreamAttempt() {
        if exchange.observed && exchange.upstreamStartedMicros == 0 { exchange.upstreamStartedMicros = environment.clock.micros }
    }

    /// The upstream's final response head arrived.
    mutating func observeResponseHead() {
        guard exchange.observed, exchange.upstreamMicros == nil else { return }
        let micros = environment.clock.micros &- exchange.upstreamStartedMicros
        exchange.upstreamMicros = micros
        environment.metrics?.observeUpstream(group: exchange.group, micros: micros)
    }

    /// The exchange is over: its answer has left, or it was cut short (`status` is then 499 when
    /// the client got nothing, nginx's convention). Reported once.
    mutating func observeEnd(status: Int) {
        guard exchange.observed else { return }
        exchange.observed = false
        let bytesIn = exchange.headBytes + UInt64(max(exchange.requestDecoder.payloadBytes, 0)) + exchange.tunnelledIn
        let bytesOut = client.output.totalWritten &- exchange.clientWrittenAtStart
        if let metrics = environment.metrics {
            metrics.count(.exchangesEnded)
            metrics.countRequest(route: context.route?.index, method: exchange.method, status: status)
            if let kind = exchange.errorKind { metrics.countError(kind) }
            if let limit = context.limitedBy { metrics.countRejection(limit) }
            if context.idempotencyOutcome != .none { metrics.countIdempotency(context.idempotencyOutcome) }
            if context.admittedLocally { metrics.count(.storeLocalAdmissions) }
            metrics.count(.bytesReceived, bytesIn)
            metrics.count(.bytesSent, bytesOut)
        }
        guard let log = environment.accessLog else { return }
        var record = AccessLogRecord()
        record.wallMillis = context.wallMillis
        record.requestID = context.requestID
        record.client = context.clientAddress
        record.request = current.pointee.loggedRequest
        record.methodLength = current.pointee.loggedMethodLength
        record.route = context.route?.index
        record.status = status
        record.error = exchange.errorKind
        // What a log line may say about the caller's key: a short fingerprint of its hash, never the key.
        record.keyFingerprint = context.apiKeyIdentity.map { environment.pipeline.policies.keys.fingerprint(of: $0) }
        if let server = exchange.server { record.upstream = (exchange.group, server.index) }
        record.upstreamMicros = exchange.upstreamMicros
        record.totalMicros = environment.clock.micros &- exchange.startedMicros
        record.bytesIn = bytesIn
        record.bytesOut = bytesOut
        record.idempotency = context.idempotencyOutcome
        record.rateLimitRemaining = context.rateLimitRemaining
        log.write(record)
    }

    /// A request that never parsed (or never came in time) has no exchange: it is reported at
    /// once, with the error it is refused with.
    mutating func observeUnparsed(_ rendered: RenderedError, _ kind: GatewayErrorKind) {
        environment.metrics?.countRequest(route: nil, method: .other, status: rendered.status)
        environment.metrics?.countError(kind)
        guard let log = environment.accessLog else { return }
        var record = AccessLogRecord()
        record.wallMillis = context.wallMillis
        record.requestID = context.requestID
        record.client = context.clientAddress
        record.status = rendered.status
        record.error = kind
        record.bytesIn = UInt64(client.input?.readableCount ?? 0)
        log.write(record)
    }
}
