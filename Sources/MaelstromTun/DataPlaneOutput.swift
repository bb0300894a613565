import MaelstromCore

/// The data plane's `GatewayOutput`: frames go into a `sendmmsg` batch, packets into the TUN device.
///
/// A data frame's payload stays where the TUN read put it (the batch keeps a pointer; the data
/// plane sends before it reads into those slots again); repairs and keepalives are copied, since
/// the encoder reuses its bins as soon as it has emitted them.
struct DataPlaneOutput: GatewayOutput {
    let batch: OutgoingBatch
    let socket: UDPSocket
    let tun: TunDevice
    let peerAddresses: [SocketAddress]
    let counters: UnsafeMutablePointer<DataPlaneCounters>

    mutating func send(header: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, toPeer peer: Int) {
        if batch.isFull { flush() }
        let destination = peerAddresses[peer]
        if header[1] == FrameType.data.rawValue {
            batch.append(header: header, payload: payload, to: destination)
        } else {
            let total = header.count + payload.count
            let queued = batch.append(to: destination, payload: UnsafeRawBufferPointer(start: nil, count: 0)) { slot in
                guard total <= slot.count, let base = slot.baseAddress else { return -1 }
                base.copyMemory(from: header.baseAddress!, byteCount: header.count)
                if payload.count > 0 { (base + header.count).copyMemory(from: payload.baseAddress!, byteCount: payload.count) }
                return total
            }
            if !queued { counters.pointee.sendQueueDrops &+= 1 }
        }
    }

    mutating func deliver(_ packet: UnsafeRawBufferPointer, fromPeer peer: Int) {
        // Only a dead descriptor throws; the loop notices that on its next read.
        _ = try? tun.write(packet)
    }

    /// Sends everything queued; waits briefly for room when the socket's queue is full.
    func flush() {
        var start = 0
        var stalls = 0
        while start < batch.count {
            let sent: Int
            do {
                sent = try socket.sendBatch(batch, from: start)
            } catch {
                counters.pointee.sendQueueDrops &+= UInt64(batch.count - start)
                break
            }
            counters.pointee.sendBatches &+= 1
            start += sent
            if sent == 0 {
                stalls += 1
                // The kernel's queue is full: give it a moment, then give up on this batch.
                if stalls > 3 || !socket.waitWritable(timeoutMilliseconds: 2) {
                    counters.pointee.sendQueueDrops &+= UInt64(batch.count - start)
                    break
                }
            }
        }
        batch.removeAll()
    }
}
