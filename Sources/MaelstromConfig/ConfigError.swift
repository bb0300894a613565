/// Why a configuration was refused, located precisely enough to fix it without guessing.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The class of mistake, so callers and tests can react without parsing messages.
    public enum Code: String, Sendable, Hashable {
        /// The file could not be read or is not UTF-8.
        case unreadable
        /// The text is not valid YAML.
        case syntax
        /// A key the format does not define, usually a typo.
        case unknownKey
        /// A value of the wrong YAML kind (a list where a number belongs, a quoted number, …).
        case wrongType
        /// A required key is absent or has no value.
        case missingKey
        /// A value of the right kind that is not acceptable (bad address, port 0, bad duration, …).
        case badValue
        /// Two peers share a name or an endpoint, or a mapping repeats a key.
        case duplicate
        /// Two routed subnets overlap, or a peer endpoint lies inside a routed subnet.
        case overlap
        /// A peer endpoint is not of the IP family of `listen`.
        case family
        /// The TUN MTU does not fit the WAN MTU, or is too small for IPv6.
        case mtu
        /// The FEC parameters are refused by `FECParameters.validate()`.
        case fec
        /// A key or key file is refused: missing, unreadable, open to group or others, not a key,
        /// all zeros, or this gateway's own public key given for a peer.
        case key
    }

    /// The path of the file as the caller gave it.
    public let file: String
    /// 1-based line of the offending key or value; 0 when the whole file is at fault.
    public let line: Int
    /// Dotted path of the offending key, such as `peers[1].subnets[0]`; empty when none applies.
    public let key: String
    /// The class of mistake.
    public let code: Code
    /// What is wrong and, where it helps, what would be accepted.
    public let message: String

    /// Creates an error; the loader is the usual source.
    public init(file: String, line: Int, key: String, code: Code, message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.code = code
        self.message = message
    }

    /// `FILE:LINE: KEY: MESSAGE`, the form editors and CI logs turn into links; an absent line or key is left out.
    public var description: String {
        var text = file
        if line > 0 { text += ":\(line)" }
        if !key.isEmpty { text += ": \(key)" }
        return text + ": " + message
    }

    /// The exit status of `maelstromd` for a bad config: 2, like every other bad input it refuses,
    /// so scripts and the systemd unit (which does not restart on it) tell it from a crash.
    public static let exitCode: Int32 = 2
}
