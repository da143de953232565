/// Whether a load balancer should send traffic: listening, a configuration in force, not
/// draining, and at least one server of every upstream in rotation.
public struct Readiness: Equatable {
    /// Why not, one line each; empty when ready.
    public var problems: [String]

    public var isReady: Bool { problems.isEmpty }

    /// `unhealthy`: the upstreams whose every server is out of rotation.
    public static func evaluate(listening: Bool, configGeneration: UInt64, draining: Bool, unhealthy: [String]) -> Readiness {
        var problems: [String] = []
        if !listening { problems.append("not listening yet") }
        if configGeneration == 0 { problems.append("no configuration loaded") }
        if draining { problems.append("draining") }
        for name in unhealthy { problems.append("upstream \(name) has no healthy server") }
        return Readiness(problems: problems)
    }

    /// `{"status":"ready",...}` or `{"status":"not_ready",...,"problems":[...]}`.
    public func json(configGeneration: UInt64) -> [UInt8] {
        var out: [UInt8] = Array("{\"status\":\"\(isReady ? "ready" : "not_ready")\",\"config_generation\":".utf8)
        JSONEscaping.appendInt(Int(configGeneration), to: &out)
        if !isReady {
            out += Array(",\"problems\":[".utf8)
            for (i, problem) in problems.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONEscaping.appendQuoted(problem, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        }
        out += Array("}\n".utf8)
        return out
    }
}
