import NIOCore
import NIOPosix
import TandemCore
import Testing
@testable import TandemDaemon

/// Socket errors in log lines and status read as the errno, as `ss`, `nc` and every C daemon
/// print them: an operator saw a drain offer to a peer not yet listening logged as "Connection
/// errors: SingleConnectionFailure(target: [IPv4]10.99.0.2/10.99.0.2:21236, error: connection
/// reset (error set): Connection refused) (errno: 111))".
@Suite struct SocketErrorTextTests {
    @Test func aRefusedConnectionReadsAsItsErrno() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        // A loopback port nobody listens on: bound by a listener that is then closed.
        let listener = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(listener.localAddress?.port)
        try await listener.close()
        do {
            // As config replication connects: by host and port (NIO's happy eyeballs).
            let channel = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port).get()
            try await channel.close()
            Issue.record("connected to a closed port")
        } catch {
            #expect(error is NIOConnectionError)
            #expect(SocketErrorText.describe(error) == "Connection refused (errno 111)")
            let path = HeartbeatPath(index: 0, local: try #require(IPAddress("127.0.0.1")), peer: try #require(IPAddress("127.0.0.1")))
            #expect("\(PathError(path: path, port: UInt16(port), underlying: error))"
                    == "127.0.0.1 TCP port \(port) (from 127.0.0.1): Connection refused (errno 111)")
        }
        #expect(SocketErrorText.describe(ChannelError.connectTimeout(.milliseconds(1500)))
                == "no answer to the connection within 1500ms (connect timed out)")
    }
}
