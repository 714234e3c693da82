/// Key-file hygiene, as ssh holds private keys to it (ssh's `sshkey_perm_ok`: a private key that
/// others can read is refused, with the file's mode in the message): a heartbeat key is the
/// pair's only secret, so one that the file's group or other users can read, or that another
/// user owns, stops start-up with the exact command that fixes it.
public enum KeyFilePermissions {
    /// The problem with a key file of mode `mode` (the `st_mode` permission bits) owned by user
    /// `owner`, for a daemon running as user `runningAs`; nil when it is fine. Root may own
    /// any key (as with ssh); another owner is refused because that user could change the key.
    public static func problem(path: String, mode: UInt32, owner: UInt32, runningAs: UInt32) -> String? {
        let permissions = mode & 0o7777
        if owner != runningAs && owner != 0 {
            return "heartbeat key file \(path) is owned by uid \(owner), not by uid \(runningAs) that tandemd runs as: "
                + "another user could change the pair's key; run `chown \(runningAs) \(path)`"
        }
        if permissions & 0o077 != 0 {
            return "heartbeat key file \(path) has mode \(String(permissions, radix: 8, uppercase: false).leftPadded(to: 4)), "
                + "so its group or other users can read the pair's key: run `chmod 600 \(path)`"
        }
        return nil
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
