import Glibc
import NIOCore

/// A socket error as an operator reads it: the errno's text and number ("Address already in use
/// (errno 98)"), not NIO's rendering with the system call's Swift signature in it.
enum SocketErrorText {
    static func describe(_ error: any Error) -> String {
        if let io = error as? IOError { return "\(String(cString: strerror(io.errnoCode))) (errno \(io.errnoCode))" }
        return "\(error)"
    }
}
