/// The tunnel's rules in time and counts (docs/SECURITY.md explains each). Tests shorten them;
/// the daemon uses the defaults.
public struct TunnelTimers: Sendable, Equatable {
    /// The initiator of the current session starts a new handshake once it is this old.
    public var rekeyAfter: UInt64 = 120_000_000_000
    /// Either side starts one once the current session is this old (its initiator may be gone quiet).
    public var rekeyEitherSideAfter: UInt64 = 150_000_000_000
    /// No frame is sealed or opened under a session this old.
    public var rejectAfter: UInt64 = 180_000_000_000
    /// An unanswered initiation is sent again (new ephemeral key, new timestamp) after this...
    public var retryInterval: UInt64 = 1_000_000_000
    /// ...plus up to this much random jitter, so two gateways do not retry in lockstep.
    public var retryJitter: UInt64 = 250_000_000
    /// The shortest time between two initiations to one peer started by frames under a session
    /// this gateway does not know (the peer kept a session across our restart).
    public var unknownSessionInitiationInterval: UInt64 = 250_000_000
    /// A session younger than this is not replaced because of frames under an unknown one: they
    /// are the peer's frames from before it learned the new session.
    public var freshSession: UInt64 = 2_000_000_000
    /// A responder refuses a second initiation from one peer within this time (WireGuard: 20 ms).
    public var initiationFloodInterval: UInt64 = 20_000_000
    /// The secret cookies are made with is replaced this often.
    public var cookieSecretLifetime: UInt64 = 120_000_000_000
    /// An initiator uses a cookie it was sent for this long.
    public var cookieLifetime: UInt64 = 115_000_000_000
    /// More handshake messages with a valid mac1 than this in one second put the gateway under load.
    public var underLoadThreshold: Int = 64
    /// How long it stays under load after that.
    public var underLoadHold: UInt64 = 1_000_000_000
    /// Under load, handshake messages with a valid cookie per peer per second, and the burst allowed.
    public var handshakesPerSecond: UInt64 = 20
    /// The burst of `handshakesPerSecond`.
    public var handshakeBurst: UInt64 = 5
    /// A session that has sealed this many frames on a lane is replaced (never reached in practice:
    /// 2⁶⁰ frames; the timers rekey first).
    public var rekeyAfterMessages: UInt64 = 1 << 60
    /// No frame is sealed or accepted with a counter at or beyond this, so a nonce never repeats.
    public var rejectAfterMessages: UInt64 = UInt64.max - (1 << 16)

    /// The defaults.
    public init() {}
}
