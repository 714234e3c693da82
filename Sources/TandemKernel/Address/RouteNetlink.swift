// Every libnl-route (rtnetlink) call Tandem makes, in one small room.
//
// Why it is shaped so: libnl hands back opaque pointers and negative `NLE_*` codes, and folds
// several kernel errnos into one code. Each socket here installs an error callback that keeps the
// kernel's exact errno (the `nlmsgerr.error` of the reply) in a per-socket box passed through
// libnl's `arg` pointer, so callers can tell EEXIST from EADDRNOTAVAIL without guessing. Nothing
// outside this file touches a libnl pointer; everything leaves as TandemCore values or KernelError.
// Received messages (notifications and dump replies) reach the VALID callback as bytes and are
// decoded by the pure `RouteMessages` (RouteMessages.swift, unit-tested and fuzzed), not by
// libnl's object parsers. A `RouteSocket` is not thread-safe: each has exactly one owner.

import CNetlink
import Glibc
import TandemCore

/// Per-socket state reachable from C callbacks through libnl's `arg` pointer.
final class RouteCallbackBox {
    /// errno of the last NLMSG_ERROR reply (positive), reset before every request.
    var lastErrno: Int32 = 0
    /// Messages decoded by the VALID callback (of an event socket), in arrival order.
    var notifications: [RouteNotification] = []
    /// While a dump runs: the bytes of every message received, decoded once the dump is complete.
    var dumpMessages: [[UInt8]]?
}

private func routeErrorCallback(_: UnsafeMutablePointer<sockaddr_nl>?, _ err: UnsafeMutablePointer<nlmsgerr>?,
                                _ arg: UnsafeMutableRawPointer?) -> Int32 {
    if let arg, let err {
        Unmanaged<RouteCallbackBox>.fromOpaque(arg).takeUnretainedValue().lastErrno = -err.pointee.error
    }
    return Int32(NL_STOP.rawValue)
}

/// Hands the bytes of each received message (libnl has checked that `nlmsg_len` fits what was
/// received) to the pure decoder, `RouteMessages`.
private func routeValidCallback(_ msg: OpaquePointer?, _ arg: UnsafeMutableRawPointer?) -> Int32 {
    guard let msg, let arg, let header = nlmsg_hdr(msg) else { return Int32(NL_OK.rawValue) }
    let box = Unmanaged<RouteCallbackBox>.fromOpaque(arg).takeUnretainedValue()
    let bytes = Array(UnsafeRawBufferPointer(start: header, count: Int(header.pointee.nlmsg_len)))
    if box.dumpMessages != nil {
        box.dumpMessages!.append(bytes)
    } else if let notification = RouteMessages.notification(message: bytes[...]) {
        box.notifications.append(notification)
    }
    return Int32(NL_OK.rawValue)
}

/// What a drain of an event socket found.
enum RouteReceiveResult {
    /// The socket is drained; these notifications arrived.
    case notifications([RouteNotification])
    /// The kernel dropped notifications (ENOBUFS): the ones decoded before are returned, the rest is lost.
    case overrun([RouteNotification])
}

/// One NETLINK_ROUTE socket wrapped by libnl.
final class RouteSocket {
    private let socket: OpaquePointer
    private let box = RouteCallbackBox()
    private let purpose: String

    /// Opens and connects a socket. `purpose` names it in errors ("address commands", "link monitor").
    init(purpose: String) throws(KernelError) {
        self.purpose = purpose
        guard let s = nl_socket_alloc() else {
            throw KernelError(operation: "allocate netlink socket", object: purpose, errno: ENOMEM)
        }
        socket = s
        let arg = Unmanaged.passUnretained(box).toOpaque()
        _ = nl_socket_modify_err_cb(s, NL_CB_CUSTOM, routeErrorCallback, arg)
        let rc = nl_connect(s, NETLINK_ROUTE)
        if rc < 0 {
            nl_socket_free(s)
            throw KernelError(operation: "connect rtnetlink socket", object: purpose, libnlCode: -rc,
                              hint: "Tandem needs CAP_NET_ADMIN")
        }
    }

    deinit { nl_socket_free(socket) }

    /// The socket's netlink port id: the `nlmsg_pid` of notifications for changes it requests.
    var localPort: UInt32 { nl_socket_get_local_port(socket) }

    /// The file descriptor, for poll().
    var fileDescriptor: Int32 { nl_socket_get_fd(socket) }

    private func failure(_ operation: String, _ object: String, _ rc: Int32, hint: String? = nil) -> KernelError {
        let e = box.lastErrno
        return KernelError(operation: operation, object: object, errno: e != 0 ? e : nil,
                           libnlCode: e != 0 ? nil : -rc, hint: hint)
    }

    private func buildAddress(_ prefix: IPPrefix, interfaceIndex: Int32, label: String?, flags: UInt32) throws(KernelError) -> OpaquePointer {
        guard let addr = rtnl_addr_alloc() else {
            throw KernelError(operation: "allocate address", object: prefix.description, errno: ENOMEM)
        }
        let family: Int32 = prefix.family == .ipv4 ? AF_INET : AF_INET6
        let bytes = prefix.address.bytes
        guard let local = bytes.withUnsafeBytes({ nl_addr_build(family, $0.baseAddress, $0.count) }) else {
            rtnl_addr_put(addr)
            throw KernelError(operation: "build address", object: prefix.description, errno: ENOMEM)
        }
        nl_addr_set_prefixlen(local, Int32(prefix.length))
        rtnl_addr_set_ifindex(addr, interfaceIndex)
        let rc = rtnl_addr_set_local(addr, local)
        nl_addr_put(local)
        if rc < 0 {
            rtnl_addr_put(addr)
            throw KernelError(operation: "build address", object: prefix.description, libnlCode: -rc)
        }
        if let label {
            _ = rtnl_addr_set_label(addr, label)
        }
        if flags != 0 { rtnl_addr_set_flags(addr, flags) }
        return addr
    }

    /// Sends RTM_NEWADDR (NLM_F_CREATE, never REPLACE) and waits for the ACK. Returns the kernel's
    /// errno on a refusal (EEXIST for an address already there), 0 on success; other failures throw.
    func addAddress(_ prefix: IPPrefix, interfaceIndex: Int32, label: String?, flags: UInt32, object: String) throws(KernelError) -> Int32 {
        let addr = try buildAddress(prefix, interfaceIndex: interfaceIndex, label: label, flags: flags)
        defer { rtnl_addr_put(addr) }
        box.lastErrno = 0
        let rc = rtnl_addr_add(socket, addr, 0)
        if rc >= 0 { return 0 }
        if box.lastErrno != 0 { return box.lastErrno }
        throw failure("add address", object, rc)
    }

    /// Sends RTM_DELADDR and waits for the ACK. Returns the kernel's errno on a refusal
    /// (EADDRNOTAVAIL for an address not there), 0 on success; other failures throw.
    func deleteAddress(_ prefix: IPPrefix, interfaceIndex: Int32, object: String) throws(KernelError) -> Int32 {
        let addr = try buildAddress(prefix, interfaceIndex: interfaceIndex, label: nil, flags: 0)
        defer { rtnl_addr_put(addr) }
        box.lastErrno = 0
        let rc = rtnl_addr_delete(socket, addr, 0)
        if rc >= 0 { return 0 }
        if box.lastErrno != 0 { return box.lastErrno }
        throw failure("delete address", object, rc)
    }

    /// Dumps every address of every interface (RTM_GETADDR). Interface names are filled in from a link dump.
    func dumpAddresses() throws(KernelError) -> [InterfaceAddress] {
        let names = Dictionary(try dumpLinks().map { ($0.index, $0.name) }, uniquingKeysWith: { a, _ in a })
        let socket = self.socket
        // What libnl's address cache asks (`nl_rtgen_request`): an rtgenmsg for AF_UNSPEC.
        let replies = try dump("dump addresses") {
            var request = rtgenmsg(rtgen_family: UInt8(AF_UNSPEC))
            return nl_send_simple(socket, Int32(RTM_GETADDR), NLM_F_DUMP, &request, MemoryLayout<rtgenmsg>.size)
        }
        return replies.compactMap { notification in
            guard case .addressAdded(var a, _) = notification else { return nil }
            a.interface = names[a.interfaceIndex] ?? ""
            return a
        }
    }

    /// Dumps every link (RTM_GETLINK), asking as libnl's link cache asks: an `ifinfomsg` for
    /// AF_UNSPEC and IFLA_EXT_MASK = RTEXT_FILTER_VF.
    func dumpLinks() throws(KernelError) -> [LinkState] {
        let socket = self.socket
        let replies = try dump("dump links") {
            guard let msg = nlmsg_alloc_simple(Int32(RTM_GETLINK), NLM_F_DUMP) else { return -Int32(NLE_NOMEM) }
            defer { nlmsg_free(msg) }
            var header = ifinfomsg()
            header.ifi_family = UInt8(AF_UNSPEC)
            var rc = nlmsg_append(msg, &header, MemoryLayout<ifinfomsg>.size, Int32(NLMSG_ALIGNTO))
            if rc < 0 { return rc }
            var mask = UInt32(RTEXT_FILTER_VF)
            rc = nla_put(msg, Int32(IFLA_EXT_MASK), Int32(MemoryLayout<UInt32>.size), &mask)
            if rc < 0 { return rc }
            return nl_send_auto(socket, msg)
        }
        return replies.compactMap { notification in
            guard case .linkChanged(let link) = notification else { return nil }
            return link
        }
    }

    /// Dumps the routes of `table` (RTM_GETROUTE for AF_UNSPEC: every family; the kernel lists
    /// every table and the decoder keeps this one), decoded by `ClusterRouteMessages`.
    func dumpRoutes(table: UInt32) throws(KernelError) -> [ClusterRoute] {
        let socket = self.socket
        let replies = try dumpMessages("dump routes of table \(table)") {
            var request = rtgenmsg(rtgen_family: UInt8(AF_UNSPEC))
            return nl_send_simple(socket, Int32(ClusterRouteMessages.getRoute), NLM_F_DUMP, &request, MemoryLayout<rtgenmsg>.size)
        }
        return replies.compactMap { ClusterRouteMessages.route(message: $0[...], table: table) }
    }

    /// Sends one request of `type` whose payload (family header and attributes) is `payload`,
    /// with NLM_F_REQUEST, NLM_F_ACK and `flags`, and waits for the ACK. Returns the kernel's
    /// errno on a refusal, 0 on success; failures before the kernel answers throw.
    func send(type: UInt16, flags: Int32, payload: [UInt8], operation: String, object: String) throws(KernelError) -> Int32 {
        guard let msg = nlmsg_alloc_simple(Int32(type), flags) else {
            throw KernelError(operation: operation, object: object, errno: ENOMEM)
        }
        defer { nlmsg_free(msg) }
        var rc = payload.withUnsafeBytes { raw in
            nlmsg_append(msg, UnsafeMutableRawPointer(mutating: raw.baseAddress), raw.count, Int32(NLMSG_ALIGNTO))
        }
        if rc < 0 { throw KernelError(operation: operation, object: object, libnlCode: -rc) }
        box.lastErrno = 0
        // nl_send_auto adds NLM_F_REQUEST and NLM_F_ACK (the socket keeps auto-ACK on).
        rc = nl_send_auto(socket, msg)
        if rc < 0 { throw failure(operation, object, rc) }
        rc = nl_wait_for_ack(socket)
        if rc >= 0 { return 0 }
        if box.lastErrno != 0 { return box.lastErrno }
        throw failure(operation, object, rc)
    }

    /// `dumpMessages` decoded as link and address notifications.
    private func dump(_ operation: String, request: () -> Int32) throws(KernelError) -> [RouteNotification] {
        try dumpMessages(operation, request: request).compactMap { RouteMessages.notification(message: $0[...]) }
    }

    /// Sends a dump request (`request` returns libnl's code) and collects the bytes of every
    /// message of the reply up to NLMSG_DONE through the VALID callback. A dump the kernel marks
    /// interrupted (NLM_F_DUMP_INTR: the table changed during it) is asked again, as libnl's cache
    /// refill does.
    private func dumpMessages(_ operation: String, request: () -> Int32) throws(KernelError) -> [[UInt8]] {
        defer { box.dumpMessages = nil }
        for _ in 0..<RouteSocket.dumpAttempts {
            box.lastErrno = 0
            box.dumpMessages = []
            var rc = request()
            if rc < 0 { throw failure(operation, purpose, rc) }
            guard let shared = nl_socket_get_cb(socket) else {
                throw KernelError(operation: operation, object: purpose, errno: ENOMEM)
            }
            let callbacks = nl_cb_clone(shared)
            nl_cb_put(shared)
            guard let callbacks else { throw KernelError(operation: operation, object: purpose, errno: ENOMEM) }
            _ = nl_cb_set(callbacks, NL_CB_VALID, NL_CB_CUSTOM, routeValidCallback, Unmanaged.passUnretained(box).toOpaque())
            rc = nl_recvmsgs(socket, callbacks)
            nl_cb_put(callbacks)
            let replies = box.dumpMessages ?? []
            box.dumpMessages = []
            if rc == -NLE_DUMP_INTR { continue }
            if rc < 0 { throw failure(operation, purpose, rc) }
            return replies
        }
        throw KernelError(operation: operation, object: purpose, errno: EAGAIN,
                          hint: "the kernel interrupted \(RouteSocket.dumpAttempts) dumps in a row (the table kept changing)")
    }

    /// Interrupted dumps asked again before giving up (libnl's cache refill never gives up).
    static let dumpAttempts = 100

    // MARK: - Event sockets

    /// Prepares this socket to receive notifications: sequence checks off (notifications carry
    /// sequence 0), one membership per group, non-blocking, optional receive buffer size.
    func subscribe(groups: [UInt32], receiveBufferBytes: Int32?) throws(KernelError) {
        nl_socket_disable_seq_check(socket)
        let arg = Unmanaged.passUnretained(box).toOpaque()
        _ = nl_socket_modify_cb(socket, NL_CB_VALID, NL_CB_CUSTOM, routeValidCallback, arg)
        for group in groups {
            let rc = nl_socket_add_membership(socket, Int32(group))
            if rc < 0 { throw failure("join rtnetlink group \(group)", purpose, rc) }
        }
        if let bytes = receiveBufferBytes {
            let rc = nl_socket_set_buffer_size(socket, bytes, 0)
            if rc < 0 { throw failure("set receive buffer", purpose, rc) }
        }
        let rc = nl_socket_set_nonblocking(socket)
        if rc < 0 { throw failure("make socket non-blocking", purpose, rc) }
    }

    /// Reads until the socket is drained, decoding every notification.
    func receiveAvailable() throws(KernelError) -> RouteReceiveResult {
        box.notifications = []
        for _ in 0..<100_000 {
            box.lastErrno = 0
            errno = 0
            let rc = nl_recvmsgs_default(socket)
            if rc >= 0 { continue }
            let saved = errno
            let got = box.notifications
            box.notifications = []
            if rc == -NLE_AGAIN { return .notifications(got) }
            if rc == -NLE_NOMEM || saved == ENOBUFS { return .overrun(got) }
            throw failure("receive notifications", purpose, rc)
        }
        let got = box.notifications
        box.notifications = []
        return .notifications(got)
    }
}

/// The interface index of `name`, or a KernelError naming the interface.
func lookUpInterfaceIndex(of name: String, for object: String) throws(KernelError) -> Int32 {
    let index = if_nametoindex(name)
    if index == 0 {
        throw KernelError(operation: "find interface", object: name, errno: errno,
                          hint: "check that interface \(name) of \(object) exists in this network namespace")
    }
    return Int32(index)
}
