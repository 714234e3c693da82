import Glibc

/// Replaces a file so that, whatever moment the process dies at (SIGKILL, power loss), the
/// path holds either the whole old file or the whole new one, never a mix:
/// 1. write the new bytes to `.<name>.tandem-tmp` in the same directory (same file system,
///    created fresh with the old file's mode), `fsync` it;
/// 2. hard-link the old file to `<name>.prev` (replacing an older `.prev`);
/// 3. `rename` the temporary file over the path (atomic within a directory, POSIX);
/// 4. `fsync` the directory, so the rename itself survives a crash.
/// A temporary file left by a killed writer is simply replaced by the next write.
/// This file holds the only system calls of replication's file handling; each failure names
/// the call, the file and the errno.
public enum AtomicFileWriter {
    /// Where the previous version is kept.
    public static func previousPath(of path: String) -> String { path + ".prev" }

    /// The temporary file's path for `path`.
    public static func temporaryPath(of path: String) -> String {
        let (directory, name) = split(path)
        return directory + "/." + name + ".tandem-tmp"
    }

    /// Writes `bytes` over `path` as described above.
    public static func write(_ bytes: [UInt8], to path: String) throws(AtomicWriteError) {
        let (directory, _) = split(path)
        let temporary = temporaryPath(of: path)
        var mode: mode_t = 0o644
        var old = stat()
        let hadOld = stat(path, &old) == 0
        if hadOld { mode = old.st_mode & 0o7777 }

        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw AtomicWriteError(operation: "create", path: temporary, errno: errno) }
        var closed = false
        defer { if !closed { close(fd) } }
        if fchmod(fd, mode) != 0 { throw AtomicWriteError(operation: "chmod", path: temporary, errno: errno) }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
            }
            if n < 0 {
                if errno == EINTR { continue }
                let code = errno
                unlink(temporary)
                throw AtomicWriteError(operation: "write", path: temporary, errno: code)
            }
            offset += n
        }
        if fsync(fd) != 0 {
            let code = errno
            unlink(temporary)
            throw AtomicWriteError(operation: "fsync", path: temporary, errno: code)
        }
        closed = true
        if close(fd) != 0 {
            let code = errno
            unlink(temporary)
            throw AtomicWriteError(operation: "close", path: temporary, errno: code)
        }
        if hadOld {
            let previous = previousPath(of: path)
            unlink(previous)
            // Best effort: the previous copy is for the operator; failing to keep it must not
            // stop the pair from converging.
            _ = link(path, previous)
        }
        if rename(temporary, path) != 0 {
            let code = errno
            unlink(temporary)
            throw AtomicWriteError(operation: "rename", path: "\(temporary) -> \(path)", errno: code)
        }
        let dirfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dirfd >= 0 else { throw AtomicWriteError(operation: "open directory", path: directory, errno: errno) }
        defer { close(dirfd) }
        if fsync(dirfd) != 0 { throw AtomicWriteError(operation: "fsync directory", path: directory, errno: errno) }
    }

    static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }
}

/// A failed step of `AtomicFileWriter.write`.
public struct AtomicWriteError: Error, Sendable, Hashable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var errno: Int32

    public var description: String {
        "cannot \(operation) \(path): \(String(cString: strerror(errno))) (errno \(errno)); check the config directory's permissions and free space"
    }
}
