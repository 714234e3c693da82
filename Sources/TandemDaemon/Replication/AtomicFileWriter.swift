import Glibc
import TandemKernel

/// Replaces a file so that, whatever moment the process dies at (SIGKILL, power loss), the
/// path holds either the whole old file or the whole new one, never a mix:
/// 1. write the new bytes to `.<name>.tandem-tmp` in the same directory (same file system,
///    created fresh with the old file's mode), `fsync` it;
/// 2. hard-link the old file to `<name>.prev` (replacing an older `.prev`);
/// 3. `rename` the temporary file over the path (atomic within a directory, POSIX);
/// 4. `fsync` the directory, so the rename itself survives a crash.
/// A temporary file left by a killed writer is simply replaced by the next write.
/// The system calls go through `Posix`; each failure names the step, the file and the errno.
public enum AtomicFileWriter {
    /// Where the previous version is kept.
    public static func previousPath(of path: String) -> String { path + ".prev" }

    /// The temporary file's path for `path`.
    public static func temporaryPath(of path: String) -> String {
        let (directory, name) = split(path)
        return directory + "/." + name + ".tandem-tmp"
    }

    /// Writes `bytes` over `path` as described above. A failure names the step ("create",
    /// "write", "rename"…), the file and the errno.
    public static func write(_ bytes: [UInt8], to path: String) throws(PosixError) {
        do {
            try replace(path, with: bytes)
        } catch {
            throw error.with(hint: "check the permissions and free space of \(split(path).directory)")
        }
    }

    private static func replace(_ path: String, with bytes: [UInt8]) throws(PosixError) {
        let (directory, _) = split(path)
        let temporary = temporaryPath(of: path)
        var mode: mode_t = 0o644
        let old = try? Posix.status(of: path)
        let hadOld = old != nil
        if let old { mode = old.st_mode & 0o7777 }

        try? Posix.unlinkIfPresent(temporary)
        let fd: Int32
        do {
            fd = try Posix.open(temporary, flags: O_WRONLY | O_CREAT | O_EXCL, mode: mode)
        } catch {
            throw error.with(operation: "create")
        }
        var closed = false
        defer { if !closed { Posix.close(fd) } }
        try Posix.changeMode(fd, to: mode, object: temporary)
        do {
            try Posix.writeAll(fd, bytes, object: temporary)
            try Posix.fsync(fd, object: temporary)
            closed = true
            try Posix.closeReportingErrors(fd, object: temporary)
        } catch {
            try? Posix.unlinkIfPresent(temporary)
            throw error
        }
        if hadOld {
            let previous = previousPath(of: path)
            try? Posix.unlinkIfPresent(previous)
            // Best effort: the previous copy is for the operator; failing to keep it must not
            // stop the pair from converging.
            try? Posix.link(path, as: previous)
        }
        do {
            try Posix.rename(temporary, to: path)
        } catch {
            try? Posix.unlinkIfPresent(temporary)
            throw error
        }
        try syncDirectory(directory)
    }

    /// Puts back the file `write` replaced: `<name>.prev` is renamed over `path` (atomic), after
    /// the current file is linked to `keepingCurrentAs` (best effort, for the operator), and the
    /// directory is fsynced so the rename survives a crash. Throws ENOENT (operation "find") when
    /// there is no `.prev` to put back.
    public static func restorePrevious(of path: String, keepingCurrentAs kept: String) throws(PosixError) {
        let previous = previousPath(of: path)
        guard (try? Posix.status(of: previous)) != nil else {
            throw PosixError(operation: "find", object: previous, errno: ENOENT)
        }
        try? Posix.unlinkIfPresent(kept)
        try? Posix.link(path, as: kept)
        try Posix.rename(previous, to: path)
        try syncDirectory(split(path).directory)
    }

    private static func syncDirectory(_ directory: String) throws(PosixError) {
        let dirfd: Int32
        do {
            dirfd = try Posix.open(directory, flags: O_RDONLY | O_DIRECTORY)
        } catch {
            throw error.with(operation: "open directory")
        }
        defer { Posix.close(dirfd) }
        do {
            try Posix.fsync(dirfd, object: directory)
        } catch {
            throw error.with(operation: "fsync directory")
        }
    }

    static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }
}
