import CPcap
import MaelstromCore

/// A capture file read through libpcap: tcpdump's classic pcap (either byte order, micro- or
/// nanosecond timestamps) and pcapng, whatever libpcap itself reads.
///
/// The file reading lives here, outside MaelstromCore, which makes no syscalls: the core's
/// `CaptureLossTrace` only sees the bytes of each packet.
public final class PcapFile {
    private let handle: OpaquePointer
    /// The file's path, for messages.
    public let path: String
    /// The link type of its packets (libpcap's DLT value, `pcap_datalink`).
    public let linkTypeValue: Int
    /// libpcap's name of the link type (`EN10MB`, `LINUX_SLL2`, …), or its number.
    public let linkTypeName: String
    /// The snap length the capture was taken with: packets longer than this were cut there.
    public let snapLength: Int

    /// Opens `path`; throws with libpcap's explanation when it cannot (missing, not a capture,
    /// a pcapng file whose interfaces have different link types).
    public init(path: String) throws(PcapError) {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        guard let handle = pcap_open_offline(path, &errorBuffer) else {
            throw PcapError(path: path, message: String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        self.handle = handle
        self.path = path
        linkTypeValue = Int(pcap_datalink(handle))
        linkTypeName = pcap_datalink_val_to_name(Int32(linkTypeValue)).map { String(cString: $0) } ?? "\(linkTypeValue)"
        snapLength = Int(pcap_snapshot(handle))
    }

    deinit { pcap_close(handle) }

    /// The link type as the core parses it, or nil when it is not one it knows.
    public var linkType: CaptureLinkType? { CaptureLinkType(dlt: linkTypeValue) }

    /// Calls `body` with each packet's captured bytes (valid only during the call) and its length
    /// on the wire, in file order; returns the number of packets. Throws when the file is damaged
    /// part-way (the packets before the damage have been passed).
    @discardableResult
    public func forEachPacket(_ body: (_ bytes: UnsafeRawBufferPointer, _ wireLength: Int) throws -> Void) throws -> Int {
        var count = 0
        var header: UnsafeMutablePointer<pcap_pkthdr>? = nil
        var data: UnsafePointer<UInt8>? = nil
        while true {
            let result = pcap_next_ex(handle, &header, &data)
            switch result {
            case 1:
                guard let header, let data else { continue }
                count += 1
                try body(UnsafeRawBufferPointer(start: data, count: Int(header.pointee.caplen)), Int(header.pointee.len))
            case 0:  // a live capture's timeout; never for a file, but harmless
                continue
            case PCAP_ERROR_BREAK:  // -2: the end of the file
                return count
            default:
                throw PcapError(path: path, message: "after \(count) packets: " + String(cString: pcap_geterr(handle)))
            }
        }
    }
}

/// A capture file libpcap could not read, with its explanation.
public struct PcapError: Error, Sendable, CustomStringConvertible {
    /// The file.
    public let path: String
    /// libpcap's message.
    public let message: String

    /// `cannot read capture FILE: MESSAGE`.
    public var description: String { "cannot read capture \(path): \(message)" }
}
