/// `access_log` and `admin_listen`: what the gateway tells its operator, and where.
enum ObservabilityConfigBuilder {
    /// `access_log PATH|stderr|off [format=json|text];` (`on` is the old spelling of `stderr`).
    static func accessLog(_ d: ConfigDirective, directory: String) throws(ConfigError) -> AccessLogConfig {
        var config = AccessLogConfig()
        let target = d.arguments[0].text
        switch target {
        case "off": config.destination = .off
        case "on", "stderr": config.destination = .stderr
        default: config.destination = .file(target.hasPrefix("/") ? target : directory + "/" + target)
        }
        if d.arguments.count == 2 {
            let option = d.arguments[1]
            guard option.text.hasPrefix("format="),
                  let format = AccessLogConfig.Format(rawValue: String(option.text.dropFirst("format=".count))) else {
                throw Value.error(option, d, "format=json or format=text")
            }
            config.format = format
        }
        return config
    }

    static func adminListen(_ d: ConfigDirective) throws(ConfigError) -> ListenAddress {
        let arg = d.arguments[0]
        // No bare port here: an admin port open on every interface should be a deliberate choice.
        guard let (host, port) = ConfigValues.hostPort(arg.text, allowBarePort: false) else {
            throw Value.error(arg, d, "HOST:PORT or [IPV6]:PORT, e.g. 127.0.0.1:9901")
        }
        return ListenAddress(host: host, port: port, location: arg.location)
    }

    /// The admin endpoints must never be reachable through a public listener: an address that is
    /// also a `listen` address (or that a wildcard `listen` on the same port covers) is refused.
    static func checkAdminListen(_ config: GatewayConfig) throws(ConfigError) {
        guard let admin = config.adminListen else { return }
        let wildcards: Set<String> = ["0.0.0.0", "::"]
        for listen in config.listen where listen.port == admin.port {
            guard listen.host == admin.host || wildcards.contains(listen.host) || wildcards.contains(admin.host) else { continue }
            throw ConfigError(admin.location, "'admin_listen': \(text(admin)) is also served by 'listen \(text(listen))' at "
                              + "\(listen.location); the admin endpoints must not be on a public listener, expected another port")
        }
    }

    private static func text(_ address: ListenAddress) -> String {
        address.host.contains(":") ? "[\(address.host)]:\(address.port)" : "\(address.host):\(address.port)"
    }
}
