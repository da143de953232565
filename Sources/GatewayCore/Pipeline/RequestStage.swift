/// One link of the request filter chain (Envoy-style): it may answer the request itself or let
/// it continue, and it hears exactly once how the exchange ended.
public protocol RequestStage: AnyObject {
    func admit(_ head: RequestHead, bytes: UnsafePointer<UInt8>, context: RequestContext) -> StageVerdict
    func finish(_ context: RequestContext, outcome: ExchangeOutcome)
}

extension RequestStage {
    public func finish(_ context: RequestContext, outcome: ExchangeOutcome) {}
}

public enum StageVerdict {
    case proceed
    case reject(GatewayError)
}
