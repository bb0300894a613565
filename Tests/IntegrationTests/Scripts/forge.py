#!/usr/bin/env python3
"""What an attacker on the WAN does to a Maelstrom gateway (gwB at 198.18.1.2:4500), from raw
sockets with gwA's address and port as the source:

  forge.py forged CAPTURE     random bytes, plaintext frames with a valid checksum carrying a UDP
                              packet to 10.2.0.2:9999, and sealed frames of CAPTURE with their
                              ciphertext replaced (what a frame sealed under another key looks like)
  forge.py replay CAPTURE     every datagram gwA sent in CAPTURE (a pcap of the WAN), sent again
  forge.py flood PUBKEY SECS  handshake initiations with a valid mac1 (PUBKEY is gwB's) and garbage
                              inside, from gwA's address and from a stranger's, for SECS seconds
"""
import base64, hashlib, hmac, os, socket, struct, sys, time

PEER, TARGET, STRANGER = "198.18.1.1", "198.18.1.2", "198.18.1.77"
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)


def send(payload, source=PEER, port=4500):
    udp = struct.pack("!HHHH", port, 4500, 8 + len(payload), 0)
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp) + len(payload), 1, 0, 64, 17, 0,
                         socket.inet_aton(source), socket.inet_aton(TARGET))
    raw.sendto(header + udp + payload, (TARGET, 0))


def captured(path):
    """The UDP payloads gwA sent, in order, from an Ethernet pcap."""
    data = open(path, "rb").read()
    offset, frames = 24, []
    while offset + 16 <= len(data):
        length = struct.unpack_from("<I", data, offset + 8)[0]
        packet = data[offset + 16: offset + 16 + length]
        offset += 16 + length
        ip = packet[14:]
        if len(ip) < 28 or ip[9] != 17 or ip[12:16] != socket.inet_aton(PEER):
            continue
        ihl = (ip[0] & 15) * 4
        frames.append(ip[ihl + 8: struct.unpack_from("!H", ip, 2)[0]])
    return frames


def checksum(data):
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data[: len(data) // 2 * 2]))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def plaintext_frame():
    """A well-formed version-3 plaintext data frame carrying UDP 10.1.0.99 -> 10.2.0.2:9999."""
    body = b"forged"
    udp = struct.pack("!HHHH", 1234, 9999, 8 + len(body), 0) + body
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 7, 0, 64, 17, 0,
                     socket.inet_aton("10.1.0.99"), socket.inet_aton("10.2.0.2"))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    headers = bytearray(struct.pack("!BBBB", 3, 1, 0, 0) + bytes(12) + struct.pack("!II", 0x1234, 0))
    headers[8:10] = struct.pack("!H", checksum(bytes(headers[:8]) + bytes(2) + bytes(headers[10:])))
    return bytes(headers) + ip + udp


def main():
    mode = sys.argv[1]
    if mode == "forged":
        for _ in range(5):
            send(os.urandom(200))
        for _ in range(5):
            send(plaintext_frame())
        sealed = [f for f in captured(sys.argv[2]) if len(f) > 40 and f[1] == 1 and f[3] == 1]
        if not sealed:
            sys.exit("no sealed data frame in the capture")
        for index in range(10):
            frame = sealed[index % len(sealed)]
            # Envelope and data header kept (a valid session index), a fresh counter, new ciphertext.
            counter = struct.pack("!Q", (1 << 40) + index)
            send(frame[:8] + counter + frame[16:24] + os.urandom(len(frame) - 24))
        print("forged: 5 random, 5 plaintext, 10 resealed")
    elif mode == "replay":
        frames = captured(sys.argv[2])
        for frame in frames:
            send(frame)
        print("replayed", len(frames), "datagrams")
    elif mode == "flood":
        key = hashlib.sha256(b"mac1----" + base64.b64decode(sys.argv[2])).digest()
        end, count = time.time() + float(sys.argv[3]), 0
        while time.time() < end:
            message = struct.pack("!BBBBI", 3, 4, 0, 0, count & 0xFFFFFFFF) + bytes(8) + os.urandom(109)
            message += hmac.new(key, message, hashlib.sha256).digest()[:16] + bytes(16)
            send(message, PEER if count % 2 == 0 else STRANGER)
            count += 1
        print("flooded", count, "initiations")
    else:
        sys.exit(__doc__)


main()
