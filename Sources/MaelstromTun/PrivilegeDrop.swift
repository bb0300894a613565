import CPrivilege
import Glibc

/// Least privilege after setup: once the TUN queues, sockets and routes exist, the daemon needs no
/// capability, so it forbids new privileges, becomes an unprivileged account and proves, thread by
/// thread, that nothing is left (`docs/SECURITY.md`, "Privileges").
public enum PrivilegeDrop {
    /// Sets no_new_privs, so that nothing this process executes can gain privileges. Done first
    /// thing, before any input is read.
    public static func forbidNewPrivileges() throws(PrivilegeError) {
        let result = cpriv_forbid_new_privileges()
        if result != 0 { throw PrivilegeError(.forbidNewPrivileges, errno: -result, "prctl(PR_SET_NO_NEW_PRIVS)") }
    }

    /// The account `name`: its uid and primary gid, or nil when this machine has none.
    public static func account(named name: String) -> (uid: uid_t, gid: gid_t)? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>? = nil
        var buffer = [CChar](repeating: 0, count: 16_384)
        let status = getpwnam_r(name, &entry, &buffer, buffer.count, &result)
        guard status == 0, result != nil else { return nil }
        return (entry.pw_uid, entry.pw_gid)
    }

    /// Switches every thread of the process to the account `name` and its groups and clears every
    /// capability, then checks each thread's credentials as the kernel reports them; throws when
    /// any step fails or any thread kept a capability or its old uid.
    public static func drop(to name: String) throws(PrivilegeError) -> [ThreadCredentials] {
        guard let account = account(named: name) else {
            throw PrivilegeError(.noSuchAccount, errno: 0, "no account '\(name)' on this machine")
        }
        var step: UnsafePointer<CChar>? = nil
        let result = cpriv_drop_to(name, account.uid, account.gid, &step)
        if result != 0 {
            let what = step.map { String(cString: $0) } ?? "drop"
            throw PrivilegeError(.drop, errno: -result, "\(what) for \(name) (uid \(account.uid))")
        }
        guard cpriv_capabilities_clear() == 1 else {
            throw PrivilegeError(.capabilitiesLeft, errno: 0, "this thread still holds capabilities after the switch to \(name)")
        }
        let threads = ThreadCredentials.ofThisProcess()
        guard !threads.isEmpty else {
            throw PrivilegeError(.verify, errno: 0, "cannot read /proc/self/task to check the threads' credentials")
        }
        // A zombie runs nothing: the main thread after dispatch_main()'s pthread_exit, under async main.
        for thread in threads where !thread.isExited && !thread.isUnprivileged(uid: account.uid) {
            throw PrivilegeError(.verify, errno: 0, "thread \(thread.tid) (\(ThreadCredentials.name(of: thread.tid))) kept privileges after the drop (pid \(getpid())): \(thread)")
        }
        return threads
    }
}

/// One thread's credentials as `/proc/self/task/TID/status` shows them.
public struct ThreadCredentials: Sendable, Equatable, CustomStringConvertible {
    /// The thread's id.
    public var tid: Int
    /// Real, effective, saved and filesystem uids.
    public var uids: [UInt32]
    /// The permitted, effective, inheritable, bounding-irrelevant and ambient capability masks.
    public var permitted: UInt64
    public var effective: UInt64
    public var inheritable: UInt64
    public var ambient: UInt64
    /// Whether no_new_privs is set.
    public var noNewPrivileges: Bool
    /// Whether the thread has exited (state Z or X) and only its entry is left.
    public var isExited: Bool
    /// The thread's state as the kernel shows it (`S (sleeping)`).
    public var state: String

    /// True when every uid is `uid`, no capability is held or inheritable, and no_new_privs is set.
    public func isUnprivileged(uid: uid_t) -> Bool {
        uids.count == 4 && uids.allSatisfy { $0 == uid } && permitted == 0 && effective == 0 && inheritable == 0
            && ambient == 0 && noNewPrivileges
    }

    /// `tid 812: uid 65534/65534/65534/65534 CapPrm 0 CapEff 0 CapInh 0 CapAmb 0 NoNewPrivs 1`.
    public var description: String {
        "tid \(tid): uid \(uids.map(String.init).joined(separator: "/")) CapPrm \(String(permitted, radix: 16)) CapEff \(String(effective, radix: 16)) CapInh \(String(inheritable, radix: 16)) CapAmb \(String(ambient, radix: 16)) NoNewPrivs \(noNewPrivileges ? 1 : 0) State \(state)"
    }

    /// Parses a task's status file; nil when a field is missing.
    public init?(tid: Int, status: String) {
        var fields: [Substring: Substring] = [:]
        for line in status.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon]] = line[line.index(after: colon)...].drop(while: { $0 == "\t" || $0 == " " })
        }
        func mask(_ key: Substring) -> UInt64? { fields[key].flatMap { UInt64($0, radix: 16) } }
        guard let uidText = fields["Uid"], let permitted = mask("CapPrm"), let effective = mask("CapEff"),
            let inheritable = mask("CapInh"), let noNew = fields["NoNewPrivs"]
        else { return nil }
        self.tid = tid
        self.uids = uidText.split(whereSeparator: { $0 == "\t" || $0 == " " }).compactMap { UInt32($0) }
        self.permitted = permitted
        self.effective = effective
        self.inheritable = inheritable
        self.ambient = mask("CapAmb") ?? 0
        self.noNewPrivileges = noNew == "1"
        self.state = fields["State"].map(String.init) ?? "?"
        self.isExited = fields["State"].map { $0.hasPrefix("Z") || $0.hasPrefix("X") } ?? false
    }

    /// Every thread of this process, read from `/proc/self/task`.
    public static func ofThisProcess() -> [ThreadCredentials] {
        guard let directory = opendir("/proc/self/task") else { return [] }
        defer { closedir(directory) }
        var threads: [ThreadCredentials] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            guard let tid = Int(name), let status = readFile("/proc/self/task/\(tid)/status"),
                let credentials = ThreadCredentials(tid: tid, status: status)
            else { continue }
            threads.append(credentials)
        }
        return threads
    }

    /// The thread's name (`comm`), for messages.
    public static func name(of tid: Int) -> String {
        (readFile("/proc/self/task/\(tid)/comm") ?? "?").split(separator: "\n").first.map(String.init) ?? "?"
    }

    private static func readFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Forbidding new privileges or dropping them failed; the daemon does not run half-dropped.
public struct PrivilegeError: Error, CustomStringConvertible, Sendable {
    /// Which step failed.
    public enum Code: String, Sendable {
        /// prctl(PR_SET_NO_NEW_PRIVS) failed.
        case forbidNewPrivileges
        /// The `user:` account does not exist.
        case noSuchAccount
        /// A system call of the switch (initgroups, setresgid, setresuid, libcap) failed.
        case drop
        /// libcap still sees capabilities on this thread after the switch.
        case capabilitiesLeft
        /// A thread kept its uid, a capability, or lacks no_new_privs.
        case verify
    }

    /// Which step failed.
    public let code: Code
    /// The errno of the failed call, or 0.
    public let errno: Int32
    /// What was being done.
    public let message: String

    init(_ code: Code, errno: Int32, _ message: String) {
        self.code = code
        self.errno = errno
        self.message = message
    }

    /// `setresuid for nobody (uid 65534): Operation not permitted (errno 1)`.
    public var description: String {
        errno == 0 ? message : "\(message): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}
