#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a config file's bytes with POSIX calls (no Foundation).
enum ConfigFile {
    enum Failure: Error, Equatable {
        /// `stat` fails: no such file, or a directory on the way cannot be searched.
        case missing
        case directory
        /// Larger than the limit: its size in bytes.
        case tooLarge(Int)
        /// It exists but cannot be opened or read (permissions, I/O error).
        case unreadable
    }

    /// The whole content of `path` (symbolic links followed), refusing files of more than `limit`
    /// bytes before reading them, and stopping at `limit` + 1 bytes for files whose size `stat`
    /// does not tell (pipes, /proc).
    static func read(_ path: String, limit: Int) -> Swift.Result<[UInt8], Failure> {
        var info = stat()
        guard stat(path, &info) == 0 else { return .failure(.missing) }
        if info.st_mode & S_IFMT == S_IFDIR { return .failure(.directory) }
        let size = Int(info.st_size)
        if size > limit { return .failure(.tooLarge(size)) }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(.unreadable) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(size + 1)
        // One read more than the size, to see the end of the file.
        let chunkSize = max(size + 1, 64 * 1024)
        let chunk = UnsafeMutablePointer<UInt8>.allocate(capacity: chunkSize)
        defer { chunk.deallocate() }
        while bytes.count <= limit {
            let got = readBytes(fd, chunk, min(chunkSize, limit + 1 - bytes.count))
            if got < 0 {
                if errno == EINTR { continue }
                return .failure(.unreadable)
            }
            if got == 0 { break }
            bytes.append(contentsOf: UnsafeBufferPointer(start: chunk, count: got))
        }
        return .success(bytes)
    }
}

/// read(2), named apart from `ConfigFile.read`.
private func readBytes(_ fd: Int32, _ buffer: UnsafeMutablePointer<UInt8>, _ count: Int) -> Int {
    read(fd, buffer, count)
}
