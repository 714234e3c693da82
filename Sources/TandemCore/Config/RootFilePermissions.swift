/// Hygiene of the files that decide what tandemd runs as root (trial 35): the config file (it
/// names the notify commands and `exec` health-check programs, which tandemd runs as root on
/// both routers, and is mirrored to the peer) and those programs. Held to what ssh asks of
/// `authorized_keys` and its directories (`safe_path`): a file its group or other users can
/// write, one in a directory they can write (without the sticky bit, which stops them replacing
/// another user's file), or one owned by another user lets that user choose what runs as root.
/// `KeyFilePermissions` refuses a heartbeat key file so; these are warnings only (check-config,
/// `tandemd --check`, every reload and start-up), so existing setups keep working.
public enum RootFilePermissions {
    /// A file or one of the directories holding it, as `stat` found it.
    public struct Entry: Sendable, Hashable {
        /// Its absolute path (symbolic links resolved).
        public var path: String
        /// `st_mode`: the file type and the permission bits.
        public var mode: UInt32
        /// `st_uid`.
        public var owner: UInt32
        /// The owner's user name (getpwuid), nil when it has none.
        public var ownerName: String?

        public init(path: String, mode: UInt32, owner: UInt32, ownerName: String? = nil) {
            self.path = path
            self.mode = mode
            self.owner = owner
            self.ownerName = ownerName
        }

        /// "root", "nobody (uid 65534)", or "uid 1234" for an owner without a name.
        var ownerText: String {
            if owner == 0 { return "root" }
            return ownerName.map { "\($0) (uid \(owner))" } ?? "uid \(owner)"
        }

        /// The permission bits as ls and chmod write them: "0644", "1777".
        var modeText: String {
            let digits = String(mode & 0o7777, radix: 8)
            return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
        }
    }

    /// The problems with `chain`, one warning line each, naming the file or directory, its mode
    /// and owner, and the `chmod go-w` or `chown root` that fixes it; empty when there are none.
    /// - Parameters:
    ///   - subject: what names the file, the start of each line ("config file", "notify.active").
    ///   - consequence: what tandemd does with it, said after what another user could do
    ///     ("tandemd runs it as root at each role change").
    ///   - chain: the file first, then each directory holding it, nearest first (up to "/").
    ///   - runningAs: the effective uid of the process judging. Ownership is judged only when
    ///     it is root (0): an owner that is neither root nor that user is a problem. Another
    ///     user checking a copy of their own is told only of the write bits.
    public static func problems(subject: String, consequence: String, chain: [Entry], runningAs: UInt32) -> [String] {
        guard let file = chain.first else { return [] }
        func foreign(_ entry: Entry) -> Bool { runningAs == 0 && entry.owner != 0 && entry.owner != runningAs }
        var out: [String] = []
        if file.mode & 0o022 != 0 {
            out.append("\(subject): \(file.path) is writable by its group or other users (mode \(file.modeText), owner \(file.ownerText)): "
                + "they can change it, and \(consequence); run `chmod go-w \(file.path)`")
        }
        if foreign(file) {
            out.append("\(subject): \(file.path) is owned by \(file.ownerText), not root: that user can change it, and "
                + "\(consequence); run `chown root \(file.path)`")
        }
        for directory in chain.dropFirst() {
            // The sticky bit (/tmp) keeps others from renaming or deleting a file they do not own.
            if directory.mode & 0o022 != 0, directory.mode & 0o1000 == 0 {
                out.append("\(subject): \(file.path) is in directory \(directory.path), which its group or other users can write "
                    + "and which has no sticky bit (mode \(directory.modeText), owner \(directory.ownerText)): they can replace "
                    + "\(file.path), and \(consequence); run `chmod go-w \(directory.path)`")
            }
            if foreign(directory) {
                out.append("\(subject): \(file.path) is in directory \(directory.path), owned by \(directory.ownerText), not root: "
                    + "that user can replace \(file.path), and \(consequence); run `chown root \(directory.path)`")
            }
        }
        return out
    }

    /// What tandemd does with the config file, for `problems(consequence:)`.
    public static let configConsequence = "tandemd runs the notify commands and exec checks it names as root, "
        + "on both routers once it is mirrored"
    /// What tandemd does with a notify command's program.
    public static let notifyConsequence = "tandemd runs it as root at each role change"
    /// What tandemd does with an exec health check's program.
    public static let execConsequence = "tandemd runs it as root at every check"
}
