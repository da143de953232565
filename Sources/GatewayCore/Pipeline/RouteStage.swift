/// Finds the route for the request path and enforces what the route allows: 404, 405 with
/// Allow, and 413 when a declared Content-Length is already over the route's body limit.
public final class RouteStage: ExchangeStage {
    private let routes: [(prefix: [UInt8], route: CompiledRoute)]

    /// `routes` in any order; the longest matching prefix wins.
    public init(routes: [CompiledRoute]) {
        self.routes = routes.map { (Array($0.config.prefix.utf8), $0) }.sorted { $0.prefix.count > $1.prefix.count }
    }

    public func onRequestHead(_ head: RequestHead, bytes: UnsafePointer<UInt8>, context: RequestContext) -> StageVerdict {
        // The normalised path (RequestHeadParser.normalizeTarget): `/v1/x/../admin` routes as `/v1/admin`.
        guard let route = match(bytes + head.pathStart, head.pathLength) else {
            return .reject(GatewayError(.resourceNotFound, "No route matches this path"))
        }
        if !route.allows(head.method, name: bytes + head.methodStart, length: head.methodLength) {
            context.addResponseHeader("Allow", route.allowHeader)
            return .reject(GatewayError(.methodNotAllowed, "Method not allowed on this route",
                                        details: [("allowed", .string(route.allowHeader))]))
        }
        if case .length(let n) = head.framing, n > route.config.maxBody {
            return .reject(Self.tooLarge(route))
        }
        context.route = route
        return .proceed
    }

    public static func tooLarge(_ route: CompiledRoute) -> GatewayError {
        GatewayError(.requestTooLarge, "Request body exceeds the limit of \(route.config.maxBody) bytes",
                     details: [("limit", .int(Int(route.config.maxBody)))])
    }

    private func match(_ path: UnsafePointer<UInt8>, _ length: Int) -> CompiledRoute? {
        for entry in routes where entry.prefix.count <= length {
            let hit = entry.prefix.withUnsafeBufferPointer { Bytes.memcmpBytes($0.baseAddress!, path, $0.count) }
            if hit { return entry.route }
        }
        return nil
    }
}
