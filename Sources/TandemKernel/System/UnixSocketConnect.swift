// CNetlink too: in a whole-module (release) build, clang gives <sys/socket.h>'s declarations to the
// module that included it first, libnl's CNetlink, so without it SOCK_STREAM and SOCK_CLOEXEC are
// "not in scope" there (a debug build compiles file by file and finds them through Glibc).
import CNetlink
import Glibc

/// Connecting to a Unix stream socket by path: the daemon's "is another tandemd serving here?"
/// probe and tandemctl's client share it.
public enum UnixSocketConnect {
    /// A connected descriptor, or the errno of the failed `socket`/`connect` (ENAMETOOLONG for a
    /// path that does not fit `sun_path`).
    public static func connect(path: String) -> Result<Int32, Errno> {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return .failure(Errno(ENAMETOOLONG)) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(Errno(errno)) }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let code = errno
            close(fd)
            return .failure(Errno(code))
        }
        return .success(fd)
    }

    /// An errno value as an `Error`.
    public struct Errno: Error, Sendable, Hashable {
        public var code: Int32
        public init(_ code: Int32) { self.code = code }
    }
}
