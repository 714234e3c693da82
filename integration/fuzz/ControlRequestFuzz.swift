// Fuzz target `control`: control-socket requests as the control server receives them (the byte
// stream split into lines as `ControlLineDecoder` splits it, each line through
// `ControlRequest.parse`), and response lines as `tandemctl` reads them (`ControlResponse.parse`).
//
// Properties checked on every input:
// 1. Parsing never traps, whatever the bytes; a refusal has a message.
// 2. An accepted request means what tandemctl would send for that command: the line
//    `ControlRequest(command)` encodes parses back to the same command.
// 3. A drain's server parses as an endpoint whose own text parses back to it.
// 4. An accepted response re-encodes to a line that parses back to the same response.

@testable import TandemCore

func controlFuzz(_ input: [UInt8]) {
    var lines = input.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
    if input.last == UInt8(ascii: "\n") { lines.removeLast() }
    for raw in lines {
        guard raw.count <= ControlProtocol.maximumRequestBytes else { return }  // the server closes
        let line = raw.last == UInt8(ascii: "\r") ? raw.dropLast() : raw
        request(line)
        response(line)
    }
}

private func request(_ line: ArraySlice<UInt8>) {
    let command: ControlCommand
    do {
        command = try ControlRequest.parse(line)
    } catch {
        precondition(!error.description.isEmpty, "a refused request has no message")
        return
    }
    let sent = ControlProtocol.line(ControlRequest(command))
    guard let reparsed = try? ControlRequest.parse(sent.dropLast()) else {
        fatalError("tandemctl's line for \(command) is refused: \(String(decoding: sent, as: UTF8.self))")
    }
    precondition(reparsed == command, "tandemctl's line for \(command) parses as \(reparsed)")
    switch command {
    case .drain(let server, _), .undrain(let server, _):
        guard let endpoint = try? ServerEndpoint.parse(server) else { fatalError("accepted server \(server) does not parse") }
        precondition((try? ServerEndpoint.parse(endpoint.description)) == endpoint, "\(endpoint) does not parse back")
    default:
        break
    }
}

private func response(_ line: ArraySlice<UInt8>) {
    guard let decoded = try? ControlResponse.parse(line) else { return }
    let encoded = ControlProtocol.line(decoded)
    guard let again = try? ControlResponse.parse(encoded.dropLast()) else {
        fatalError("a decoded response re-encodes to a line that does not parse: \(String(decoding: encoded, as: UTF8.self))")
    }
    precondition(again == decoded, "a response changed through encoding: \(String(decoding: encoded, as: UTF8.self))")
}

/// Seeds: tandemctl's line for every command, and a few refused or response lines.
func controlSeeds() -> [(String, [UInt8])] {
    let commands: [ControlCommand] = [
        .status, .failover(force: false), .failover(force: true), .maintenance(on: true), .maintenance(on: false),
        .drain(server: "10.0.1.11:80", service: "web"), .undrain(server: "[2001:db8::11]:443", service: nil),
        .reload(dryRun: true), .reload(dryRun: false), .showIPVS, .events,
    ]
    var seeds = commands.enumerated().map { ("request-\($0.offset)", ControlProtocol.line(ControlRequest($0.element))) }
    var failover = ControlResponse()
    failover.failover = FailoverResult(from: "a", to: "b", durationMs: 14, message: "b holds the VIPs")
    var failure = ControlResponse.failure(.badRequest("unknown command \"nonsense\""))
    failure.message = "refused"
    var drain = ControlResponse()
    drain.drain = DrainResult(entries: [.init(service: "web", server: "10.0.1.11:80", drained: true, activeConnections: 3,
                                              inactiveConnections: nil)], peerInformed: true)
    var reload = ControlResponse()
    reload.reload = ReloadResult(applied: true, oldSerial: 1, newSerial: 2, oldDigest: "ab", newDigest: "cd",
                                 changes: ["+ VIP 10.0.0.101/24 on eth0"], restartNeeded: ["heartbeat port 539 -> 540"])
    var event = ControlResponse()
    event.event = ControlEvent(time: "2026-11-29T01:02:03.456Z", kind: .role, message: "a: standby -> active")
    for (index, response) in [failover, failure, drain, reload, event].enumerated() {
        seeds.append(("response-\(index)", ControlProtocol.line(response)))
    }
    seeds.append(("pipelined", Array("{\"version\":1,\"command\":\"status\"}\r\n{\"version\":2,\"command\":\"status\"}\n{\"version\":1}\n".utf8)))
    return seeds
}
