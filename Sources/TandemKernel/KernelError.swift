import Glibc

/// A failure reported by the kernel (or by libnl on its behalf), naming what Tandem was doing,
/// on which object, the exact error, and what an operator can do about it.
///
/// `errno` is the kernel's own error number read from the netlink error message (never libnl's
/// collapsed code, which folds ESRCH and ENOENT together); `libnlCode` is set when the failure
/// happened inside libnl before the kernel answered.
public struct KernelError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was being done: "create service", "add address", "resolve genl family".
    public var operation: String
    /// The object it was done to: "tcp 192.0.2.10:80", "10.0.0.5/24 on eth0".
    public var object: String
    /// The kernel's errno (positive), when the kernel answered.
    public var errno: Int32?
    /// libnl's error code (positive, `NLE_*`), when libnl failed on its own.
    public var libnlCode: Int32?
    /// One sentence telling the operator what to try.
    public var hint: String?

    public init(operation: String, object: String, errno: Int32? = nil, libnlCode: Int32? = nil, hint: String? = nil) {
        self.operation = operation
        self.object = object
        self.errno = errno
        self.libnlCode = libnlCode
        self.hint = hint
    }

    /// The errno's symbolic name, e.g. "EEXIST".
    public var errnoName: String? {
        guard let e = errno else { return nil }
        return Posix.errnoName(e)
    }

    public var description: String {
        var text = object.isEmpty ? "\(operation) failed" : "\(operation) \(object) failed"
        if let e = errno {
            text += ": \(String(cString: strerror(e))) (\(errnoName ?? "errno \(e)"))"
        } else if let code = libnlCode {
            text += ": libnl error \(code)"
        }
        if let hint { text += "; \(hint)" }
        return text
    }
}

extension KernelError {
    /// A failed system call (`Posix`) told as what Tandem was doing: `operation` on `object`
    /// (the call's own object when nil), its errno, and `hint` (else the call's known cause).
    public init(_ error: PosixError, operation: String, object: String? = nil, hint: String? = nil) {
        self.init(operation: operation, object: object ?? error.object, errno: error.errno, hint: hint ?? error.suggestion)
    }
}
