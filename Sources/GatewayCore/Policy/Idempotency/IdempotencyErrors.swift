/// The answers the idempotency stage gives itself; `details.reason` tells clients which case it is.
enum IdempotencyErrors {
    static let header = "Idempotency-Key"

    static func missingKey() -> GatewayError {
        GatewayError(.missingRequiredParameter, "This route requires an Idempotency-Key header",
                     details: [("field", .string(header))])
    }

    static func invalidKey() -> GatewayError {
        GatewayError(.invalidRequest, "Idempotency-Key must be 1 to 255 visible ASCII characters, bare or as a quoted string",
                     details: [("field", .string(header))])
    }

    static func repeatedKey() -> GatewayError {
        GatewayError(.invalidRequest, "Idempotency-Key must be sent once", details: [("field", .string(header))])
    }

    /// The draft answers 422 here; the catalog's 409 is the default (`conflict_status`).
    static func fingerprintMismatch(status: Int) -> GatewayError {
        var error = GatewayError(.idempotencyConflict, "Idempotency-Key reused with a different request",
                                 details: [("reason", .string("request_mismatch"))])
        if status != error.kind.status { error.statusOverride = status }
        return error
    }

    /// The first request holds the key only until its response: one second is a sensible first back-off.
    static func inFlight() -> GatewayError {
        GatewayError(.idempotencyConflict, "A request with this Idempotency-Key is still in progress",
                     details: [("reason", .string("in_progress"))], retryAfterSeconds: 1)
    }

    static func notReplayable() -> GatewayError {
        GatewayError(.idempotencyConflict,
                     "A request with this Idempotency-Key already completed, but its response was too large to store and cannot be replayed",
                     details: [("reason", .string("not_replayable"))])
    }

    /// No Retry-After: waiting never makes a resend safe. The key answers this until it expires;
    /// a client that decides to send the request again does so with a new key.
    static func outcomeUnknown() -> GatewayError {
        GatewayError(.idempotencyConflict,
                     "The outcome of the first request with this Idempotency-Key is unknown (the upstream did not answer in time, or the gateway stopped while it was in flight), so it may have been executed; this key answers 409 until it expires and is never sent a second time. Check whether it took effect, and use a new Idempotency-Key to send it again",
                     details: [("reason", .string("outcome_unknown"))])
    }
}
