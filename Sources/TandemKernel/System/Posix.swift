// CNetlink too: in a whole-module (release) build, clang gives <sys/socket.h>'s declarations to the
// module that included it first, libnl's CNetlink, so without it SOCK_STREAM, MSG_NOSIGNAL and
// the like are "not in scope" here (a debug build compiles file by file and finds them through
// Glibc). CEpoll for <sys/epoll.h>, which Swift's Glibc module lacks.
import CEpoll
import CNetlink
import Glibc
import TandemCore

// The one room for Tandem's system calls.
//
// Every call the daemon, the health checks and tandemctl make on descriptors, files, sockets,
// pipes, poll/epoll, signals and child processes goes through a wrapper here (libnl's own calls
// stay in the netlink files, NIO's in NIO). The rules, so each call site need not re-learn them:
// - A failure throws `PosixError` (typed throws): the call's name, the errno, the object it acted
//   on (a path, a socket address, an interface, a named descriptor) and, where one is known, what
//   to do about it. Nothing else is thrown.
// - EINTR is retried inside the wrapper for calls that can simply be repeated (open, read, write,
//   send, receive, waitpid, a blocking Unix connect). Calls whose callers treat a signal as a
//   reason to look again (poll, epoll_wait) return nil for it instead: the caller decides. A
//   non-blocking IP connect interrupted by a signal goes on in the kernel: `.inProgress`.
// - EAGAIN/EWOULDBLOCK on a non-blocking descriptor is not an error: the I/O wrappers return nil
//   ("would block"), and `connect` returns `.inProgress` for EINPROGRESS.
// - `close` never throws and is never retried (on Linux the descriptor is gone after EINTR);
//   `closeReportingErrors` is for the one place that must see a deferred write error.
// - The hot paths (heartbeat send and receive, the health checks' connect poller) use the
//   `@inlinable` wrappers: no allocation, no escaping closure and no String unless a call fails.

/// Thin, documented wrappers for the system calls Tandem makes. See the file's header.
public enum Posix {}

// MARK: - The error

/// A failed system call: which call, on what, the errno, and what to do about it.
public struct PosixError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The call's name: "bind", "open", "sendto".
    public var call: String
    /// What Tandem was doing, as the message says it ("bind heartbeat socket to"); the call's
    /// name unless a caller gave something more telling.
    public var operation: String
    /// What the call acted on: a path, "192.0.2.1:694", an interface, "heartbeat wake-up pipe".
    public var object: String
    /// The errno (positive).
    public var errno: Int32
    /// A caller's own advice; nil leaves `suggestion` to the table of known causes.
    public var hint: String?

    public init(call: String, object: String, errno: Int32, operation: String? = nil, hint: String? = nil) {
        self.call = call
        self.operation = operation ?? call
        self.object = object
        self.errno = errno
        self.hint = hint
    }

    /// A failure reported as an error number by a call outside this file (`pthread_create`,
    /// `posix_spawn`), described the same way.
    public init(operation: String, object: String, errno: Int32) {
        self.init(call: operation, object: object, errno: errno)
    }

    /// The same failure told with a caller's words and advice (nil keeps what is there).
    public func with(operation: String? = nil, object: String? = nil, hint: String? = nil) -> PosixError {
        var copy = self
        if let operation { copy.operation = operation }
        if let object { copy.object = object }
        if let hint { copy.hint = hint }
        return copy
    }

    /// The C library's text for `errno`: "Address already in use".
    public var reason: String { String(cString: strerror(errno)) }

    /// The errno's symbolic name, e.g. "EADDRINUSE" ("errno 200" for one not in the table).
    public var errnoName: String { Posix.errnoName(errno) }

    /// What to do about it: the caller's hint, else the known cause of this errno for this call.
    public var suggestion: String? { hint ?? PosixError.knownCause(call: call, errno: errno) }

    /// "cannot bind 192.0.2.1:694: Cannot assign requested address (EADDRNOTAVAIL); is the address
    /// configured on this host?"
    public var description: String {
        var text = "cannot \(operation)"
        if !object.isEmpty { text += " \(object)" }
        text += ": \(reason) (\(errnoName))"
        if let suggestion { text += "; \(suggestion)" }
        return text
    }

    /// The usual cause of `errno` from `call`, said as the fix, when there is one worth saying.
    public static func knownCause(call: String, errno: Int32) -> String? {
        let onFile = ["open", "stat", "lstat", "rename", "link", "unlink", "fchmod", "chmod", "fsync", "close", "write", "read"]
            .contains(call)
        switch errno {
        case EADDRNOTAVAIL where call == "bind":
            return "is the address configured on this host?"
        case EADDRINUSE:
            return "is another tandemd running, or another program using that port?"
        case EACCES, EPERM:
            if call == "sendto" || call == "send" { return "is a firewall rule refusing these packets?" }
            return onFile ? "check the permissions of the file and its directory"
                : "run as root (raw and netlink sockets, ports below 1024 and address changes need it)"
        case ENOENT where call == "connect":
            return "nothing listens there: is the program that should be running?"
        case ENOENT where onFile:
            return "does the path exist?"
        case ECONNREFUSED:
            return "nothing listens there: is the program that should be running?"
        case ENAMETOOLONG where call == "connect" || call == "bind":
            return "a Unix socket path holds at most \(Posix.unixPathCapacity - 1) bytes: use a shorter path"
        case ENOSPC, EDQUOT:
            return "the file system is full"
        case EROFS:
            return "the file system is mounted read-only"
        case EMFILE, ENFILE:
            return "too many open files: raise the descriptor limit (LimitNOFILE=)"
        case ENETDOWN:
            return "the interface is down"
        case ENETUNREACH, EHOSTUNREACH:
            return "no route to that address: check the link and the routes"
        case ENODEV, ENXIO:
            return "the interface does not exist (any more)"
        case EAFNOSUPPORT where call == "socket":
            return "this kernel lacks that address family (is IPv6 disabled?)"
        default:
            return nil
        }
    }
}

extension Posix {
    /// The symbolic name of `code`: "ENOENT" ("errno 200" for one Tandem does not name).
    public static func errnoName(_ code: Int32) -> String { errnoNames[code] ?? "errno \(code)" }

    static let errnoNames: [Int32: String] = [
        EPERM: "EPERM", ENOENT: "ENOENT", ESRCH: "ESRCH", EINTR: "EINTR", EIO: "EIO", ENXIO: "ENXIO",
        E2BIG: "E2BIG", ENOEXEC: "ENOEXEC", EBADF: "EBADF", ECHILD: "ECHILD", EAGAIN: "EAGAIN",
        ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT", EBUSY: "EBUSY", EEXIST: "EEXIST",
        EXDEV: "EXDEV", ENODEV: "ENODEV", ENOTDIR: "ENOTDIR", EISDIR: "EISDIR", EINVAL: "EINVAL",
        ENFILE: "ENFILE", EMFILE: "EMFILE", ETXTBSY: "ETXTBSY", EFBIG: "EFBIG", ENOSPC: "ENOSPC",
        EROFS: "EROFS", EPIPE: "EPIPE", ERANGE: "ERANGE", ENAMETOOLONG: "ENAMETOOLONG", ELOOP: "ELOOP",
        ENOTSOCK: "ENOTSOCK", EMSGSIZE: "EMSGSIZE", EPROTONOSUPPORT: "EPROTONOSUPPORT",
        EOPNOTSUPP: "EOPNOTSUPP", EAFNOSUPPORT: "EAFNOSUPPORT", EADDRINUSE: "EADDRINUSE",
        EADDRNOTAVAIL: "EADDRNOTAVAIL", ENETDOWN: "ENETDOWN", ENETUNREACH: "ENETUNREACH",
        ECONNABORTED: "ECONNABORTED", ECONNRESET: "ECONNRESET", ENOBUFS: "ENOBUFS", EISCONN: "EISCONN",
        ENOTCONN: "ENOTCONN", ETIMEDOUT: "ETIMEDOUT", ECONNREFUSED: "ECONNREFUSED",
        EHOSTUNREACH: "EHOSTUNREACH", EALREADY: "EALREADY", EINPROGRESS: "EINPROGRESS", EDQUOT: "EDQUOT",
    ]
}

// MARK: - Descriptors

extension Posix {
    /// How a byte-moving call (read, write, send, receive) ended, once it need not be repeated.
    @usableFromInline
    struct Settled {
        /// The count it returned; nil when a non-blocking descriptor would block (EAGAIN).
        @usableFromInline let count: Int?
        @inlinable init(count: Int?) { self.count = count }
    }

    /// The one reading of a byte-moving call's result: nil when a signal interrupted it (EINTR:
    /// call it again), `Settled` with the count or "would block", else the failure thrown.
    @inlinable
    static func settle(_ result: Int, call: String, object: String) throws(PosixError) -> Settled? {
        if result >= 0 { return Settled(count: result) }
        let code = Glibc.errno
        if code == EINTR { return nil }
        if code == EAGAIN || code == EWOULDBLOCK { return Settled(count: nil) }
        throw PosixError(call: call, object: object, errno: code)
    }

    /// Closes `descriptor`, ignoring the result: never retried (on Linux the descriptor is
    /// released even when close reports EINTR, and a retry could close a reused number).
    @inlinable
    public static func close(_ descriptor: Int32) {
        _ = Glibc.close(descriptor)
    }

    /// Closes `descriptor` and reports a failure (a deferred write error of an NFS or full file
    /// system shows up here). Not retried, as `close`.
    public static func closeReportingErrors(_ descriptor: Int32, object: String) throws(PosixError) {
        if Glibc.close(descriptor) != 0 { throw PosixError(call: "close", object: object, errno: Glibc.errno) }
    }

    /// Reads into `buffer`: the byte count (0 at end of file), or nil when a non-blocking
    /// descriptor has nothing (EAGAIN). EINTR is retried.
    @inlinable
    public static func read(_ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer, object: String) throws(PosixError) -> Int? {
        while true {
            let n = Glibc.read(descriptor, buffer.baseAddress, buffer.count)
            if let done = try settle(n, call: "read", object: object) { return done.count }
        }
    }

    /// Writes from `bytes` once: the byte count (possibly short), or nil when a non-blocking
    /// descriptor is full (EAGAIN). EINTR is retried.
    @inlinable
    public static func write(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer, object: String) throws(PosixError) -> Int? {
        while true {
            let n = Glibc.write(descriptor, bytes.baseAddress, bytes.count)
            if let done = try settle(n, call: "write", object: object) { return done.count }
        }
    }

    /// Writes all of `bytes` to a blocking descriptor, continuing after short writes and EINTR.
    /// A non-blocking descriptor that fills up throws EAGAIN.
    public static func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer, object: String) throws(PosixError) {
        var offset = 0
        while offset < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            guard let n = try write(descriptor, rest, object: object) else {
                throw PosixError(call: "write", object: object, errno: EAGAIN)
            }
            if n == 0 { throw PosixError(call: "write", object: object, errno: EIO) }
            offset += n
        }
    }

    /// `writeAll` of an array.
    public static func writeAll(_ descriptor: Int32, _ bytes: [UInt8], object: String) throws(PosixError) {
        try bytes.withUnsafeBytes { raw in Result { () throws(PosixError) in try writeAll(descriptor, raw, object: object) } }.get()
    }

    /// `read` into an array (from its start).
    @inlinable
    public static func read(_ descriptor: Int32, into buffer: inout [UInt8], object: String) throws(PosixError) -> Int? {
        try buffer.withUnsafeMutableBytes { raw in Result { () throws(PosixError) in try read(descriptor, into: raw, object: object) } }.get()
    }

    /// `write` of one byte (a self-pipe's wake-up): 1, or nil when a non-blocking pipe is full.
    @inlinable
    public static func write(_ descriptor: Int32, byte: UInt8, object: String) throws(PosixError) -> Int? {
        var value = byte
        while true {
            let n = Glibc.write(descriptor, &value, 1)
            if let done = try settle(n, call: "write", object: object) { return done.count }
        }
    }

    /// Sets `O_NONBLOCK` on `descriptor`.
    public static func setNonBlocking(_ descriptor: Int32, object: String) throws(PosixError) {
        let flags = Glibc.fcntl(descriptor, F_GETFL)
        guard flags >= 0, Glibc.fcntl(descriptor, F_SETFL, flags | O_NONBLOCK) == 0 else {
            throw PosixError(call: "fcntl", object: object, errno: Glibc.errno, operation: "make non-blocking")
        }
    }

    /// Sets `FD_CLOEXEC` on `descriptor` (for descriptors whose call takes no close-on-exec flag).
    public static func setCloseOnExec(_ descriptor: Int32, object: String) throws(PosixError) {
        guard Glibc.fcntl(descriptor, F_SETFD, FD_CLOEXEC) == 0 else {
            throw PosixError(call: "fcntl", object: object, errno: Glibc.errno, operation: "set close-on-exec on")
        }
    }

    /// A pipe, both ends close-on-exec, and `O_NONBLOCK` on the ends asked for. (`pipe2` is not
    /// in Swift's Glibc module, whose headers are compiled without _GNU_SOURCE: the flags are set
    /// right after, so a child another thread spawns in between may inherit an end.)
    public static func pipe(nonBlockingRead: Bool = false, nonBlockingWrite: Bool = false,
                            object: String) throws(PosixError) -> (read: Int32, write: Int32) {
        var ends: [Int32] = [-1, -1]
        guard Glibc.pipe(&ends) == 0 else { throw PosixError(call: "pipe", object: object, errno: Glibc.errno, operation: "create") }
        do {
            try setCloseOnExec(ends[0], object: object)
            try setCloseOnExec(ends[1], object: object)
            if nonBlockingRead { try setNonBlocking(ends[0], object: object) }
            if nonBlockingWrite { try setNonBlocking(ends[1], object: object) }
        } catch {
            close(ends[0])
            close(ends[1])
            throw error
        }
        return (ends[0], ends[1])
    }
}

// MARK: - Files

extension Posix {
    /// Opens `path` (`O_CLOEXEC` is added); EINTR is retried.
    public static func open(_ path: String, flags: Int32, mode: mode_t = 0) throws(PosixError) -> Int32 {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            let code = Glibc.errno
            if code == EINTR { continue }
            throw PosixError(call: "open", object: path, errno: code)
        }
    }

    /// The content of a file (a sysctl, /proc/modules), at most `limit` bytes, read in chunks
    /// of up to 64 KiB until end of file.
    public static func readFile(_ path: String, limit: Int = 1 << 20) throws(PosixError) -> [UInt8] {
        let fd = try open(path, flags: O_RDONLY)
        defer { close(fd) }
        var content: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: max(1, min(limit, 1 << 16)))
        while content.count < limit {
            guard let n = try read(fd, into: &chunk, object: path), n > 0 else { break }
            content += chunk[..<min(n, limit - content.count)]
        }
        return content
    }

    /// `stat(2)` of `path`; nil when nothing is there (ENOENT).
    public static func status(of path: String) throws(PosixError) -> stat? {
        var info = stat()
        if stat(path, &info) == 0 { return info }
        if Glibc.errno == ENOENT { return nil }
        throw PosixError(call: "stat", object: path, errno: Glibc.errno)
    }

    /// `lstat(2)` of `path` (a symbolic link itself, not its target); nil when nothing is there.
    public static func linkStatus(of path: String) throws(PosixError) -> stat? {
        var info = stat()
        if lstat(path, &info) == 0 { return info }
        if Glibc.errno == ENOENT { return nil }
        throw PosixError(call: "lstat", object: path, errno: Glibc.errno)
    }

    /// `fstat(2)` of an open descriptor.
    public static func status(of descriptor: Int32, object: String) throws(PosixError) -> stat {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw PosixError(call: "fstat", object: object, errno: Glibc.errno) }
        return info
    }

    /// Whether this process may `mode` (`X_OK`, `R_OK`…) `path` (`access(2)`: false for any error).
    public static func isAccessible(_ path: String, _ mode: Int32) -> Bool {
        Glibc.access(path, mode) == 0
    }

    /// Sets the permission bits of an open file.
    public static func changeMode(_ descriptor: Int32, to mode: mode_t, object: String) throws(PosixError) {
        guard Glibc.fchmod(descriptor, mode) == 0 else { throw PosixError(call: "fchmod", object: object, errno: Glibc.errno, operation: "chmod") }
    }

    /// Sets the permission bits of `path`.
    public static func changeMode(of path: String, to mode: mode_t) throws(PosixError) {
        guard Glibc.chmod(path, mode) == 0 else { throw PosixError(call: "chmod", object: path, errno: Glibc.errno) }
    }

    /// Flushes a file (or a directory's entries) to stable storage.
    public static func fsync(_ descriptor: Int32, object: String) throws(PosixError) {
        guard Glibc.fsync(descriptor) == 0 else { throw PosixError(call: "fsync", object: object, errno: Glibc.errno) }
    }

    /// Renames `source` over `destination` (atomic within one file system).
    public static func rename(_ source: String, to destination: String) throws(PosixError) {
        guard Glibc.rename(source, destination) == 0 else {
            throw PosixError(call: "rename", object: "\(source) -> \(destination)", errno: Glibc.errno)
        }
    }

    /// Makes `newPath` a hard link to `existing`.
    public static func link(_ existing: String, as newPath: String) throws(PosixError) {
        guard Glibc.link(existing, newPath) == 0 else {
            throw PosixError(call: "link", object: "\(existing) -> \(newPath)", errno: Glibc.errno)
        }
    }

    /// Removes `path`; a path that is already gone (ENOENT) is no error.
    public static func unlinkIfPresent(_ path: String) throws(PosixError) {
        guard Glibc.unlink(path) == 0 || Glibc.errno == ENOENT else {
            throw PosixError(call: "unlink", object: path, errno: Glibc.errno, operation: "remove")
        }
    }
}

// MARK: - Sockets

extension Posix {
    /// How a non-blocking `connect` went.
    public enum ConnectProgress: Sendable, Hashable {
        /// Connected at once (a local peer).
        case connected
        /// Under way (EINPROGRESS): wait for writability, then read `pendingSocketError`.
        case inProgress
    }

    /// Bytes `sun_path` holds, its terminating NUL included.
    public static var unixPathCapacity: Int { MemoryLayout.size(ofValue: sockaddr_un().sun_path) }

    /// A new socket (`type` may carry SOCK_NONBLOCK and SOCK_CLOEXEC; add SOCK_CLOEXEC unless a
    /// child must inherit it). `object` says what it is for, for the message.
    @inlinable
    public static func socket(family: Int32, type: Int32, protocol proto: Int32 = 0, object: String) throws(PosixError) -> Int32 {
        let fd = Glibc.socket(family, type, proto)
        if fd < 0 { throw PosixError(call: "socket", object: object, errno: Glibc.errno, operation: "open a socket for") }
        return fd
    }

    /// Binds to an IP address and port.
    public static func bind(_ descriptor: Int32, to address: IPAddress, port: UInt16) throws(PosixError) {
        let rc = IPSocketAddress.with(address, port: port) { Glibc.bind(descriptor, $0, $1) }
        if rc != 0 { throw PosixError(call: "bind", object: "\(address.bracketed):\(port)", errno: Glibc.errno) }
    }

    /// Binds to a socket address of another family (`sockaddr_ll`, `sockaddr_nl`).
    public static func bind<Address>(_ descriptor: Int32, to address: Address, object: String) throws(PosixError) {
        var copy = address
        let rc = withUnsafePointer(to: &copy) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(descriptor, $0, socklen_t(MemoryLayout<Address>.size)) }
        }
        if rc != 0 { throw PosixError(call: "bind", object: object, errno: Glibc.errno) }
    }

    /// Connects to an IP address and port: `.inProgress` on a non-blocking socket still
    /// connecting. EINTR is reported as `.inProgress` too (the connect goes on in the kernel).
    @inlinable
    public static func connect(_ descriptor: Int32, to address: IPAddress, port: UInt16) throws(PosixError) -> ConnectProgress {
        let rc = IPSocketAddress.with(address, port: port) { Glibc.connect(descriptor, $0, $1) }
        if rc == 0 { return .connected }
        let code = Glibc.errno
        if code == EINPROGRESS || code == EINTR { return .inProgress }
        throw PosixError(call: "connect", object: "\(address.bracketed):\(port)", errno: code)
    }

    /// Opens a Unix socket of `type` (SOCK_STREAM, SOCK_DGRAM; close-on-exec is added) and
    /// connects it to `path`, blocking. A path starting with "@" names an abstract socket (the
    /// "@" stands for the leading NUL, and the address length counts exactly its bytes).
    /// ENAMETOOLONG for a path that does not fit `sun_path`.
    public static func connectUnixSocket(path: String, type: Int32) throws(PosixError) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }
        guard bytes.count < unixPathCapacity else { throw PosixError(call: "connect", object: path, errno: ENAMETOOLONG, operation: "connect to") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count + (abstract ? 0 : 1))
        let fd = try socket(family: AF_UNIX, type: type | Int32(SOCK_CLOEXEC.rawValue), object: path)
        var interrupted = false
        while true {
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) }
            }
            let code = rc == 0 ? 0 : Glibc.errno
            // After an interrupted connect the kernel may have finished it: EISCONN is success.
            if rc == 0 || (interrupted && code == EISCONN) { return fd }
            if code == EINTR {
                interrupted = true
                continue
            }
            close(fd)
            throw PosixError(call: "connect", object: path, errno: code, operation: "connect to")
        }
    }

    /// Sets a socket option to `value` (an Int32, a `linger`…).
    @inlinable
    public static func setOption<Value>(_ descriptor: Int32, level: Int32, name: Int32, to value: Value, object: String) throws(PosixError) {
        let rc = withUnsafeBytes(of: value) { Glibc.setsockopt(descriptor, level, name, $0.baseAddress, socklen_t($0.count)) }
        if rc != 0 {
            throw PosixError(call: "setsockopt", object: object, errno: Glibc.errno, operation: "set a socket option (\(level), \(name)) on")
        }
    }

    /// The pending error of a socket (`SO_ERROR`, cleared by reading): 0 once a non-blocking
    /// connect succeeded, its errno when it failed.
    @inlinable
    public static func pendingSocketError(_ descriptor: Int32, object: String) throws(PosixError) -> Int32 {
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if Glibc.getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &error, &length) != 0 {
            throw PosixError(call: "getsockopt", object: object, errno: Glibc.errno, operation: "read the pending error of")
        }
        return error
    }

    /// The address a socket is bound to (`getsockname`), as `Address` (`sockaddr_ll`…).
    public static func localAddress<Address>(of descriptor: Int32, as type: Address.Type, zero: Address,
                                             object: String) throws(PosixError) -> Address {
        var address = zero
        var length = socklen_t(MemoryLayout<Address>.size)
        let rc = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.getsockname(descriptor, $0, &length) }
        }
        if rc != 0 { throw PosixError(call: "getsockname", object: object, errno: Glibc.errno, operation: "read the address of") }
        return address
    }

    /// Sends one datagram (or stream bytes) on a connected socket: the count sent, nil when a
    /// non-blocking socket is full. EINTR is retried. `flags` defaults to MSG_NOSIGNAL (a closed
    /// peer gives EPIPE, not SIGPIPE).
    @inlinable
    public static func send(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer, flags: Int32 = Int32(MSG_NOSIGNAL),
                            object: String) throws(PosixError) -> Int? {
        while true {
            let n = Glibc.send(descriptor, bytes.baseAddress, bytes.count, flags)
            if let done = try settle(n, call: "send", object: object) { return done.count }
        }
    }

    /// Sends one datagram to an IP address and port: the count sent, nil when a non-blocking
    /// socket is full. EINTR is retried.
    @inlinable
    public static func send(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer, to address: IPAddress,
                            port: UInt16) throws(PosixError) -> Int? {
        while true {
            let n = IPSocketAddress.with(address, port: port) { Glibc.sendto(descriptor, bytes.baseAddress, bytes.count, 0, $0, $1) }
            // The address is told only when the call failed: no String on the heartbeat's path.
            do {
                if let done = try settle(n, call: "sendto", object: "") { return done.count }
            } catch {
                throw error.with(object: "\(address.bracketed):\(port)")
            }
        }
    }

    /// Sends one datagram to a socket address of another family (`sockaddr_ll`): the count
    /// sent, nil when a non-blocking socket is full. EINTR is retried.
    @inlinable
    public static func send<Address>(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer, to address: Address,
                                     object: String) throws(PosixError) -> Int? {
        var copy = address
        while true {
            let n = withUnsafePointer(to: &copy) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.sendto(descriptor, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<Address>.size))
                }
            }
            if let done = try settle(n, call: "sendto", object: object) { return done.count }
        }
    }

    /// Receives into `buffer` on a connected socket: the count (0 when a stream's peer closed),
    /// nil when a non-blocking socket has nothing. EINTR is retried.
    @inlinable
    public static func receive(_ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer, flags: Int32 = 0,
                               object: String) throws(PosixError) -> Int? {
        while true {
            let n = Glibc.recv(descriptor, buffer.baseAddress, buffer.count, flags)
            if let done = try settle(n, call: "recv", object: object) { return done.count }
        }
    }

    /// Receives one datagram into `buffer` and its sender into `source` (`sockaddr_storage`,
    /// `sockaddr_nl`…): the datagram's length (larger than `buffer` when truncated under
    /// MSG_TRUNC), nil when a non-blocking receive finds nothing. EINTR is retried.
    @inlinable
    public static func receive<Address>(_ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer, flags: Int32 = 0,
                                        source: inout Address, object: String) throws(PosixError) -> Int? {
        while true {
            var length = socklen_t(MemoryLayout<Address>.size)
            let n = withUnsafeMutablePointer(to: &source) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.recvfrom(descriptor, buffer.baseAddress, buffer.count, flags, $0, &length)
                }
            }
            if let done = try settle(n, call: "recvfrom", object: object) { return done.count }
        }
    }

    /// `send` of an array on a connected socket.
    @inlinable
    public static func send(_ descriptor: Int32, _ bytes: [UInt8], flags: Int32 = Int32(MSG_NOSIGNAL), object: String) throws(PosixError) -> Int? {
        try bytes.withUnsafeBytes { raw in Result { () throws(PosixError) in try send(descriptor, raw, flags: flags, object: object) } }.get()
    }

    /// `send` of an array to an IP address and port.
    @inlinable
    public static func send(_ descriptor: Int32, _ bytes: [UInt8], to address: IPAddress, port: UInt16) throws(PosixError) -> Int? {
        try bytes.withUnsafeBytes { raw in Result { () throws(PosixError) in try send(descriptor, raw, to: address, port: port) } }.get()
    }

    /// `send` of an array to a prepared IP socket address: the count sent, nil when a
    /// non-blocking socket is full. EINTR is retried; the address is told only when the call failed.
    @inlinable
    public static func send(_ descriptor: Int32, _ bytes: [UInt8], to address: PreparedSocketAddress) throws(PosixError) -> Int? {
        while true {
            let n = bytes.withUnsafeBytes { raw in address.with { Glibc.sendto(descriptor, raw.baseAddress, raw.count, 0, $0, $1) } }
            do {
                if let done = try settle(n, call: "sendto", object: "") { return done.count }
            } catch {
                throw error.with(object: "\(address.address.bracketed):\(address.port)")
            }
        }
    }

    /// `send` of an array to a socket address of another family.
    @inlinable
    public static func send<Address>(_ descriptor: Int32, _ bytes: [UInt8], to address: Address, object: String) throws(PosixError) -> Int? {
        try bytes.withUnsafeBytes { raw in Result { () throws(PosixError) in try send(descriptor, raw, to: address, object: object) } }.get()
    }

    /// `receive` into an array (from its start) on a connected socket.
    @inlinable
    public static func receive(_ descriptor: Int32, into buffer: inout [UInt8], flags: Int32 = 0, object: String) throws(PosixError) -> Int? {
        try buffer.withUnsafeMutableBytes { raw in
            Result { () throws(PosixError) in try receive(descriptor, into: raw, flags: flags, object: object) }
        }.get()
    }

    /// `receive` of one datagram into an array (from its start), with its sender.
    @inlinable
    public static func receive<Address>(_ descriptor: Int32, into buffer: inout [UInt8], flags: Int32 = 0, source: inout Address,
                                        object: String) throws(PosixError) -> Int? {
        try buffer.withUnsafeMutableBytes { raw in
            Result { () throws(PosixError) in try receive(descriptor, into: raw, flags: flags, source: &source, object: object) }
        }.get()
    }

    /// The IP address in a `sockaddr_storage` filled by a receive; nil for another family.
    public static func ipAddress(of storage: sockaddr_storage) -> IPAddress? {
        let family = Int32(storage.ss_family)
        return withUnsafeBytes(of: storage) { raw -> IPAddress? in
            switch family {
            case AF_INET:
                let sin = raw.load(as: sockaddr_in.self)
                return withUnsafeBytes(of: sin.sin_addr) { IPAddress(bytes: Array($0), family: .ipv4) }
            case AF_INET6:
                let sin6 = raw.load(as: sockaddr_in6.self)
                return withUnsafeBytes(of: sin6.sin6_addr) { IPAddress(bytes: Array($0), family: .ipv6) }
            default:
                return nil
            }
        }
    }
}

// MARK: - Waiting

extension Posix {
    /// Waits until one of `entries` is ready or `timeoutMilliseconds` pass (-1: no limit): the
    /// number of ready entries (0 at the timeout), or nil when a signal interrupted the wait
    /// (EINTR), so the caller can re-check its deadline or retry.
    @inlinable
    public static func poll(_ entries: UnsafeMutableBufferPointer<pollfd>, timeoutMilliseconds: Int32,
                            object: String) throws(PosixError) -> Int? {
        let n = Glibc.poll(entries.baseAddress, nfds_t(entries.count), timeoutMilliseconds)
        if n >= 0 { return Int(n) }
        let code = Glibc.errno
        if code == EINTR { return nil }
        throw PosixError(call: "poll", object: object, errno: code)
    }

    /// `poll` of an array of entries.
    @inlinable
    public static func poll(_ entries: inout [pollfd], timeoutMilliseconds: Int32, object: String) throws(PosixError) -> Int? {
        try entries.withUnsafeMutableBufferPointer { buffer in
            Result { () throws(PosixError) in try poll(buffer, timeoutMilliseconds: timeoutMilliseconds, object: object) }
        }.get()
    }

    /// `poll` of one entry.
    @inlinable
    public static func poll(_ entry: inout pollfd, timeoutMilliseconds: Int32, object: String) throws(PosixError) -> Int? {
        try withUnsafeMutablePointer(to: &entry) { pointer in
            Result { () throws(PosixError) in
                try poll(UnsafeMutableBufferPointer(start: pointer, count: 1), timeoutMilliseconds: timeoutMilliseconds, object: object)
            }
        }.get()
    }

    /// Sleeps `milliseconds` (a poll of nothing); a signal ends it early.
    public static func sleep(milliseconds: Int32) {
        var nothing = pollfd(fd: -1, events: 0, revents: 0)
        _ = Glibc.poll(&nothing, 0, milliseconds)
    }

    /// A new epoll set (close-on-exec).
    public static func epollCreate(object: String) throws(PosixError) -> Int32 {
        let fd = epoll_create1(Int32(EPOLL_CLOEXEC))
        if fd < 0 { throw PosixError(call: "epoll_create1", object: object, errno: Glibc.errno, operation: "create an epoll set for") }
        return fd
    }

    /// Adds `descriptor` to the epoll set with `events` and the user word `data`.
    @inlinable
    public static func epollAdd(_ set: Int32, _ descriptor: Int32, events: UInt32, data: UInt64, object: String) throws(PosixError) {
        var event = epoll_event()
        event.events = events
        event.data.u64 = data
        if epoll_ctl(set, EPOLL_CTL_ADD, descriptor, &event) != 0 {
            throw PosixError(call: "epoll_ctl", object: object, errno: Glibc.errno, operation: "watch")
        }
    }

    /// Collects at most `capacity` ready events into `events`: their count (0 at the timeout),
    /// or nil when a signal interrupted the wait (EINTR).
    @inlinable
    public static func epollWait(_ set: Int32, into events: UnsafeMutablePointer<epoll_event>, capacity: Int32,
                                 timeoutMilliseconds: Int32, object: String) throws(PosixError) -> Int? {
        let n = epoll_wait(set, events, capacity, timeoutMilliseconds)
        if n >= 0 { return Int(n) }
        let code = Glibc.errno
        if code == EINTR { return nil }
        throw PosixError(call: "epoll_wait", object: object, errno: code)
    }
}

// MARK: - Processes and signals

extension Posix {
    /// Writes one byte to `descriptor` from a signal handler (a self-pipe's wake-up): only
    /// async-signal-safe work, so no error value is made; a full pipe already means "awake".
    @inlinable
    public static func writeByteFromSignalHandler(_ descriptor: Int32) {
        var byte: UInt8 = 1
        _ = Glibc.write(descriptor, &byte, 1)
    }

    /// Sends `signal` to process `pid` (a negative pid: its process group).
    public static func kill(_ pid: pid_t, _ signal: Int32) throws(PosixError) {
        if Glibc.kill(pid, signal) != 0 {
            throw PosixError(call: "kill", object: pid < 0 ? "process group \(-pid)" : "process \(pid)", errno: Glibc.errno,
                             operation: "signal")
        }
    }

    /// Waits for child `pid` to end and reaps it: its wait status. EINTR is retried.
    public static func waitForExit(_ pid: pid_t) throws(PosixError) -> Int32 {
        var status: Int32 = 0
        while true {
            if Glibc.waitpid(pid, &status, 0) >= 0 { return status }
            let code = Glibc.errno
            if code == EINTR { continue }
            throw PosixError(call: "waitpid", object: "process \(pid)", errno: code, operation: "wait for")
        }
    }

    /// Whether child `pid` has ended, without reaping it (`waitid` with WNOHANG | WNOWAIT).
    public static func hasExited(_ pid: pid_t) -> Bool {
        var info = siginfo_t()
        let rc = waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT)
        return rc == 0 && info.si_signo == SIGCHLD
    }

    /// Whether `signal` is ignored (SIG_IGN) in this process, as under `nohup`.
    public static func isIgnored(_ signal: Int32) -> Bool {
        var previous = sigaction()
        guard sigaction(signal, nil, &previous) == 0 else { return false }
        // SIG_IGN is the handler value 1 (<bits/signum-generic.h>).
        return withUnsafeBytes(of: previous.__sigaction_handler) { $0.load(as: Int.self) } == 1
    }

    /// Installs `handler` for `signal` with an empty mask and `flags` (SA_RESTART…). The handler
    /// runs on whichever thread takes the signal: only async-signal-safe work in it.
    public static func setHandler(for signal: Int32, flags: Int32 = 0,
                                  _ handler: @convention(c) (Int32) -> Void) throws(PosixError) {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = handler
        sigemptyset(&action.sa_mask)
        action.sa_flags = flags
        if sigaction(signal, &action, nil) != 0 {
            throw PosixError(call: "sigaction", object: "signal \(signal)", errno: Glibc.errno, operation: "install a handler for")
        }
    }
}
