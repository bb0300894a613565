/// Address and route configuration through `ip`; control plane only (spawns a process per call).
extension TunDevice {
    /// Adds an address with prefix length, e.g. `"172.31.255.1/30"` or `"fd00::1/64"`.
    public func addAddress(_ cidr: String) throws(IOError) {
        try IPCommand.validatePrefix(cidr, what: "address")
        try IPCommand.run(["address", "add", cidr, "dev", name])
    }

    /// Routes `prefix` (e.g. `"10.1.0.0/16"`) into this interface.
    public func addRoute(prefix: String) throws(IOError) {
        try IPCommand.validatePrefix(prefix, what: "route prefix")
        try IPCommand.run(["route", "add", prefix, "dev", name])
    }

    /// Removes the route for `prefix` through this interface.
    public func removeRoute(prefix: String) throws(IOError) {
        try IPCommand.validatePrefix(prefix, what: "route prefix")
        try IPCommand.run(["route", "del", prefix, "dev", name])
    }
}

extension TunDevice {
    /// Sets how many packets the kernel queues for this device before dropping (`txqueuelen`).
    public func setTransmitQueueLength(_ packets: Int) throws(IOError) {
        guard packets >= 1 && packets <= 1_000_000 else {
            throw IOError(code: .invalidArgument, errno: 0, message: "transmit queue length \(packets) is out of range")
        }
        try IPCommand.run(["link", "set", "dev", name, "txqueuelen", String(packets)])
    }
}
