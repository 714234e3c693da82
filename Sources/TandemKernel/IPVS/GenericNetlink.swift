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
    /// Reused for every datagram; `receiveLength` bytes.
    private var receiveBuffer = [UInt8](repeating: 0, count: GenericNetlinkSocket.receiveLength)

    /// The length every receive on the socket offers the kernel: the page size, at most 8 KiB
    /// (4 KiB on x86-64). `netlink_dump` (net/netlink/af_netlink.c) gives each dump datagram a
    /// buffer as long as the longest receive the socket has offered (capped near 32 KiB) and never
    /// shorter than NLMSG_GOODSIZE (this length less the skb overhead), then fills at most that
    /// much; so a dump datagram never exceeds this length. Offering 64 KiB (as libnl's 16 KiB
    /// does too) made each of a large table's 10,000 real-server dumps allocate two 32 KiB buffers,
    /// zeroed under `init_on_alloc`, for about a kilobyte of answer: 15 % of a dump's time in a VM.
    /// ACKs (with NETLINK_CAP_ACK) and IPVS's non-dump replies are far shorter.
    static let receiveLength = min(max(Int(sysconf(Int32(_SC_PAGESIZE))), 4096), 8192)

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
        // libnl's own receives (the family lookup below) offer `receiveLength` too, peeking
        // first so a longer reply is still read whole.
        _ = nl_socket_set_msg_buf_size(sk, GenericNetlinkSocket.receiveLength)
        nl_socket_enable_msg_peek(sk)
        // Generous buffers: a batch's ACKs queue up while the kernel works through it, and
        // dumps of large tables arrive in many datagrams.
        _ = nl_socket_set_buffer_size(sk, 4 << 20, 4 << 20)
        let fd = nl_socket_get_fd(sk)
        // Best effort: the FORCE options need CAP_NET_ADMIN; without it libnl's sizes stand.
        let size: Int32 = 4 << 20
        try? Posix.setOption(fd, level: SOL_SOCKET, name: SO_RCVBUFFORCE, to: size, object: "generic netlink socket")
        try? Posix.setOption(fd, level: SOL_SOCKET, name: SO_SNDBUFFORCE, to: size, object: "generic netlink socket")
        // NETLINK_CAP_ACK (SOL_NETLINK 270, option 10): error ACKs carry only the failed
        // request's header, not its whole payload, so more of them fit the receive buffer.
        try? Posix.setOption(fd, level: 270, name: 10, to: Int32(1), object: "generic netlink socket")

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
    ///
    /// Reads the socket directly with one recvfrom into a reused buffer, polling only when
    /// nothing is queued yet: the kernel answers IPVS requests while handling the sendmsg, so
    /// the answer is usually already waiting. (`nl_recv` would poll, peek, allocate and read
    /// again for every datagram; a dump of 10,000 services reads tens of thousands of them.)
    /// Datagrams not sent by the kernel (port id 0) are dropped.
    func receive(timeoutMilliseconds: Int32, operation: String) throws -> [UInt8] {
        let fd = nl_socket_get_fd(socket)
        while true {
            var address = sockaddr_nl()
            let received: Int?
            do {
                received = try Posix.receive(fd, into: &receiveBuffer, flags: Int32(MSG_DONTWAIT | MSG_TRUNC), source: &address, object: "")
            } catch {
                throw KernelError(error, operation: operation, object: "",
                                  hint: error.errno == ENOBUFS
                                      ? "replies were lost (receive buffer overrun); retry with smaller batches"
                                      : "receiving from the kernel failed")
            }
            if let count = received {
                if count > receiveBuffer.count {
                    throw KernelError(operation: operation, object: "", errno: EMSGSIZE,
                                      hint: "a kernel reply of \(count) bytes did not fit the \(receiveBuffer.count)-byte buffer")
                }
                if count == 0 {
                    throw KernelError(operation: operation, object: "", errno: EIO, hint: "receiving from the kernel failed")
                }
                if address.nl_pid != 0 { continue }
                return Array(receiveBuffer[0..<count])
            }
            // Nothing queued yet: wait for the answer (a signal just waits again).
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            var ready: Int?
            do {
                repeat {
                    ready = try Posix.poll(&entry, timeoutMilliseconds: timeoutMilliseconds, object: "")
                } while ready == nil
            } catch {
                throw KernelError(error, operation: operation, object: "",
                                  hint: "the kernel did not answer within \(timeoutMilliseconds) ms")
            }
            if ready == 0 {
                throw KernelError(operation: operation, object: "", errno: ETIMEDOUT,
                                  hint: "the kernel did not answer within \(timeoutMilliseconds) ms")
            }
        }
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
