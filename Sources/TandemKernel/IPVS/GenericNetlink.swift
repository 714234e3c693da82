// The only file that calls libnl for the generic-netlink IPVS family.
//
// It is shaped around raw datagrams on purpose: messages are built by the pure-Swift codec
// (NetlinkCodec.swift, IPVSWire.swift) so their bytes can be tested without a kernel, several of
// them go out in one `nl_sendto` (one sendmsg), and replies come back through `nl_recv` as raw
// bytes whose `nlmsgerr.error` is read directly. libnl's own callback machinery would collapse
// ESRCH and ENOENT into NLE_OBJ_NOTFOUND and handle one ACK per call; reading the datagrams
// ourselves keeps the kernel's exact errno and lets ACKs be matched to requests by sequence number.
//
// Every negative libnl return becomes a KernelError naming the operation.

import CNetlink
import Glibc
import TandemCore

/// The message IPVS is missing from this kernel, exactly as operators should read it.
public struct IPVSUnavailableError: Error, Sendable, Hashable, CustomStringConvertible {
    /// libnl's code from `genl_ctrl_resolve` (NLE_OBJ_NOTFOUND = 12 when the family is absent).
    public var libnlCode: Int32

    public init(libnlCode: Int32) { self.libnlCode = libnlCode }

    public var description: String {
        "IPVS is not available in this kernel (the genl family \"IPVS\" was not found): load it with modprobe ip_vs"
    }
}

/// A connected generic-netlink socket for one family. Not thread-safe: one owner at a time.
final class GenericNetlinkSocket {
    private let socket: OpaquePointer
    /// The family id the kernel assigned to the family name.
    let familyID: UInt16

    /// Opens a socket and resolves `family`. Throws `IPVSUnavailableError` when the family is
    /// "IPVS" and the kernel does not know it (module absent and not loadable), `KernelError` otherwise.
    init(family: String) throws {
        guard let sk = nl_socket_alloc() else {
            throw KernelError(operation: "allocate netlink socket", object: "", errno: ENOMEM)
        }
        var rc = genl_connect(sk)
        guard rc >= 0 else {
            nl_socket_free(sk)
            throw KernelError(operation: "connect generic netlink socket", object: "", libnlCode: -rc,
                              hint: "this kernel must support generic netlink")
        }
        // Generous buffers: a batch's ACKs queue up while the kernel works through it, and
        // dumps of large tables arrive in many datagrams.
        _ = nl_socket_set_buffer_size(sk, 4 << 20, 4 << 20)
        let fd = nl_socket_get_fd(sk)
        var size: Int32 = 4 << 20
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, socklen_t(MemoryLayout<Int32>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, socklen_t(MemoryLayout<Int32>.size))
        // NETLINK_CAP_ACK (SOL_NETLINK 270, option 10): error ACKs carry only the failed
        // request's header, not its whole payload, so more of them fit the receive buffer.
        var one: Int32 = 1
        _ = setsockopt(fd, 270, 10, &one, socklen_t(MemoryLayout<Int32>.size))

        rc = genl_ctrl_resolve(sk, family)
        guard rc >= 0 else {
            nl_socket_free(sk)
            if family == "IPVS" && -rc == NLE_OBJ_NOTFOUND { throw IPVSUnavailableError(libnlCode: -rc) }
            throw KernelError(operation: "resolve generic netlink family", object: family, libnlCode: -rc,
                              hint: String(cString: nl_geterror(rc)))
        }
        socket = sk
        familyID = UInt16(truncatingIfNeeded: rc)
    }

    deinit { nl_socket_free(socket) }

    /// Sends `bytes` (one or more complete netlink messages) in one sendmsg.
    func send(_ bytes: [UInt8], operation: String) throws {
        var copy = bytes
        let rc = copy.withUnsafeMutableBytes { nl_sendto(socket, $0.baseAddress, $0.count) }
        guard rc >= 0 else {
            throw KernelError(operation: operation, object: "", errno: GenericNetlinkSocket.errnoOf(libnl: -rc),
                              libnlCode: -rc, hint: "sending to the kernel failed: \(String(cString: nl_geterror(rc)))")
        }
    }

    /// Receives one datagram (it may hold several messages), waiting at most `timeoutMilliseconds`.
    func receive(timeoutMilliseconds: Int32, operation: String) throws -> [UInt8] {
        var pfd = pollfd(fd: nl_socket_get_fd(socket), events: Int16(POLLIN), revents: 0)
        var ready: Int32
        repeat { ready = poll(&pfd, 1, timeoutMilliseconds) } while ready < 0 && errno == EINTR
        guard ready > 0 else {
            throw KernelError(operation: operation, object: "", errno: ready == 0 ? ETIMEDOUT : errno,
                              hint: "the kernel did not answer within \(timeoutMilliseconds) ms")
        }
        var address = sockaddr_nl()
        var buffer: UnsafeMutablePointer<UInt8>?
        let rc = nl_recv(socket, &address, &buffer, nil)
        defer { free(buffer) }
        guard rc > 0, let buffer else {
            let code = rc == 0 ? Int32(NLE_AGAIN) : -rc
            throw KernelError(operation: operation, object: "", errno: GenericNetlinkSocket.errnoOf(libnl: code),
                              libnlCode: code,
                              hint: code == NLE_NOMEM
                                  ? "replies were lost (receive buffer overrun); retry with smaller batches"
                                  : "receiving from the kernel failed: \(String(cString: nl_geterror(-code)))")
        }
        return Array(UnsafeBufferPointer(start: buffer, count: Int(rc)))
    }

    /// The errno behind the libnl codes a send or receive can return, where one is certain.
    private static func errnoOf(libnl code: Int32) -> Int32? {
        switch code {
        case Int32(NLE_PERM): return EPERM
        case Int32(NLE_NOMEM): return ENOBUFS
        case Int32(NLE_AGAIN): return EAGAIN
        case Int32(NLE_INTR): return EINTR
        case Int32(NLE_MSGSIZE): return EMSGSIZE
        default: return nil
        }
    }
}
