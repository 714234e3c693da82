import Foundation
import Glibc
import Testing
import TandemCore
@testable import TandemKernel

/// `PosixError`'s messages, and the `Posix` wrappers that run without root.
struct PosixTests {
    // MARK: descriptions

    @Test func aBindToAMissingAddressNamesItAndAsksWhetherItIsConfigured() {
        let error = PosixError(call: "bind", object: "192.0.2.1:694", errno: EADDRNOTAVAIL)
        #expect(error.description == "cannot bind 192.0.2.1:694: Cannot assign requested address (EADDRNOTAVAIL); is the address configured on this host?")
        #expect(error.errnoName == "EADDRNOTAVAIL")
    }

    @Test func knownCausesDependOnTheCall() {
        #expect(PosixError(call: "open", object: "/etc/tandem/tandem.yaml", errno: ENOENT).suggestion == "does the path exist?")
        #expect(PosixError(call: "connect", object: "/run/tandem/tandemd.sock", errno: ENOENT).suggestion
            == "nothing listens there: is the program that should be running?")
        #expect(PosixError(call: "open", object: "/x", errno: EACCES).suggestion == "check the permissions of the file and its directory")
        #expect(PosixError(call: "socket", object: "eth0", errno: EPERM).suggestion?.hasPrefix("run as root") == true)
        #expect(PosixError(call: "write", object: "/x", errno: ENOSPC).suggestion == "the file system is full")
        // A refused send is a firewall's doing more often than a missing privilege.
        #expect(PosixError(call: "sendto", object: "192.0.2.2:694", errno: EPERM).suggestion == "is a firewall rule refusing these packets?")
        // EADDRNOTAVAIL means "not configured here" only for bind.
        #expect(PosixError(call: "connect", object: "[2001:db8::1]:80", errno: EADDRNOTAVAIL).suggestion == nil)
    }

    @Test func aCallersWordsAndAdviceReplaceTheDefaults() {
        let error = PosixError(call: "bind", object: "192.0.2.1:694", errno: EADDRINUSE)
            .with(operation: "bind heartbeat socket to", hint: "is another tandemd running?")
        #expect(error.description == "cannot bind heartbeat socket to 192.0.2.1:694: Address already in use (EADDRINUSE); is another tandemd running?")
        #expect(error.call == "bind")
    }

    @Test func anErrnoWithoutANameOrCauseStillReads() {
        let error = PosixError(operation: "start", object: "heartbeat thread", errno: 4000)
        #expect(error.description == "cannot start heartbeat thread: Unknown error 4000 (errno 4000)")
    }

    @Test func aKernelErrorKeepsTheCallsErrnoAndObject() {
        let error = KernelError(PosixError(call: "socket", object: "eth0", errno: EPERM), operation: "open packet socket",
                                hint: "Tandem needs CAP_NET_RAW to send gratuitous ARP")
        #expect(error.description == "open packet socket eth0 failed: Operation not permitted (EPERM); Tandem needs CAP_NET_RAW to send gratuitous ARP")
    }

    // MARK: wrappers

    @Test func openingAMissingPathGivesENOENTWithThePath() throws {
        let path = "/nonexistent-tandem-dir/tandem.yaml"
        do {
            _ = try Posix.open(path, flags: O_RDONLY)
            Issue.record("opened a missing path")
        } catch {
            #expect(error.errno == ENOENT)
            #expect(error.call == "open")
            #expect(error.description == "cannot open \(path): No such file or directory (ENOENT); does the path exist?")
        }
        #expect(try Posix.status(of: path) == nil)
    }

    @Test func aPipeCarriesBytesAndAnEmptyNonBlockingEndWouldBlock() throws {
        let ends = try Posix.pipe(nonBlockingRead: true, object: "test pipe")
        defer {
            Posix.close(ends.read)
            Posix.close(ends.write)
        }
        #expect(Glibc.fcntl(ends.read, F_GETFD) & FD_CLOEXEC != 0)
        var buffer = [UInt8](repeating: 0, count: 16)
        let empty = try Posix.read(ends.read, into: &buffer, object: "test pipe")
        #expect(empty == nil)
        try Posix.writeAll(ends.write, Array("tandem".utf8), object: "test pipe")
        var entry = pollfd(fd: ends.read, events: Int16(POLLIN), revents: 0)
        #expect(try Posix.poll(&entry, timeoutMilliseconds: 1000, object: "test pipe") == 1)
        let n = try Posix.read(ends.read, into: &buffer, object: "test pipe")
        #expect(n == 6)
        #expect(Array(buffer[..<6]) == Array("tandem".utf8))
        // Nothing queued again: a poll times out with 0 ready.
        #expect(try Posix.poll(&entry, timeoutMilliseconds: 0, object: "test pipe") == 0)
    }

    @Test func aUDPDatagramGoesRoundTheLoopbackWithItsSource() throws {
        let loopback = IPAddress("127.0.0.1")!
        let fd = try Posix.socket(family: AF_INET, type: Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                                  object: "test")
        defer { Posix.close(fd) }
        try Posix.bind(fd, to: loopback, port: 0)
        let bound = try Posix.localAddress(of: fd, as: sockaddr_in.self, zero: sockaddr_in(), object: "test")
        let port = UInt16(bigEndian: bound.sin_port)
        #expect(port != 0)

        var buffer = [UInt8](repeating: 0, count: 64)
        var source = sockaddr_storage()
        let nothing = try Posix.receive(fd, into: &buffer, source: &source, object: "test")
        #expect(nothing == nil)

        let sent = try Posix.send(fd, Array("beat".utf8), to: loopback, port: port)
        #expect(sent == 4)
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        _ = try Posix.poll(&entry, timeoutMilliseconds: 1000, object: "test")
        let received = try Posix.receive(fd, into: &buffer, source: &source, object: "test")
        #expect(received == 4)
        #expect(Array(buffer[..<4]) == Array("beat".utf8))
        #expect(Posix.ipAddress(of: source) == loopback)
    }

    @Test func connectingToAMissingUnixSocketNamesThePath() {
        let path = "/nonexistent-tandem-dir/tandemd.sock"
        #expect(throws: PosixError(call: "connect", object: path, errno: ENOENT, operation: "connect to")) {
            _ = try Posix.connectUnixSocket(path: path, type: Int32(SOCK_STREAM.rawValue))
        }
        let long = "/" + String(repeating: "x", count: Posix.unixPathCapacity)
        #expect(throws: PosixError(call: "connect", object: long, errno: ENAMETOOLONG, operation: "connect to")) {
            _ = try Posix.connectUnixSocket(path: long, type: Int32(SOCK_STREAM.rawValue))
        }
    }

    @Test func filesAreWrittenRenamedAndRemoved() throws {
        let directory = NSTemporaryDirectory() + "posix-tests-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = directory + "/a"
        let second = directory + "/b"
        let fd = try Posix.open(first, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
        try Posix.writeAll(fd, Array("serial: 1\n".utf8), object: first)
        try Posix.fsync(fd, object: first)
        try Posix.closeReportingErrors(fd, object: first)
        #expect(try Posix.status(of: first)?.st_size == 10)
        try Posix.rename(first, to: second)
        #expect(try Posix.readFile(second) == Array("serial: 1\n".utf8))
        #expect(try Posix.readFile(second, limit: 6) == Array("serial".utf8))
        #expect(throws: PosixError(call: "rename", object: "\(first) -> \(second)", errno: ENOENT)) {
            try Posix.rename(first, to: second)
        }
        try Posix.unlinkIfPresent(second)
        try Posix.unlinkIfPresent(second)  // already gone: no error
        #expect(try Posix.status(of: second) == nil)
    }
}
