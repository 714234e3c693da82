/// The importers' only way to the file system, so they are pure functions of (file name →
/// contents) and their tests and fuzzers need no I/O.
public protocol ImportFileSource: Sendable {
    /// The text of the file at `path`, or nil when there is none.
    func contents(of path: String) -> String?
    /// Every existing file whose path matches the shell-style pattern `pattern` (absolute, or
    /// relative to the process's directory), sorted as glob(3) sorts.
    func paths(matching pattern: String) -> [String]
}

/// Files held in memory: the fuzzable, testable source.
public struct InMemoryImportFiles: ImportFileSource {
    public var files: [String: String]

    public init(_ files: [String: String]) { self.files = files }

    public func contents(of path: String) -> String? { files[ImportPath.normalize(path)] ?? files[path] }

    public func paths(matching pattern: String) -> [String] {
        let normalized = ImportPath.normalize(pattern)
        return files.keys.filter { GlobPattern.matches(path: ImportPath.normalize($0), pattern: normalized) }.sorted()
    }
}

/// Path arithmetic the importers need, on strings only.
public enum ImportPath {
    /// The directory part of `path` ("." when it has none).
    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    /// `name` as seen from a file in `directory`: absolute names stay, relative ones are joined.
    /// keepalived changes into the including file's directory before it opens an include
    /// (lib/parser.c, read_line: "If the filename contains a directory element, change to that
    /// directory"), so relative includes are relative to the including file.
    public static func resolve(_ name: String, from directory: String) -> String {
        if name.hasPrefix("/") || directory == "." { return normalize(name) }
        return normalize(directory + "/" + name)
    }

    /// Removes `.` components, empty components and `x/..` pairs.
    public static func normalize(_ path: String) -> String {
        let absolute = path.hasPrefix("/")
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == "..", let last = parts.last, last != ".." { parts.removeLast(); continue }
            if part == "..", absolute, parts.isEmpty { continue }
            parts.append(part)
        }
        let joined = parts.joined(separator: "/")
        return absolute ? "/" + joined : (joined.isEmpty ? "." : joined)
    }
}

/// Shell-style patterns as glob(3) with GLOB_BRACE reads them: `*` and `?` never cross a `/`,
/// `[abc]`, `[a-z]` and `[!a]` classes, `{a,b}` alternatives, and a leading `.` of a name only
/// matched by a literal dot.
public enum GlobPattern {
    /// Whether `pattern` has any special character (a plain name is looked up, not matched).
    public static func isPattern(_ pattern: String) -> Bool { pattern.contains(where: { "*?[{".contains($0) }) }

    /// The patterns `{a,b}` alternatives expand to, in order (nested braces too).
    public static func expandBraces(_ pattern: String) -> [String] {
        let chars = Array(pattern)
        guard let open = chars.firstIndex(of: "{") else { return [pattern] }
        var depth = 0
        var close: Int?
        var commas: [Int] = []
        for i in open..<chars.count {
            switch chars[i] {
            case "{": depth += 1
            case "}":
                depth -= 1
                if depth == 0 { close = i }
            case "," where depth == 1: commas.append(i)
            default: break
            }
            if close != nil { break }
        }
        guard let close, !commas.isEmpty else {
            // A lone brace is literal; expand what follows it.
            let head = String(chars[...open])
            return expandBraces(String(chars[(open + 1)...])).map { head + $0 }
        }
        let prefix = String(chars[..<open]), suffix = String(chars[(close + 1)...])
        let bounds = [open] + commas + [close]
        var result: [String] = []
        for k in 0..<(bounds.count - 1) {
            let alternative = String(chars[(bounds[k] + 1)..<bounds[k + 1]])
            result += expandBraces(prefix + alternative + suffix)
        }
        return result
    }

    /// Whether `path` matches `pattern` component by component.
    public static func matches(path: String, pattern: String) -> Bool {
        for alternative in expandBraces(pattern) {
            let p = alternative.split(separator: "/", omittingEmptySubsequences: true)
            let n = path.split(separator: "/", omittingEmptySubsequences: true)
            guard p.count == n.count, alternative.hasPrefix("/") == path.hasPrefix("/") else { continue }
            if zip(p, n).allSatisfy({ matchesName(Array($1), Array($0)) }) { return true }
        }
        return false
    }

    /// One path component against one pattern component (no braces left).
    public static func matchesName(_ name: [Character], _ pattern: [Character]) -> Bool {
        if name.first == ".", pattern.first != "." { return false }
        return match(name[...], pattern[...])
    }

    private static func match(_ name: ArraySlice<Character>, _ pattern: ArraySlice<Character>) -> Bool {
        guard let p = pattern.first else { return name.isEmpty }
        switch p {
        case "*":
            var rest = name
            while true {
                if match(rest, pattern.dropFirst()) { return true }
                if rest.isEmpty { return false }
                rest = rest.dropFirst()
            }
        case "?":
            return !name.isEmpty && match(name.dropFirst(), pattern.dropFirst())
        case "[":
            guard let c = name.first, let (matched, rest) = matchClass(c, pattern.dropFirst()) else {
                return name.first == "[" && match(name.dropFirst(), pattern.dropFirst())
            }
            return matched && match(name.dropFirst(), rest)
        case "\\" where pattern.count > 1:
            let literal = pattern[pattern.startIndex + 1]
            return name.first == literal && match(name.dropFirst(), pattern.dropFirst(2))
        default:
            return name.first == p && match(name.dropFirst(), pattern.dropFirst())
        }
    }

    /// A `[...]` class after its `[`: whether `c` is in it and the pattern after its `]`; nil when
    /// the class is not closed (then `[` is literal).
    private static func matchClass(_ c: Character, _ body: ArraySlice<Character>) -> (Bool, ArraySlice<Character>)? {
        var rest = body
        var negate = false
        if let f = rest.first, f == "!" || f == "^" { negate = true; rest = rest.dropFirst() }
        var found = false
        var first = true
        while let x = rest.first {
            if x == "]" && !first { return (found != negate, rest.dropFirst()) }
            first = false
            let afterX = rest.dropFirst()
            if afterX.count >= 2, afterX.first == "-", let hi = afterX.dropFirst().first, hi != "]" {
                if x <= c && c <= hi { found = true }
                rest = afterX.dropFirst(2)
            } else {
                if x == c { found = true }
                rest = afterX
            }
        }
        return nil
    }
}
