import Glibc

/// A detached POSIX thread that runs one closure and ends (what `Thread.detachNewThread` did,
/// without Foundation): for work that blocks, such as waiting on an `exec` check's child.
public enum DetachedThread {
    private final class Work {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    /// Starts `body` on a new detached thread; throws when the system refuses one (`object`
    /// names it in the error).
    public static func start(object: String, _ body: @escaping @Sendable () -> Void) throws(PosixError) {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        let context = Unmanaged.passRetained(Work(body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, &attributes, { arg in
            Unmanaged<Work>.fromOpaque(arg!).takeRetainedValue().body()
            return nil
        }, context)
        if rc != 0 {
            Unmanaged<Work>.fromOpaque(context).release()
            throw PosixError(operation: "start thread", object: object, errno: rc)
        }
    }
}
