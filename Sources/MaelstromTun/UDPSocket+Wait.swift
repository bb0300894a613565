import Glibc

extension UDPSocket {
    /// Waits until the socket can take another datagram, or the timeout passes; true when it can.
    public func waitWritable(timeoutMilliseconds: Int32) -> Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        return poll(&entry, 1, timeoutMilliseconds) == 1 && entry.revents & Int16(POLLOUT) != 0
    }
}
