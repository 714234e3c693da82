#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The control protocol between `tandemctl` and `tandemd`: newline-delimited JSON over the Unix
/// socket (`control.socket`, default /run/tandem/tandemd.sock). Defined once here and used by
/// both sides.
///
/// A client writes one request per line and reads one response line per request, except for
/// `events`, which answers with an acknowledgement and then one `event` line per event until the
/// client closes. Every message carries `"version": 1`; a request for another version is refused.
///
/// ```
/// → {"version":1,"command":"status"}
/// ← {"ok":true,"status":{…},"version":1}
/// → {"version":1,"command":"failover","force":false}
/// ← {"failover":{"duration_ms":14,…},"ok":true,"version":1}
/// → {"version":1,"command":"drain","server":"10.0.1.11:80","service":"web"}
/// → {"version":1,"command":"nonsense"}
/// ← {"error":{"code":"bad-request","message":"unknown command \"nonsense\" (known: …)"},"ok":false,"version":1}
/// ```
public enum ControlProtocol {
    /// The protocol version this build speaks.
    public static let version = 1
    /// Longest request line accepted, in bytes; a longer one closes the connection.
    public static let maximumRequestBytes = 64 * 1024

    /// The JSON encoder both sides use: snake_case keys, sorted, one line.
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// The matching decoder.
    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }

    /// One message as a line (JSON, then "\n").
    public static func line<T: Encodable>(_ message: T) -> [UInt8] {
        // Encoding these plain structs cannot fail; a failure would be a programming error.
        var bytes = (try? encoder().encode(message)).map { [UInt8]($0) } ?? Array(#"{"ok":false,"version":1}"#.utf8)
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }
}

/// What an operator asks of the daemon.
public enum ControlCommand: Sendable, Hashable {
    /// Role, peer, paths, VIPs, services, config digests, recent role changes. Anyone may read.
    case status
    /// Make-before-break handover to the peer (run on either node). `force`: also when the peer
    /// cannot take over or the configs differ.
    case failover(force: Bool)
    /// Pin this node to standby (`on`), or release it. `force`: also on an active with nobody to
    /// hand over to (the VIPs are then served by no one).
    case maintenance(on: Bool, force: Bool = false)
    /// Weight 0 for a real server (`ADDR:PORT`), in one service or in every service that has it.
    case drain(server: String, service: String?)
    /// Undo `drain`.
    case undrain(server: String, service: String?)
    /// Re-read the config file; with `dryRun`, only validate and show the difference.
    case reload(dryRun: Bool)
    /// The kernel's IPVS table as the daemon reads it (`ipvsadm -Ln` layout).
    case showIPVS
    /// Stream role, peer, health, kernel and config events until the client closes.
    case events

    /// The command's name on the wire and on the command line.
    public var name: String {
        switch self {
        case .status: return "status"
        case .failover: return "failover"
        case .maintenance: return "maintenance"
        case .drain: return "drain"
        case .undrain: return "undrain"
        case .reload: return "reload"
        case .showIPVS: return "show-ipvs"
        case .events: return "events"
        }
    }

    /// Whether the command changes state (and so needs root or the control group).
    public var changesState: Bool {
        switch self {
        case .status, .showIPVS, .events: return false
        case .reload(let dryRun): return !dryRun
        case .failover, .maintenance, .drain, .undrain: return true
        }
    }

    static let names = ["status", "failover", "maintenance", "drain", "undrain", "reload", "show-ipvs", "events"]
}

/// A request line as sent on the wire.
public struct ControlRequest: Codable, Sendable, Hashable {
    public var version: Int
    public var command: String
    public var force: Bool?
    public var on: Bool?
    public var server: String?
    public var service: String?
    public var dryRun: Bool?

    public init(_ command: ControlCommand) {
        version = ControlProtocol.version
        self.command = command.name
        switch command {
        case .status, .showIPVS, .events: break
        case .failover(let force): self.force = force
        case .maintenance(let on, let force):
            self.on = on
            if force { self.force = true }
        case .drain(let server, let service), .undrain(let server, let service):
            self.server = server
            self.service = service
        case .reload(let dryRun): self.dryRun = dryRun
        }
    }

    /// Decodes and checks one request line (without its newline).
    public static func parse(_ line: some Collection<UInt8>) throws(ControlProtocolError) -> ControlCommand {
        let request: ControlRequest
        do {
            request = try ControlProtocol.decoder().decode(ControlRequest.self, from: Data(line))
        } catch {
            throw .badRequest("not a JSON request object with \"version\" and \"command\": \(ControlProtocolError.summary(error))")
        }
        guard request.version == ControlProtocol.version else {
            throw .unsupportedVersion(request.version)
        }
        switch request.command {
        case "status": return .status
        case "failover": return .failover(force: request.force ?? false)
        case "maintenance":
            guard let on = request.on else { throw .badRequest("maintenance needs \"on\": true or false") }
            return .maintenance(on: on, force: request.force ?? false)
        case "drain", "undrain":
            guard let server = request.server, !server.isEmpty else {
                throw .badRequest("\(request.command) needs \"server\": \"ADDR:PORT\"")
            }
            _ = try ServerEndpoint.parse(server)
            return request.command == "drain" ? .drain(server: server, service: request.service)
                : .undrain(server: server, service: request.service)
        case "reload": return .reload(dryRun: request.dryRun ?? false)
        case "show-ipvs": return .showIPVS
        case "events": return .events
        default:
            throw .badRequest("unknown command \"\(request.command)\" (known: \(ControlCommand.names.joined(separator: ", ")))")
        }
    }
}

/// A real server's address and port as the operator writes it: `10.0.1.11:80`, `[2001:db8::11]:80`.
public struct ServerEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    public var description: String { "\(address.bracketed):\(port)" }

    /// Parses `ADDR:PORT` (IPv6 in brackets).
    public static func parse(_ text: String) throws(ControlProtocolError) -> ServerEndpoint {
        let hostPart: Substring, portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw .badRequest("real server \"\(text)\" is not [IPV6]:PORT")
            }
            hostPart = text[text.index(after: text.startIndex)..<close]
            portPart = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon else {
                throw .badRequest("real server \"\(text)\" is not ADDR:PORT (write IPv6 as [ADDR]:PORT)")
            }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        }
        guard let address = IPAddress(hostPart) else { throw .badRequest("real server \"\(text)\": \"\(hostPart)\" is not an IP address") }
        guard let port = UInt16(portPart), port > 0 else { throw .badRequest("real server \"\(text)\": port \"\(portPart)\" is not 1-65535") }
        return ServerEndpoint(address: address, port: port)
    }
}

/// Why a request was not carried out, as the client shows it.
public enum ControlProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Malformed or incomplete request.
    case badRequest(String)
    case unsupportedVersion(Int)
    /// The caller may not change state.
    case notAuthorized(String)
    /// The command is understood but cannot be carried out now (the reason says why).
    case refused(String)
    /// Carried out but it failed (e.g. a handover that did not complete).
    case failed(String)

    /// Wire code.
    public var code: String {
        switch self {
        case .badRequest: return "bad-request"
        case .unsupportedVersion: return "unsupported-version"
        case .notAuthorized: return "not-authorized"
        case .refused: return "refused"
        case .failed: return "failed"
        }
    }

    public var description: String {
        switch self {
        case .badRequest(let text), .notAuthorized(let text), .refused(let text), .failed(let text): return text
        case .unsupportedVersion(let version):
            return "protocol version \(version) is not supported (this tandemd speaks \(ControlProtocol.version)): use the tandemctl of the same release"
        }
    }

    /// Rebuilds the error from a response's error body.
    public init(code: String, message: String) {
        switch code {
        case "not-authorized": self = .notAuthorized(message)
        case "refused": self = .refused(message)
        case "failed": self = .failed(message)
        default: self = .badRequest(message)
        }
    }

    static func summary(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, _)?: return "missing \"\(key.stringValue)\""
        case .typeMismatch(_, let context)?, .valueNotFound(_, let context)?:
            return "wrong type at \"\(context.codingPath.map(\.stringValue).joined(separator: "."))\""
        case .dataCorrupted?: return "malformed JSON"
        default: return "malformed JSON"
        }
    }
}

/// The error part of a response.
public struct ControlErrorBody: Codable, Sendable, Hashable {
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}

/// One response line. Exactly one payload is set on success, matching the command.
public struct ControlResponse: Codable, Sendable, Hashable {
    public var version = ControlProtocol.version
    public var ok: Bool
    public var error: ControlErrorBody?
    /// A one-line human summary (maintenance, drain, reload, events acknowledgement).
    public var message: String?
    public var status: StatusReport?
    public var failover: FailoverResult?
    public var reload: ReloadResult?
    public var drain: DrainResult?
    /// `show-ipvs`: the table in the `ipvsadm -Ln` layout.
    public var ipvs: String?
    /// `events`: one event per line after the acknowledgement.
    public var event: ControlEvent?

    public init(ok: Bool = true, message: String? = nil) {
        self.ok = ok
        self.message = message
    }

    public static func failure(_ error: ControlProtocolError) -> ControlResponse {
        var response = ControlResponse(ok: false)
        response.error = ControlErrorBody(code: error.code, message: error.description)
        return response
    }

    /// Decodes one response line.
    public static func parse(_ line: some Collection<UInt8>) throws(ControlProtocolError) -> ControlResponse {
        do {
            return try ControlProtocol.decoder().decode(ControlResponse.self, from: Data(line))
        } catch {
            throw .badRequest("tandemd sent a response this tandemctl cannot read (\(ControlProtocolError.summary(error))): use the tandemctl of the same release")
        }
    }
}

/// The outcome of a completed `failover`.
public struct FailoverResult: Codable, Sendable, Hashable {
    /// Which node held the VIPs before and after.
    public var from: String
    public var to: String
    /// From the request to the completed handover, as this node saw it.
    public var durationMs: Int
    public var message: String

    public init(from: String, to: String, durationMs: Int, message: String) {
        self.from = from
        self.to = to
        self.durationMs = durationMs
        self.message = message
    }
}

/// The outcome of `reload`.
public struct ReloadResult: Codable, Sendable, Hashable {
    public var applied: Bool
    public var oldSerial: UInt64
    public var newSerial: UInt64
    public var oldDigest: String
    public var newDigest: String
    /// One line per difference the reload applies (`ConfigChange.description`): "+ VIP
    /// 10.0.0.101/24 on eth0", "~ connection sync daemon: syncid 1 -> 2". Never a setting that
    /// needs a restart: those are in `restartNeeded`.
    public var changes: [String]
    /// Settings of the new config that differ from the ones the daemon started with and that
    /// only a restart applies ("heartbeat port 539 -> 540"); nil or empty when none.
    public var restartNeeded: [String]?
    /// Warnings about the new config, each a sentence: what `tandemctl check-config` and
    /// `tandemd --check` would say on this node ("path: message"), then what of `changes` is in
    /// force but cannot reach the kernel now, and why (`ConfigChange.reloadReport`); nil or
    /// empty when none. Absent in the answers of daemons older than the field.
    public var warnings: [String]?

    public init(applied: Bool, oldSerial: UInt64, newSerial: UInt64, oldDigest: String, newDigest: String, changes: [String],
                restartNeeded: [String]? = nil, warnings: [String]? = nil) {
        self.applied = applied
        self.oldSerial = oldSerial
        self.newSerial = newSerial
        self.oldDigest = oldDigest
        self.newDigest = newDigest
        self.changes = changes
        self.restartNeeded = restartNeeded
        self.warnings = warnings
    }
}

/// The outcome of `drain` / `undrain`: the real servers it names and their connections now.
public struct DrainResult: Codable, Sendable, Hashable {
    public struct Entry: Codable, Sendable, Hashable {
        public var service: String
        public var server: String
        public var drained: Bool
        /// Nil when the kernel table could not be read (IPVS absent or not installed here).
        public var activeConnections: UInt32?
        public var inactiveConnections: UInt32?

        public init(service: String, server: String, drained: Bool, activeConnections: UInt32?, inactiveConnections: UInt32?) {
            self.service = service
            self.server = server
            self.drained = drained
            self.activeConnections = activeConnections
            self.inactiveConnections = inactiveConnections
        }
    }

    public var entries: [Entry]
    /// Whether the peer was told as well.
    public var peerInformed: Bool

    public init(entries: [Entry], peerInformed: Bool) {
        self.entries = entries
        self.peerInformed = peerInformed
    }
}

/// One thing that happened, for `events --follow`.
public struct ControlEvent: Codable, Sendable, Hashable {
    /// What it is about.
    public enum Kind: String, Codable, Sendable, Hashable {
        case role, peer, health, kernel, config, drain, control
    }

    /// UTC wall-clock time, ISO 8601 with milliseconds.
    public var time: String
    public var kind: Kind
    public var message: String

    public init(time: String, kind: Kind, message: String) {
        self.time = time
        self.kind = kind
        self.message = message
    }

    /// "2026-11-29 01:02:03.456 role a: standby -> active: b silent …".
    public var line: String { "\(time) \(kind.rawValue) \(message)" }
}

/// Formats wall-clock times for status and events: "2026-11-29T01:02:03.456Z".
public enum ControlTime {
    /// `nanoseconds` since the Unix epoch (CLOCK_REALTIME) as ISO 8601 UTC with milliseconds.
    public static func iso8601(nanosecondsSinceEpoch nanoseconds: UInt64) -> String {
        let milliseconds = nanoseconds / 1_000_000
        let seconds = Int(milliseconds / 1000)
        let days = seconds.quotientAndRemainder(dividingBy: 86_400)
        let (year, month, day) = civil(fromDays: days.quotient)
        let hour = days.remainder / 3600, minute = days.remainder % 3600 / 60, second = days.remainder % 60
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let millis = Int(milliseconds % 1000)
        let milliText = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(year)-\(two(month))-\(two(day))T\(two(hour)):\(two(minute)):\(two(second)).\(milliText)Z"
    }

    /// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
    static func civil(fromDays days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// "4ms", "1.5s", "12m 4s", "3h 2m", "2d 4h".
    public static func age(milliseconds: UInt64) -> String {
        if milliseconds < 1000 { return "\(milliseconds)ms" }
        let seconds = milliseconds / 1000
        if seconds < 10 { return "\(seconds).\(milliseconds % 1000 / 100)s" }
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m \(seconds % 60)s" }
        if seconds < 86_400 { return "\(seconds / 3600)h \(seconds % 3600 / 60)m" }
        return "\(seconds / 86_400)d \(seconds % 86_400 / 3600)h"
    }
}
