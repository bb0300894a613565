import MaelstromCore

/// The TUN MTU must leave room for the largest Maelstrom frame's headers inside the WAN MTU,
/// or repairs of full-size packets would be fragmented or dropped on the WAN. Sealed frames
/// (`security: noise`) carry a 16-byte AEAD tag more.
enum MTURule {
    /// The smallest MTU an IPv6 link may have (RFC 8200).
    static let ipv6Minimum = 1280

    static func check(tunMTU: Int, at location: Location, wanMTU: Int, listen: Endpoint, innerIPv6: Bool, sealed: Bool) throws(ConfigError) {
        let ipHeader = listen.address.isIPv4 ? 20 : 40
        let header = WireFormat.maxHeaderSize
        let tag = sealed ? WireFormat.sealOverhead : 0
        let largest = wanMTU - header - tag - 8 - ipHeader
        guard tunMTU <= largest else {
            let tagTerm = sealed ? " + \(tag) (AEAD tag)" : ""
            throw location.error(
                .mtu,
                "\(tunMTU) does not fit wan-mtu \(wanMTU): \(tunMTU) + \(header) (repair frame headers)\(tagTerm) + 8 (UDP) + \(ipHeader) (\(listen.address.isIPv4 ? "IPv4" : "IPv6")) = \(tunMTU + header + tag + 8 + ipHeader); the largest tun.mtu that fits is \(largest)")
        }
        guard !innerIPv6 || tunMTU >= ipv6Minimum else {
            throw location.error(.mtu, "\(tunMTU) is below \(ipv6Minimum), the minimum MTU of a link that carries IPv6")
        }
    }
}
