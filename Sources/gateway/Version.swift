/// The release this binary is; `gateway --version` prints it. Bump it here and nowhere else.
let gatewayVersion = "0.1.0"
