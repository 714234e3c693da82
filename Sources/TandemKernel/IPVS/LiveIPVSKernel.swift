import Glibc
import TandemCore

/// The kernel's IPVS table through the generic-netlink family "IPVS".
///
/// Changes go out in batches: up to `batchLimit` request messages, each with its own sequence
/// number, in one sendmsg. The kernel handles them in order while handling the sendmsg and
/// answers every failed one with NLMSG_ERROR carrying its errno and sequence number, so a
/// rejected change is reported by name while the others still apply. Only the batch's last
/// message asks for an acknowledgement of success (NLM_F_ACK): its answer, whatever it is,
/// comes after every other answer of the batch, so when it arrives each change without an
/// error answer is known to have succeeded. (An ACK for every message would cost the kernel an
/// extra message and us a read per change: 50,000 reads for 10,000 services with 4 real
/// servers each.) Batches stay small enough that even all-failed answers fit the socket's
/// receive buffer.
///
/// Not thread-safe: one owner (an actor, or one command) at a time.
public final class LiveIPVSKernel: IPVSKernel {
    /// Most request messages per sendmsg.
    public static let batchLimit = 128
    /// Most bytes per sendmsg.
    static let batchBytes = 64 * 1024
    /// How long to wait for the kernel's next datagram.
    static let replyTimeoutMilliseconds: Int32 = 10_000

    private let socket: GenericNetlinkSocket
    private var lastSequence: UInt32 = 0

    /// Change messages sent since this client was opened (what "kernel writes" counts).
    public private(set) var changesSent = 0
    /// sendmsg calls made for changes since this client was opened.
    public private(set) var batchesSent = 0

    /// Opens a socket and resolves the IPVS family. Throws `IPVSUnavailableError` when this
    /// kernel has no IPVS (and it could not be loaded), `KernelError` for other failures.
    public init() throws {
        socket = try GenericNetlinkSocket(family: "IPVS")
    }

    private func nextSequence() -> UInt32 {
        lastSequence &+= 1
        if lastSequence == 0 { lastSequence = 1 }
        return lastSequence
    }

    // MARK: - Changes

    public func apply(_ changes: [IPVSChange]) throws -> [IPVSChangeResult] {
        var errors = [KernelError?](repeating: nil, count: changes.count)
        let family = socket.familyID
        var index = 0
        while index < changes.count {
            var batch: [UInt8] = []
            var pending: [UInt32: Int] = [:]
            var last: (sequence: UInt32, start: Int)?
            while index < changes.count && pending.count < LiveIPVSKernel.batchLimit {
                let seq = nextSequence()
                let message = IPVSWire.message(for: changes[index], family: family, sequence: seq, acknowledge: false)
                if !batch.isEmpty && batch.count + message.count > LiveIPVSKernel.batchBytes { break }
                last = (seq, batch.count)
                batch += message
                pending[seq] = index
                index += 1
            }
            guard let last else { break }
            // The batch's last message asks for an ACK: its answer closes the batch.
            batch.replaceSubrange(last.start..., with: IPVSWire.message(for: changes[pending[last.sequence]!], family: family,
                                                                       sequence: last.sequence, acknowledge: true))
            do {
                try socket.send(batch, operation: "send IPVS changes")
                batchesSent += 1
                changesSent += pending.count
                let sent = pending
                try collectAnswers(Set(sent.keys), until: last.sequence) { seq, errno in
                    pending[seq] = nil
                    if let i = sent[seq], errno != 0 { errors[i] = .ipvs(changes[i], errno: errno) }
                }
            } catch let failure as KernelError {
                // The batch's fate is unknown: report each unanswered change, and do not send more.
                for (_, i) in pending {
                    let (operation, object) = KernelError.ipvsNames(changes[i])
                    errors[i] = KernelError(operation: operation, object: object, errno: failure.errno,
                                            libnlCode: failure.libnlCode, hint: "no answer from the kernel: \(failure)")
                }
                for i in index..<changes.count {
                    let (operation, object) = KernelError.ipvsNames(changes[i])
                    errors[i] = KernelError(operation: operation, object: object, errno: ECANCELED,
                                            hint: "not sent because an earlier batch failed: \(failure)")
                }
                break
            }
        }
        return zip(changes, errors).map { IPVSChangeResult(change: $0, error: $1) }
    }

    /// Reads datagrams until the request numbered `closing` (the last one sent, the only one
    /// asking for an ACK) is answered, calling `answered(seq, errno)` for every NLMSG_ERROR
    /// answer to a number in `sequences` (errno 0 is the closing request's success ACK).
    private func collectAnswers(_ sequences: Set<UInt32>, until closing: UInt32, answered: (UInt32, Int32) -> Void) throws {
        var waiting = sequences
        var closed = false
        while !closed {
            let datagram = try socket.receive(timeoutMilliseconds: LiveIPVSKernel.replyTimeoutMilliseconds,
                                              operation: "read IPVS acknowledgements")
            for message in try NetlinkMessage.split(datagram) {
                guard message.type == Netlink.error, let code = message.errorCode,
                      waiting.remove(message.sequence) != nil else { continue }
                answered(message.sequence, code)
                if message.sequence == closing { closed = true }
            }
        }
    }

    /// Sends one request that gets only an ACK, throwing the kernel's errno as `failure(errno)`.
    private func acknowledged(_ build: (UInt32) -> [UInt8], failure: (Int32) -> KernelError) throws {
        let seq = nextSequence()
        try socket.send(build(seq), operation: "send IPVS request")
        var code: Int32 = 0
        try collectAnswers([seq], until: seq) { _, errno in code = errno }
        if code != 0 { throw failure(code) }
    }

    // MARK: - Reads

    /// Sends a GET request and collects its reply messages of the IPVS family: one for a plain
    /// request, all of them up to NLMSG_DONE for a dump.
    private func query(_ operation: String, object: String = "", dump: Bool,
                       _ build: (UInt32) -> [UInt8]) throws -> [NetlinkAttributes] {
        let seq = nextSequence()
        try socket.send(build(seq), operation: operation)
        var replies: [NetlinkAttributes] = []
        while true {
            let datagram = try socket.receive(timeoutMilliseconds: LiveIPVSKernel.replyTimeoutMilliseconds, operation: operation)
            for message in try NetlinkMessage.split(datagram) where message.sequence == seq {
                switch message.type {
                case Netlink.done:
                    if let raw = readHost(Int32.self, message.payload), raw < 0 {
                        throw KernelError(operation: operation, object: object, errno: -raw, hint: LiveIPVSKernel.readHint(-raw))
                    }
                    return replies
                case Netlink.error:
                    let code = message.errorCode ?? EIO
                    if code == 0 { return replies }
                    throw KernelError(operation: operation, object: object, errno: code, hint: LiveIPVSKernel.readHint(code))
                case socket.familyID:
                    replies.append(try message.generic().attributes)
                    if !dump { return replies }
                default:
                    continue
                }
            }
        }
    }

    private static func readHint(_ errno: Int32) -> String? {
        errno == EPERM ? "reading IPVS needs CAP_NET_ADMIN: run as root" : nil
    }

    public func info() throws -> IPVSInfo {
        let family = socket.familyID
        let replies = try query("read IPVS info", dump: false) { seq in
            genericNetlinkMessage(family: family, command: IPVSWire.Command.getInfo, flags: Netlink.request, sequence: seq)
        }
        guard let first = replies.first else { throw NetlinkDecodeError("no reply to GET_INFO") }
        return try IPVSWire.decodeInfo(first)
    }

    /// Most real-server dump requests per sendmsg (`dump`). Each dump's answer is one skb that the
    /// kernel sizes after the largest read this socket made (up to 32 KiB, af_netlink.c
    /// `netlink_dump`), and a dump waits while the receive buffer is full: 64 answers stay well
    /// under the 4 MiB buffer.
    static let destinationDumpBatch = 64

    /// The whole table: one dump of the services, then one dump of each service's real servers
    /// (IPVS answers real servers per service only). Those go out `destinationDumpBatch` per
    /// sendmsg: while the kernel handles the sendmsg it starts each dump in turn and, a service's
    /// few real servers fitting one skb, finishes it at once (`netlink_dump_start` runs the first
    /// `netlink_dump` itself), so the next request finds the socket idle. One that finds an
    /// earlier dump still running (a service with more real servers than one skb holds) is answered
    /// EBUSY and asked again on its own. Issue 16: 10,000 services cost 10,000 sendmsg and as many
    /// waits before; now 157 sendmsg, and the answers are already queued when read.
    public func dump() throws -> IPVSListing {
        let info = try info()
        let family = socket.familyID
        let serviceReplies = try query("list IPVS services", dump: true) { seq in
            genericNetlinkMessage(family: family, command: IPVSWire.Command.getService,
                                  flags: Netlink.request | Netlink.dump, sequence: seq)
        }
        var services: [IPVSListedService] = []
        services.reserveCapacity(serviceReplies.count)
        for reply in serviceReplies { services.append(try IPVSWire.decodeService(reply)) }
        var start = 0
        while start < services.count {
            let end = min(start + LiveIPVSKernel.destinationDumpBatch, services.count)
            var batch: [UInt8] = []
            var slots: [UInt32: Int] = [:]
            for index in start..<end {
                let seq = nextSequence()
                batch += IPVSWire.destinationDumpMessage(services[index].service.key, family: family, sequence: seq)
                slots[seq] = index
            }
            try socket.send(batch, operation: "list real servers")
            var open = Set(slots.keys)
            var busy: [Int] = []
            while !open.isEmpty {
                let datagram = try socket.receive(timeoutMilliseconds: LiveIPVSKernel.replyTimeoutMilliseconds,
                                                  operation: "list real servers")
                for message in try NetlinkMessage.split(datagram) {
                    guard let index = slots[message.sequence], open.contains(message.sequence) else { continue }
                    let key = services[index].service.key
                    switch message.type {
                    case Netlink.done:
                        open.remove(message.sequence)
                        if let raw = readHost(Int32.self, message.payload), raw < 0 {
                            throw KernelError(operation: "list real servers of", object: key.description, errno: -raw,
                                              hint: LiveIPVSKernel.readHint(-raw))
                        }
                    case Netlink.error:
                        open.remove(message.sequence)
                        let code = message.errorCode ?? EIO
                        if code == EBUSY { busy.append(index); continue }
                        if code != 0 {
                            throw KernelError(operation: "list real servers of", object: key.description, errno: code,
                                              hint: LiveIPVSKernel.readHint(code))
                        }
                    case family:
                        // Kept in the kernel's dump order: ipvsadm's listing order depends on it
                        // (IPVSAdmOrder), and the formats sort from it.
                        services[index].destinations.append(
                            try IPVSWire.decodeDestination(try message.generic().attributes, serviceFamily: key.family))
                    default:
                        continue
                    }
                }
            }
            for index in busy {
                let key = services[index].service.key
                services[index].destinations = try query("list real servers of", object: key.description, dump: true) { seq in
                    IPVSWire.destinationDumpMessage(key, family: family, sequence: seq)
                }.map { try IPVSWire.decodeDestination($0, serviceFamily: key.family) }
            }
            start = end
        }
        return IPVSListing(version: info.version, connectionTableSize: info.connectionTableSize, services: services)
    }

    public func timeouts() throws -> IPVSTimeoutSettings {
        let family = socket.familyID
        let replies = try query("read IPVS timeouts", dump: false) { seq in
            genericNetlinkMessage(family: family, command: IPVSWire.Command.getConfig, flags: Netlink.request, sequence: seq)
        }
        guard let first = replies.first else { throw NetlinkDecodeError("no reply to GET_CONFIG") }
        return try IPVSWire.decodeTimeouts(first)
    }

    public func setTimeouts(_ timeouts: IPVSTimeoutSettings) throws {
        let family = socket.familyID
        try acknowledged({ IPVSWire.setTimeoutsMessage(timeouts, family: family, sequence: $0) }) { errno in
            KernelError(operation: "set IPVS timeouts", object: "tcp \(timeouts.tcp) tcpfin \(timeouts.tcpFin) udp \(timeouts.udp)",
                        errno: errno, hint: errno == EPERM ? "changing IPVS needs CAP_NET_ADMIN: run as root" : nil)
        }
    }

    public func syncDaemons() throws -> [IPVSSyncDaemon] {
        let family = socket.familyID
        let replies = try query("list IPVS sync daemons", dump: true) { seq in
            genericNetlinkMessage(family: family, command: IPVSWire.Command.getDaemon,
                                  flags: Netlink.request | Netlink.dump, sequence: seq)
        }
        return try replies.map(IPVSWire.decodeDaemon).sorted { $0.role.rawValue < $1.role.rawValue }
    }

    public func startSyncDaemon(_ daemon: IPVSSyncDaemon) throws {
        let family = socket.familyID
        try acknowledged({ IPVSWire.startDaemonMessage(daemon, family: family, sequence: $0) }) { errno in
            .ipvsDaemon(start: true, role: daemon.role, interface: daemon.interface, errno: errno)
        }
    }

    public func stopSyncDaemon(_ role: IPVSSyncDaemon.Role) throws {
        let family = socket.familyID
        try acknowledged({ IPVSWire.stopDaemonMessage(role, family: family, sequence: $0) }) { errno in
            .ipvsDaemon(start: false, role: role, interface: nil, errno: errno)
        }
    }
}
