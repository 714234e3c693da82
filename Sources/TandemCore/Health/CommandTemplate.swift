/// Builds the argument vector of an `exec` health check (pulse's send_program, keepalived's
/// MISC_CHECK): `%h` becomes the real server's address (IPv6 without brackets), `%p` its port and
/// `%%` a single `%`. Any other `%` sequence is kept as written. No shell is involved.
public enum CommandTemplate {
    public static func substitute(_ arguments: [String], address: IPAddress, port: UInt16) -> [String] {
        arguments.map { substitute($0, address: address, port: port) }
    }

    public static func substitute(_ argument: String, address: IPAddress, port: UInt16) -> String {
        var out = ""
        var i = argument.startIndex
        while i < argument.endIndex {
            let c = argument[i]
            let next = argument.index(after: i)
            if c == "%", next < argument.endIndex {
                switch argument[next] {
                case "h": out += address.description; i = argument.index(after: next); continue
                case "p": out += String(port); i = argument.index(after: next); continue
                case "%": out += "%"; i = argument.index(after: next); continue
                default: break
                }
            }
            out.append(c)
            i = next
        }
        return out
    }
}
