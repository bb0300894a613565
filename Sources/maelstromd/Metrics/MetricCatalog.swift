import MaelstromCore

/// A counter series taken from one field of the gateway's snapshot.
struct CounterMetric<Source>: Sendable {
    /// The full series name, ending in `_total`.
    let name: String
    /// The `# HELP` text.
    let help: String
    /// Reads the cumulative value from the snapshot part it belongs to.
    let value: @Sendable (Source) -> UInt64
}

/// Every series `maelstromd` exports: the one list the exporter, `maelstromd stats` and docs/METRICS.md
/// agree on, so a name changed here changes everywhere it is read.
enum MetricCatalog {
    /// The label that names the peer on every per-peer series.
    static let peerLabel = "peer"

    /// Per-peer counters, labelled `peer="NAME"`.
    static let peerCounters: [CounterMetric<PeerCounters>] = [
        CounterMetric(
            name: "maelstrom_data_frames_sent_total",
            help: "Packets read from the TUN device and sent to the peer as data frames.",
            value: { $0.dataFramesSent }),
        CounterMetric(
            name: "maelstrom_data_bytes_sent_total",
            help: "Bytes of the packets sent to the peer in data frames.",
            value: { $0.dataBytesSent }),
        CounterMetric(
            name: "maelstrom_repair_frames_sent_total",
            help: "Repair (XOR parity) frames sent to the peer.",
            value: { $0.repairFramesSent }),
        CounterMetric(
            name: "maelstrom_repair_bytes_sent_total",
            help: "Payload bytes of the repair frames sent to the peer.",
            value: { $0.repairBytesSent }),
        CounterMetric(
            name: "maelstrom_data_frames_received_total",
            help: "Data frames received from the peer.",
            value: { $0.dataFramesReceived }),
        CounterMetric(
            name: "maelstrom_data_bytes_received_total",
            help: "Bytes of the packets received from the peer in data frames.",
            value: { $0.dataBytesReceived }),
        CounterMetric(
            name: "maelstrom_repair_frames_received_total",
            help: "Repair frames received from the peer.",
            value: { $0.repairFramesReceived }),
        CounterMetric(
            name: "maelstrom_packets_delivered_total",
            help: "Packets from the peer written to the TUN device, received or rebuilt.",
            value: { $0.packetsDelivered }),
        CounterMetric(
            name: "maelstrom_packets_rebuilt_total",
            help: "Packets from the peer lost on the WAN and rebuilt from repair frames.",
            value: { $0.rebuilt }),
        CounterMetric(
            name: "maelstrom_packets_unrecoverable_total",
            help: "Packets the peer sent that were neither received nor rebuilt.",
            value: { $0.unrecoverable }),
        CounterMetric(
            name: "maelstrom_duplicates_total",
            help: "Duplicate data frames received from the peer.",
            value: { $0.duplicates }),
        CounterMetric(
            name: "maelstrom_late_total",
            help: "Data frames from the peer that arrived after their place in the decoder window had gone.",
            value: { $0.late }),
        CounterMetric(
            name: "maelstrom_malformed_total",
            help: "Datagrams from the peer that were not valid frames, and delivered payloads that were not IP.",
            value: { $0.malformed }),
        CounterMetric(
            name: "maelstrom_stream_restarts_total",
            help: "Times the peer's frame stream restarted (the peer gateway restarted).",
            value: { $0.streamRestarts }),
        CounterMetric(
            name: "maelstrom_stale_stream_frames_total",
            help: "Frames of a stream the peer has left (stragglers of a restarted peer), dropped.",
            value: { $0.staleStreamFrames }),
        CounterMetric(
            name: "maelstrom_unconfirmed_stream_frames_total",
            help: "Frames of a new peer stream that neither the peer's keepalive nor enough frames confirmed, dropped.",
            value: { $0.unconfirmedStreamFrames }),
        CounterMetric(
            name: "maelstrom_far_jumps_refused_total",
            help: "Frames far beyond the decoder window that nothing vouched for, dropped.",
            value: { $0.farJumpsRefused }),
        CounterMetric(
            name: "maelstrom_stale_keepalives_total",
            help: "Keepalives naming another stream than the one decoded and older than its own, ignored.",
            value: { $0.staleKeepalives }),
        CounterMetric(
            name: "maelstrom_lane_refused_total",
            help: "Datagrams from a lane of the peer's beyond its configured lanes, refused.",
            value: { $0.laneRefused }),
        CounterMetric(
            name: "maelstrom_repairs_dropped_total",
            help: "Repair frames that could not wait for their missing members (pool full, or a copy waiting), dropped.",
            value: { $0.repairsDropped }),
        CounterMetric(
            name: "maelstrom_repairs_skipped_total",
            help: "Sealed repair frames dropped unopened because every packet they cover had arrived.",
            value: { $0.repairsSkipped }),
        CounterMetric(
            name: "maelstrom_keepalives_sent_total",
            help: "Keepalives sent to the peer.",
            value: { $0.keepalivesSent }),
        CounterMetric(
            name: "maelstrom_keepalives_received_total",
            help: "Keepalives received from the peer.",
            value: { $0.keepalivesReceived }),
        CounterMetric(
            name: "maelstrom_mss_clamped_total",
            help: "TCP SYNs to the peer whose MSS option was lowered to fit the tunnel.",
            value: { $0.mssClamped }),
        CounterMetric(
            name: "maelstrom_wan_packets_expected_total",
            help: "Sequence numbers of the peer's streams the loss meter has judged, received or lost.",
            value: { $0.wanPacketsExpected }),
        CounterMetric(
            name: "maelstrom_wan_packets_lost_total",
            help: "Data frames from the peer lost on the WAN (rebuilt or not), counted from sequence gaps.",
            value: { $0.wanPacketsLost }),
        CounterMetric(
            name: "maelstrom_wan_loss_bursts_total",
            help: "Runs of consecutive data frames from the peer lost on the WAN.",
            value: { $0.wanLossBursts }),
        CounterMetric(
            name: "maelstrom_wan_late_arrivals_total",
            help: "Data frames from the peer that came after the loss meter had counted them lost (reordered beyond its horizon).",
            value: { $0.wanLateArrivals }),
        CounterMetric(
            name: "maelstrom_wan_congestion_packets_total",
            help: "Sequence numbers of the peer's streams judged while the path's queue was full (keepalive delay), left out of the loss windows and reports.",
            value: { $0.wanCongestionExpected }),
        CounterMetric(
            name: "maelstrom_wan_congestion_lost_total",
            help: "Of those, data frames lost: congestion losses, left to TCP rather than sized for by the adaptive code.",
            value: { $0.wanCongestionLost }),
        CounterMetric(
            name: "maelstrom_wan_congested_samples_total",
            help: "Keepalives from the peer that found the path's queue full (above fec.congestion-delay and half the minute's peak).",
            value: { $0.wanCongestedSamples }),
        CounterMetric(
            name: "maelstrom_loss_reports_sent_total",
            help: "Loss reports sent to the peer (what this gateway measured of the peer's streams).",
            value: { $0.lossReportsSent }),
        CounterMetric(
            name: "maelstrom_loss_reports_early_total",
            help: "Loss reports sent before their interval because losses appeared (counted in maelstrom_loss_reports_sent_total too).",
            value: { $0.earlyLossReports }),
        CounterMetric(
            name: "maelstrom_loss_reports_received_total",
            help: "Loss reports received from the peer.",
            value: { $0.lossReportsReceived }),
        CounterMetric(
            name: "maelstrom_loss_reports_ignored_total",
            help: "Loss reports from the peer about a stream this gateway no longer sends, or another lane's.",
            value: { $0.lossReportsIgnored }),
        CounterMetric(
            name: "maelstrom_fec_code_switches_total",
            help: "Times the adaptive policy changed the code sent to the peer.",
            value: { $0.codeSwitches }),
    ]

    /// Per-peer counters of the handshakes and of sealing, labelled `peer="NAME"` (zero under `security: none`).
    static let securityCounters: [CounterMetric<PeerSecurityCounters>] = [
        CounterMetric(name: "maelstrom_frames_sealed_total", help: "Frames sealed (AES-256-GCM or ChaCha20-Poly1305, as agreed) and sent to the peer.", value: { $0.sealing.sealed }),
        CounterMetric(name: "maelstrom_frames_opened_total", help: "Sealed frames from the peer that authenticated and were not replays.", value: { $0.sealing.opened }),
        CounterMetric(
            name: "maelstrom_frames_unsent_no_session_total", help: "Frames not sent because no session with the peer was up yet (or it expired).",
            value: { $0.sealing.unsentNoSession }),
        CounterMetric(
            name: "maelstrom_refused_plaintext_total", help: "Datagrams from the peer's address refused: plaintext where sealed frames are required.",
            value: { $0.sealing.refusedPlaintext }),
        CounterMetric(
            name: "maelstrom_refused_malformed_sealed_total", help: "Datagrams from the peer's address refused: too short, unknown version or type.",
            value: { $0.sealing.refusedMalformed }),
        CounterMetric(
            name: "maelstrom_refused_unknown_session_total", help: "Sealed datagrams refused: they name a session this gateway does not have.",
            value: { $0.sealing.refusedUnknownSession }),
        CounterMetric(
            name: "maelstrom_refused_expired_session_total", help: "Sealed datagrams refused: their session is past the age limit.",
            value: { $0.sealing.refusedExpiredSession }),
        CounterMetric(
            name: "maelstrom_refused_authentication_total", help: "Sealed datagrams refused: the tag did not verify (forged, altered, wrong key).",
            value: { $0.sealing.refusedAuthentication }),
        CounterMetric(
            name: "maelstrom_refused_replay_total", help: "Sealed datagrams refused: counter already seen or behind the replay window.",
            value: { $0.sealing.refusedReplay }),
        CounterMetric(
            name: "maelstrom_refused_handshake_mac_total", help: "Handshake messages refused by their mac1, before any other work.",
            value: { $0.sealing.refusedHandshakeMAC &+ $0.handshake.refusedMAC }),
        CounterMetric(name: "maelstrom_handshake_initiations_sent_total", help: "Handshake initiations sent (first, retries, rekeys).", value: { $0.handshake.initiationsSent }),
        CounterMetric(name: "maelstrom_handshake_responses_sent_total", help: "Handshake initiations accepted and answered.", value: { $0.handshake.responsesSent }),
        CounterMetric(
            name: "maelstrom_handshakes_completed_total", help: "Sessions set up: initiated and answered, or answered and confirmed by the peer.",
            value: { $0.handshake.completedAsInitiator &+ $0.handshake.confirmedAsResponder }),
        CounterMetric(name: "maelstrom_handshake_cookies_sent_total", help: "Cookie replies sent while under load.", value: { $0.handshake.cookiesSent }),
        CounterMetric(name: "maelstrom_handshake_cookies_received_total", help: "Cookie replies received from the peer and used.", value: { $0.handshake.cookiesReceived }),
        CounterMetric(name: "maelstrom_sessions_expired_total", help: "Sessions dropped at the age limit.", value: { $0.handshake.sessionsExpired }),
        CounterMetric(
            name: "maelstrom_handshakes_refused_total", help: "Handshake messages refused past mac1: see maelstrom_handshake_refused_by_reason in the docs.",
            value: { $0.handshake.refused &- $0.handshake.refusedMAC }),
        CounterMetric(
            name: "maelstrom_handshake_refused_cookie_total", help: "Handshake messages refused under load for want of a valid cookie.",
            value: { $0.handshake.refusedNeedsCookie }),
        CounterMetric(
            name: "maelstrom_handshake_refused_rate_total", help: "Handshake messages refused under load by the peer's rate limit.",
            value: { $0.handshake.refusedRateLimited }),
        CounterMetric(
            name: "maelstrom_handshake_refused_decrypt_total", help: "Handshake messages that did not decrypt (wrong keys, forged).",
            value: { $0.handshake.refusedDecrypt }),
        CounterMetric(
            name: "maelstrom_handshake_refused_wrong_key_total", help: "Initiations from the peer's address with another static key.",
            value: { $0.handshake.refusedWrongKey }),
        CounterMetric(
            name: "maelstrom_handshake_refused_replay_total", help: "Initiations refused: timestamp not newer than the last accepted (replays).",
            value: { $0.handshake.refusedReplay }),
        CounterMetric(
            name: "maelstrom_handshake_refused_flood_total", help: "Initiations refused: a second one within 20 ms.",
            value: { $0.handshake.refusedFlood }),
        CounterMetric(
            name: "maelstrom_handshake_refused_unexpected_total", help: "Responses and cookie replies for no initiation in flight.",
            value: { $0.handshake.refusedUnexpected }),
    ]

    /// Counters of traffic that belongs to no peer, without labels.
    static let gatewayCounters: [CounterMetric<GatewaySnapshot>] = [
        CounterMetric(
            name: "maelstrom_unknown_source_datagrams_total",
            help: "Datagrams from an address and port that is no configured peer, dropped.",
            value: { $0.gateway.unknownSource }),
        CounterMetric(
            name: "maelstrom_no_route_packets_total",
            help: "Packets read from the TUN device whose destination is behind no peer, dropped.",
            value: { $0.gateway.noRoute }),
        CounterMetric(
            name: "maelstrom_bad_packets_total",
            help: "Packets read from the TUN device that were not IP or exceeded the TUN MTU, dropped.",
            value: { $0.gateway.badPackets }),
        CounterMetric(
            name: "maelstrom_tun_read_truncated_total",
            help: "Packets read from the TUN device that did not fit the read buffer, dropped.",
            value: { $0.dataPlane.tunReadTruncated }),
        CounterMetric(
            name: "maelstrom_tun_write_dropped_total",
            help: "Packets the TUN device refused to take.",
            value: { $0.dataPlane.tunWriteDropped }),
        CounterMetric(
            name: "maelstrom_udp_receive_truncated_total",
            help: "Datagrams larger than the receive buffer, dropped.",
            value: { $0.dataPlane.udpReceiveTruncated }),
        CounterMetric(
            name: "maelstrom_udp_send_refused_total",
            help: "Datagrams the kernel refused to send (unreachable, message too long).",
            value: { $0.dataPlane.udpSendRefused }),
        CounterMetric(
            name: "maelstrom_send_queue_drops_total",
            help: "Datagrams dropped because the UDP socket's send queue stayed full.",
            value: { $0.dataPlane.sendQueueDrops }),
        CounterMetric(
            name: "maelstrom_datagrams_received_total",
            help: "UDP datagrams received, from peers or not.",
            value: { $0.dataPlane.datagramsReceived }),
        CounterMetric(
            name: "maelstrom_packets_read_total",
            help: "Packets read from the TUN device (after splitting super-segments).",
            value: { $0.dataPlane.packetsRead }),
        CounterMetric(
            name: "maelstrom_tun_super_segments_read_total",
            help: "TUN reads that returned a TCP or UDP super-segment (TSO/USO), split into packets in user space.",
            value: { $0.dataPlane.superSegmentsRead }),
        CounterMetric(
            name: "maelstrom_packets_written_total",
            help: "Packets written to the TUN device.",
            value: { $0.dataPlane.packetsWritten }),
        CounterMetric(
            name: "maelstrom_tun_coalesced_writes_total",
            help: "TUN writes that carried several in-order TCP segments of one flow as one super-segment.",
            value: { $0.dataPlane.coalescedWrites }),
        CounterMetric(
            name: "maelstrom_datagrams_sent_total",
            help: "UDP datagrams handed to the kernel.",
            value: { $0.dataPlane.datagramsSent }),
        CounterMetric(
            name: "maelstrom_udp_segmented_sends_total",
            help: "Segmented UDP sends (UDP_SEGMENT), each carrying a run of datagrams.",
            value: { $0.dataPlane.segmentedSends }),
        CounterMetric(
            name: "maelstrom_udp_coalesced_receives_total",
            help: "Coalesced UDP receive runs (UDP_GRO) split into datagrams.",
            value: { $0.dataPlane.coalescedReceives }),
        CounterMetric(
            name: "maelstrom_udp_segmentation_fallbacks_total",
            help: "Times the kernel refused segmented sends and a lane went back to plain ones.",
            value: { $0.dataPlane.segmentationFallbacks }),
        CounterMetric(
            name: "maelstrom_send_blocked_total",
            help: "Times a lane found its UDP send queue full and waited for it to drain (EPOLLOUT) instead of blocking.",
            value: { $0.dataPlane.sendBlocked }),
        CounterMetric(
            name: "maelstrom_send_stall_drops_total",
            help: "Datagrams given up because the UDP send queue stayed full longer than the stall limit.",
            value: { $0.dataPlane.sendStallDrops }),
    ]

    /// The gateway-wide counters that count something lost; `maelstromd stats` shows them when non-zero.
    static let gatewayDropCounters: Set<String> = [
        "maelstrom_unknown_source_datagrams_total", "maelstrom_no_route_packets_total", "maelstrom_bad_packets_total",
        "maelstrom_tun_read_truncated_total", "maelstrom_tun_write_dropped_total",
        "maelstrom_udp_receive_truncated_total", "maelstrom_udp_send_refused_total",
        "maelstrom_send_queue_drops_total", "maelstrom_send_stall_drops_total",
    ]

    /// Gauge: the TUN offloads in use.
    static let tunOffloads = (
        name: "maelstrom_tun_offloads",
        help: "TUN offloads in use: bit 1 the virtio-net header, 2 TSO and coalesced writes, 4 USO (0: one packet per read and write)."
    )
    /// Gauge: the number of lanes.
    static let lanes = (name: "maelstrom_lanes", help: "Lanes (packet threads, each with a TUN queue and a UDP socket) running.")
    /// Gauge: whether the peer was heard from within the peer timeout.
    static let peerUp = (name: "maelstrom_peer_up", help: "1 if the peer was heard from within the peer timeout, else 0.")
    /// Gauge: the last keepalive round trip; absent until the first keepalive echo returns.
    static let peerRTT = (
        name: "maelstrom_peer_rtt_seconds",
        help: "Round-trip time of the last keepalive echoed by the peer, in seconds."
    )
    /// Gauge: the WAN loss seen on the peer's data since the daemon started.
    static let peerLossRatio = (
        name: "maelstrom_peer_loss_ratio",
        help: "Fraction of the peer's data packets lost on the WAN since start, rebuilt or not: (rebuilt + unrecoverable) / (received + rebuilt + unrecoverable)."
    )
    /// Gauge: the repair overhead of the code in use (mean over lanes).
    static let fecOverhead = (
        name: "maelstrom_fec_overhead_ratio",
        help: "Nominal repair overhead (c / r) of the code sent to the peer now, the mean over the lanes weighted by the data frames each has sent."
    )
    /// Gauge: the residual the policy predicts.
    static let fecPredictedResidual = (
        name: "maelstrom_fec_predicted_residual_ratio",
        help: "Residual loss the adaptive policy predicts for the code in use at the loss the peer last reported."
    )
    /// Gauge: the WAN loss measured over a recent window, labelled `window="1s|10s|60s"`.
    static let wanLossWindow = (
        name: "maelstrom_wan_loss_window_ratio",
        help: "Fraction of the peer's data frames lost on the WAN over the last 1 s, 10 s or 60 s (label window), from sequence gaps."
    )
    /// Gauge: the queue the peer's last keepalive waited in.
    static let wanQueueDelay = (
        name: "maelstrom_wan_queue_delay_seconds",
        help: "Queue the peer's last keepalive waited in on the way here: its one-way delay minus the minute's minimum, in seconds."
    )
    /// The windows of `wanLossWindow`.
    static let wanLossWindows = ["1s", "10s", "60s"]

    /// Histogram: time from noticing a packet was missing to rebuilding it.
    static let recoveryLatency = (
        name: "maelstrom_recovery_latency_seconds",
        help: "Time from noticing a packet from the peer was missing to rebuilding it from repair frames, in seconds."
    )
}
