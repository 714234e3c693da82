// Every libnl-route (rtnetlink) call Tandem makes, in one small room.
//
// Why it is shaped so: libnl hands back opaque pointers and negative `NLE_*` codes, and folds
// several kernel errnos into one code. Each socket here installs an error callback that keeps the
// kernel's exact errno (the `nlmsgerr.error` of the reply) in a per-socket box passed through
// libnl's `arg` pointer, so callers can tell EEXIST from EADDRNOTAVAIL without guessing. Nothing
// outside this file touches a libnl pointer; everything leaves as TandemCore values or KernelError.
// A `RouteSocket` is not thread-safe: each has exactly one owner.

import CNetlink
import Glibc
import TandemCore

/// Per-socket state reachable from C callbacks through libnl's `arg` pointer.
final class RouteCallbackBox {
    /// errno of the last NLMSG_ERROR reply (positive), reset before every request.
    var lastErrno: Int32 = 0
    /// Notifications decoded by the VALID callback of an event socket, in arrival order.
    var notifications: [RouteNotification] = []
    /// `nlmsg_pid` of the message being parsed.
    var currentSenderPort: UInt32 = 0
}

private func routeErrorCallback(_: UnsafeMutablePointer<sockaddr_nl>?, _ err: UnsafeMutablePointer<nlmsgerr>?,
                                _ arg: UnsafeMutableRawPointer?) -> Int32 {
    if let arg, let err {
        Unmanaged<RouteCallbackBox>.fromOpaque(arg).takeUnretainedValue().lastErrno = -err.pointee.error
    }
    return Int32(NL_STOP.rawValue)
}

private func routeValidCallback(_ msg: OpaquePointer?, _ arg: UnsafeMutableRawPointer?) -> Int32 {
    guard let msg, let arg, let header = nlmsg_hdr(msg) else { return Int32(NL_OK.rawValue) }
    let box = Unmanaged<RouteCallbackBox>.fromOpaque(arg).takeUnretainedValue()
    box.currentSenderPort = header.pointee.nlmsg_pid
    _ = nl_msg_parse(msg, routeParseCallback, arg)
    return Int32(NL_OK.rawValue)
}

private func routeParseCallback(_ object: OpaquePointer?, _ arg: UnsafeMutableRawPointer?) {
    guard let object, let arg else { return }
    let box = Unmanaged<RouteCallbackBox>.fromOpaque(arg).takeUnretainedValue()
    let type = Int32(nl_object_get_msgtype(object))
    switch type {
    case Int32(RTM_NEWLINK): box.notifications.append(.linkChanged(RouteSocket.linkState(object)))
    case Int32(RTM_DELLINK): box.notifications.append(.linkRemoved(RouteSocket.linkState(object)))
    case Int32(RTM_NEWADDR):
        if let a = RouteSocket.interfaceAddress(object) {
            box.notifications.append(.addressAdded(a, senderPort: box.currentSenderPort))
        }
    case Int32(RTM_DELADDR):
        if let a = RouteSocket.interfaceAddress(object) {
            box.notifications.append(.addressRemoved(a, senderPort: box.currentSenderPort))
        }
    default: break
    }
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
        var cache: OpaquePointer?
        box.lastErrno = 0
        let rc = rtnl_addr_alloc_cache(socket, &cache)
        guard rc >= 0, let cache else { throw failure("dump addresses", purpose, rc) }
        defer { nl_cache_free(cache) }
        var out: [InterfaceAddress] = []
        var object = nl_cache_get_first(cache)
        while let o = object {
            if var a = RouteSocket.interfaceAddress(o) {
                a.interface = names[a.interfaceIndex] ?? ""
                out.append(a)
            }
            object = nl_cache_get_next(o)
        }
        return out
    }

    /// Dumps every link (RTM_GETLINK).
    func dumpLinks() throws(KernelError) -> [LinkState] {
        var cache: OpaquePointer?
        box.lastErrno = 0
        let rc = rtnl_link_alloc_cache(socket, AF_UNSPEC, &cache)
        guard rc >= 0, let cache else { throw failure("dump links", purpose, rc) }
        defer { nl_cache_free(cache) }
        var out: [LinkState] = []
        var object = nl_cache_get_first(cache)
        while let o = object {
            out.append(RouteSocket.linkState(o))
            object = nl_cache_get_next(o)
        }
        return out
    }

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

    // MARK: - Object decoding

    static func interfaceAddress(_ object: OpaquePointer) -> InterfaceAddress? {
        guard let local = rtnl_addr_get_local(object) else { return nil }
        let familyRaw = rtnl_addr_get_family(object)
        let family: AddressFamily
        switch familyRaw {
        case AF_INET: family = .ipv4
        case AF_INET6: family = .ipv6
        default: return nil
        }
        let length = Int(nl_addr_get_len(local))
        guard let raw = nl_addr_get_binary_addr(local) else { return nil }
        let bytes = UnsafeRawBufferPointer(start: raw, count: length)
        guard let address = IPAddress(bytes: bytes, family: family) else { return nil }
        let prefix = IPPrefix(address: address, length: Int(rtnl_addr_get_prefixlen(object)))
        var label: String?
        if family == .ipv4, let l = rtnl_addr_get_label(object) { label = String(cString: l) }
        return InterfaceAddress(interfaceIndex: rtnl_addr_get_ifindex(object), interface: "",
                                prefix: prefix, flags: UInt32(rtnl_addr_get_flags(object)), label: label)
    }

    static func linkState(_ object: OpaquePointer) -> LinkState {
        let name = rtnl_link_get_name(object).map { String(cString: $0) } ?? ""
        return LinkState(index: rtnl_link_get_ifindex(object), name: name,
                         flags: UInt32(truncatingIfNeeded: rtnl_link_get_flags(object)),
                         operState: rtnl_link_get_operstate(object))
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
