import Glibc
import NIOCore
import NIOPosix

/// A socket error as an operator reads it: the errno's text and number ("Address already in use
/// (errno 98)", "Connection refused (errno 111)"), not NIO's rendering with the system call's
/// Swift signature or its connection attempts' structures in it.
enum SocketErrorText {
    static func describe(_ error: any Error) -> String {
        if let io = error as? IOError { return "\(String(cString: strerror(io.errnoCode))) (errno \(io.errnoCode))" }
        // A connect to one address (the peer's heartbeat address) fails as NIO's happy-eyeballs
        // error holding that attempt's IOError.
        if let connection = error as? NIOConnectionError, !connection.connectionErrors.isEmpty {
            var seen: [String] = []
            for attempt in connection.connectionErrors where !seen.contains(describe(attempt.error)) { seen.append(describe(attempt.error)) }
            return seen.joined(separator: "; ")
        }
        if let channel = error as? ChannelError, case .connectTimeout(let limit) = channel {
            return "no answer to the connection within \(limit.nanoseconds / 1_000_000)ms (connect timed out)"
        }
        return "\(error)"
    }
}
