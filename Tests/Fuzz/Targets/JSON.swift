@testable import GatewayCore

/// The strict JSON parser: anything it accepts must serialise to text that parses back to the
/// same value and serialises identically (upstream error details are re-emitted this way).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let value = JSONValue.parse(bytes) else { return 0 }
    let text = value.serialized()
    guard let again = JSONValue.parse(text) else {
        require(false, "serialised value does not parse: \(String(decoding: text, as: UTF8.self))")
        return 0
    }
    require(again == value, "round trip changed the value")
    require(again.serialized() == text, "serialisation is not stable")
    return 0
}
