import MaelstromCore

/// The TUN MTU must leave room for the largest Maelstrom frame's headers inside the WAN MTU,
/// or repairs of full-size packets would be fragmented or dropped on the WAN.
enum MTURule {
    /// The smallest MTU an IPv6 link may have (RFC 8200).
    static let ipv6Minimum = 1280

    static func check(tunMTU: Int, at location: Location, wanMTU: Int, listen: Endpoint, innerIPv6: Bool) throws(ConfigError) {
        let ipHeader = listen.address.isIPv4 ? 20 : 40
        let header = WireFormat.maxHeaderSize
        let largest = wanMTU - header - 8 - ipHeader
        guard tunMTU <= largest else {
            throw location.error(
                .mtu,
                "\(tunMTU) does not fit wan-mtu \(wanMTU): \(tunMTU) + \(header) (repair frame headers) + 8 (UDP) + \(ipHeader) (\(listen.address.isIPv4 ? "IPv4" : "IPv6")) = \(tunMTU + header + 8 + ipHeader); the largest tun.mtu that fits is \(largest)")
        }
        guard !innerIPv6 || tunMTU >= ipv6Minimum else {
            throw location.error(.mtu, "\(tunMTU) is below \(ipv6Minimum), the minimum MTU of a link that carries IPv6")
        }
    }
}
