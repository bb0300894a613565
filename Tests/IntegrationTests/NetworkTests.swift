import Testing

/// The tests that build namespaces, run daemons and emulators and measure real TCP: one at a
/// time, since they share two cores and time each other's packets.
@Suite(.serialized)
struct NetworkTests {}
