@testable import GatewayCore

/// The RESP2/RESP3 reply parser, which reads whatever a Redis server (or anything listening where
/// one should be) sends: it never crashes or reads past the input, a reply it accepts takes at
/// most the input and parses the same from exactly its own bytes, and one byte fewer is never a
/// complete reply.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard case .value(let value, let consumed) = RESPParser.parse(data, count: size) else { return 0 }
    require(consumed > 0 && consumed <= size, "consumed \(consumed) of \(size) bytes")
    require(RESPParser.parse(data, count: consumed) == .value(value, consumed: consumed), "its own bytes parse differently")
    require(RESPParser.parse(data, count: consumed - 1) == .needMore, "a shorter input was complete or invalid")
    return 0
}
