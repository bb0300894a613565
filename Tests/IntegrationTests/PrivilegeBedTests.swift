import Foundation
import Glibc
import Testing

/// Least privilege on the test bed: after setup every thread of the daemon runs as `user:` with no
/// capability and no_new_privs, the tunnel still works, and its routes vanish with the device.
extension NetworkTests {
    @Suite("Privileges of a running gateway", .serialized, .enabled(if: gatewaySkipReason == nil, Comment(rawValue: "needs root, TUN, ping and a built maelstromd: \(gatewaySkipReason ?? "")")))
    struct PrivilegeBedTests {
        /// One field of a status file (`Uid:\t0\t0\t0\t0` → `0\t0\t0\t0`).
        static func field(_ name: String, in status: String) -> String? {
            status.split(separator: "\n").first { $0.hasPrefix(name + ":") }
                .map { $0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces) }
        }

        /// Every thread's status file of process `pid`.
        static func threadStatuses(of pid: Int32) throws -> [String: String] {
            let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")
            var statuses: [String: String] = [:]
            for tid in tasks {
                statuses[tid] = try String(contentsOfFile: "/proc/\(pid)/task/\(tid)/status", encoding: .utf8)
            }
            return statuses
        }

        @Test("every thread runs as nobody with no capability and no_new_privs; traffic flows; routes go with the device")
        func droppedToNobody() throws {
            guard let nobody = getpwnam("nobody")?.pointee.pw_uid else {
                Issue.record("this machine has no 'nobody' account")
                return
            }
            let bed = try TwoGatewayBed()
            defer { bed.tearDown() }
            try bed.startDaemon("gwA")
            try bed.startDaemon("gwB")
            try bed.waitForPeer("gwA")
            try bed.waitForPeer("gwB")
            #expect(bed.log("gwA").contains("privileges dropped"), "gwA log:\n\(bed.log("gwA"))")
            let ping = bed.exec("hostA", "ping -c 3 -i 0.2 -W 2 10.2.0.2")
            #expect(ping.status == 0, "\(ping.output)")

            let pid = try #require(bed.daemonPID("gwA"))
            let statuses = try Self.threadStatuses(of: pid)
            // The lane thread, the metrics server's threads and the Swift runtime's are all there.
            #expect(statuses.count >= 3, "threads: \(statuses.keys.sorted())")
            for (tid, status) in statuses {
                let uids = Self.field("Uid", in: status)?.split(whereSeparator: \.isWhitespace).map(String.init)
                #expect(uids == Array(repeating: "\(nobody)", count: 4), "thread \(tid): Uid \(uids ?? [])")
                #expect(Self.field("Gid", in: status)?.split(whereSeparator: \.isWhitespace).allSatisfy { $0 != "0" } == true, "thread \(tid) kept gid 0")
                #expect(Self.field("Groups", in: status)?.split(whereSeparator: \.isWhitespace).contains("0") == false, "thread \(tid) kept group 0")
                for set in ["CapPrm", "CapEff", "CapInh", "CapAmb"] {
                    #expect(Self.field(set, in: status).flatMap { UInt64($0, radix: 16) } == 0, "thread \(tid): \(set) \(Self.field(set, in: status) ?? "?")")
                }
                #expect(Self.field("NoNewPrivs", in: status) == "1", "thread \(tid): NoNewPrivs")
            }
            // Its metrics server, bound after the drop, answers (the lanes publish their counters
            // every so often, so wait for the ping's frames to show).
            let deadline = Date().addingTimeInterval(5)
            while bed.metric("gwA", "maelstrom_frames_opened_total") < 3 && Date() < deadline { usleep(200_000) }
            #expect(bed.metric("gwA", "maelstrom_frames_opened_total") >= 3, "gwA metrics:\n\(bed.metrics("gwA").prefix(3000))")

            #expect(bed.exec("gwA", "ip route show 10.2.0.0/24").output.contains("dev mael0"))
            let status = bed.stopDaemon("gwA")
            #expect(status == 0, "gwA log:\n\(bed.log("gwA"))")
            #expect(!bed.log("gwA").contains("cannot remove route"), "gwA log:\n\(bed.log("gwA"))")
            #expect(!bed.exec("gwA", "ip route show 10.2.0.0/24").output.contains("mael0"))
            #expect(!bed.exec("gwA", "ip link show").output.contains("mael0"), "the TUN device outlived the daemon")
        }

        @Test("user: root keeps root after setup, with a warning, and still runs")
        func rootOnRequest() throws {
            let bed = try TwoGatewayBed(extraConfig: "user: root")
            defer { bed.tearDown() }
            try bed.startDaemon("gwA")
            try bed.startDaemon("gwB")
            try bed.waitForPeer("gwA")
            #expect(bed.log("gwA").contains("uid 0"), "gwA log:\n\(bed.log("gwA"))")
            #expect(!bed.log("gwA").contains("privileges dropped"))
            let pid = try #require(bed.daemonPID("gwA"))
            let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
            #expect(Self.field("Uid", in: status)?.hasPrefix("0") == true)
            #expect(Self.field("NoNewPrivs", in: status) == "1", "no_new_privs is set whatever the user")
            #expect(bed.stopDaemon("gwA") == 0)
        }
    }
}
