/// One keepalived.conf statement: a line's words, where it was, and the block it opens.
public struct KeepalivedStatement: Sendable, Hashable {
    public var words: [String]
    public var location: SourceLocation
    /// The statements inside `{ … }` after this one, or nil when it opens no block.
    public var block: [KeepalivedStatement]?
    /// The whole line (comments cut, parameters replaced) when this statement is alone on it;
    /// nil when the line also holds a brace. keepalived re-reads a script's line from this text
    /// with quotes and escapes (`alloc_strvec_quoted_escaped`), which `words` does not honour.
    public var line: String?

    public init(words: [String], location: SourceLocation, block: [KeepalivedStatement]? = nil, line: String? = nil) {
        self.words = words
        self.location = location
        self.block = block
        self.line = line
    }

    public var keyword: String { words.first ?? "" }
    public var arguments: ArraySlice<String> { words.dropFirst() }
    /// The `i`th word after the keyword, as keepalived's handlers read `strvec_slot(strvec, i + 1)`.
    func arg(_ i: Int) -> String? { i >= 0 && i < words.count - 1 ? words[i + 1] : nil }
    var argumentCount: Int { words.count - 1 }
}

/// Reads keepalived.conf text the way keepalived's own reader does (lib/parser.c of 2.2.7,
/// Debian 12's version), into a tree of statements for one router:
///
/// - `!` and `#` start a comment anywhere outside double quotes, also in the middle of a word
///   (`decomment()`): `auth_pass abc!def` is the password `abc`. `\!` and `\#` are literal.
/// - `include PATTERN` reads every file the glob(3) pattern (with `{a,b}`) matches, relative to
///   the including file's directory; a pattern that matches nothing is skipped with a warning.
/// - `$NAME=value` defines a parameter; `$NAME` and `${NAME}` are replaced on later lines, and
///   the result is read again (it may be a comment, an `@` line or another parameter).
///   Undefined names are left as they are.
/// - `@ID line` keeps the line only on the router whose config id (keepalived `-i`, by default
///   its host name) is ID; `@^ID line` only on the others.
/// - Braces open and close blocks wherever they stand outside quotes; a brace on the line after
///   a keyword opens that keyword's block.
/// - Double quotes make one word of text with spaces.
public struct KeepalivedLexer {
    /// Deeper include nesting is taken for a loop (keepalived has no limit and loops forever).
    public static let maximumIncludeDepth = 32

    public let files: any ImportFileSource
    /// The router's config id for `@` lines; nil when the caller has no name (then any `@`
    /// line is an error asking for one).
    public let configID: String?

    public private(set) var findings: [ImportFinding] = []
    /// Whether any `@` conditional line was seen.
    public private(set) var usesConditionals = false
    /// Every file read, in order.
    public private(set) var filesRead: [String] = []

    private var definitions: [String: String] = [:]
    private var lines: [(words: [String], location: SourceLocation, text: String)] = []

    public init(files: any ImportFileSource, configID: String?) {
        self.files = files
        self.configID = configID
    }

    /// Reads `path` and everything it includes into statements.
    public mutating func read(path: String) throws(ImportError) -> [KeepalivedStatement] {
        guard let text = files.contents(of: path) else {
            throw ImportError(at: nil, "\(path): cannot read the file: check the name (keepalived would not start without it)")
        }
        try readFile(path: path, text: text, depth: 0)
        return try Self.buildTree(lines)
    }

    private mutating func readFile(path: String, text: String, depth: Int) throws(ImportError) {
        filesRead.append(path)
        var number = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let location = SourceLocation(file: path, line: number)
            var line = String(raw)
            if line.hasSuffix("\r") { line.removeLast() }
            var rounds = 0
            while true {
                rounds += 1
                if rounds > 32 {
                    throw ImportError(at: location, "parameter substitution does not end (a parameter that refers to itself?): fix the $definitions")
                }
                line = decomment(line, at: location)
                if line.isEmpty { break }
                if line.hasPrefix("@") {
                    usesConditionals = true
                    guard let kept = try conditional(line, at: location) else { line = ""; break }
                    line = kept
                    continue
                }
                if line.hasPrefix("$"), let (name, value) = Self.definition(line) {
                    if value.hasSuffix("\\") {
                        findings.append(ImportFinding(.notCarriedOver, at: location,
                            "the multi-line definition $\(name) is not read by this importer",
                            advice: "write its lines out where $\(name) is used and import again"))
                    }
                    definitions[name] = value
                    line = ""
                    break
                }
                if line.hasPrefix("~SEQ") || line.hasPrefix("~LST") {
                    findings.append(ImportFinding(.notCarriedOver, at: location,
                        "\(line.prefix(4)) loops are not expanded by this importer",
                        advice: "expand the loop by hand (keepalived -d dumps the expanded config) and import again"))
                    line = ""
                    break
                }
                guard !definitions.isEmpty, line.contains("$"), let replaced = substitute(line) else { break }
                line = replaced
            }
            if line.isEmpty { continue }
            if let pattern = Self.includePattern(line) {
                try include(pattern: pattern, from: path, at: location, depth: depth)
                continue
            }
            lines.append((Self.words(line), location, line))
        }
    }

    /// keepalived's `decomment()`: strips leading and trailing blanks, cuts at the first `!` or
    /// `#` outside quotes and turns `\!`/`\#` outside quotes into the character itself. A cut in
    /// the middle of a word is a quirk worth a warning (`auth_pass secret!1` is `secret`).
    private mutating func decomment(_ line: String, at location: SourceLocation) -> String {
        var out = ""
        var quoted = false
        var chars = Array(line.drop(while: { $0 == " " || $0 == "\t" }))
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "\"" { quoted.toggle(); out.append(c); i += 1; continue }
            if c == "\\", i + 1 < chars.count {
                if !quoted && (chars[i + 1] == "!" || chars[i + 1] == "#") {
                    out.append(chars[i + 1])
                } else {
                    out.append(c)
                    out.append(chars[i + 1])
                }
                i += 2
                continue
            }
            if !quoted && (c == "!" || c == "#") {
                if let before = out.last, before != " ", before != "\t" {
                    let word = out.split(whereSeparator: { $0 == " " || $0 == "\t" }).last.map(String.init) ?? ""
                    let cut = String(chars[i...]).prefix { $0 != " " && $0 != "\t" }
                    findings.append(ImportFinding(.quirk, at: location,
                        "\"\(word)\(cut)\" is read as \"\(word)\": keepalived takes `\(c)` as the start of a comment even inside a word (decomment() in lib/parser.c)",
                        advice: "the output uses \"\(word)\" as keepalived did; if the rest was meant, write it \\\(c) or inside double quotes in keepalived.conf"))
                }
                break
            }
            out.append(c)
            i += 1
        }
        if quoted {
            findings.append(ImportFinding(.quirk, at: location,
                "a double quote is not closed: keepalived reads to the end of the line",
                advice: "close the quote"))
        }
        chars = Array(out)
        while let last = chars.last, last == " " || last == "\t" { chars.removeLast() }
        return String(chars)
    }

    /// An `@ID` or `@^ID` line: the rest of the line when it applies to this router, nil when not.
    private func conditional(_ line: String, at location: SourceLocation) throws(ImportError) -> String? {
        var body = line.dropFirst()
        var reverse = false
        if body.first == "^" { reverse = true; body = body.dropFirst() }
        guard let space = body.firstIndex(where: { $0 == " " || $0 == "\t" }) else { return nil }
        let id = String(body[..<space])
        guard let configID else {
            throw ImportError(at: location,
                "the line is for the router \"\(id)\" only (@\(id)): give each router's name with --node-names NAME1,NAME2 so each router's view can be read")
        }
        guard (id == configID) != reverse else { return nil }
        return String(body[space...].drop(while: { $0 == " " || $0 == "\t" }))
    }

    /// `$NAME=value` (blanks allowed before `=`; the name is a letter or `_`, then letters,
    /// digits and `_`): check_definition() in lib/parser.c.
    static func definition(_ line: String) -> (String, String)? {
        let chars = Array(line.dropFirst())
        guard let first = chars.first, first.isASCII, first.isLetter || first == "_" else { return nil }
        var i = 1
        while i < chars.count, chars[i].isASCII, chars[i].isLetter || chars[i].isNumber || chars[i] == "_" { i += 1 }
        let name = String(chars[..<i])
        while i < chars.count, chars[i] == " " || chars[i] == "\t" { i += 1 }
        guard i < chars.count, chars[i] == "=" else { return nil }
        let value = String(chars[(i + 1)...].drop(while: { $0 == " " || $0 == "\t" }))
        return (name, value)
    }

    /// Replaces every defined `$NAME` and `${NAME}`; nil when nothing was replaced.
    private func substitute(_ line: String) -> String? {
        let chars = Array(line)
        var out = ""
        var changed = false
        var i = 0
        while i < chars.count {
            guard chars[i] == "$", i + 1 < chars.count else { out.append(chars[i]); i += 1; continue }
            let braced = chars[i + 1] == "{"
            var j = i + (braced ? 2 : 1)
            let start = j
            while j < chars.count, chars[j].isASCII, chars[j].isLetter || chars[j].isNumber || chars[j] == "_" { j += 1 }
            let name = String(chars[start..<j])
            if braced {
                guard j < chars.count, chars[j] == "}" else { out.append(chars[i]); i += 1; continue }
            }
            if let value = definitions[name], !name.isEmpty {
                out += value
                changed = true
                i = j + (braced ? 1 : 0)
            } else {
                out.append(chars[i])
                i += 1
            }
        }
        return changed ? out : nil
    }

    /// The pattern of an `include` line (`includer`, `includem` and the other forms read the
    /// same files; only their error reporting differs).
    static func includePattern(_ line: String) -> String? {
        for keyword in ["include", "includer", "includem", "includeb", "includew", "includea"] {
            guard line.hasPrefix(keyword) else { continue }
            let rest = line.dropFirst(keyword.count)
            guard let f = rest.first, f == " " || f == "\t" else { continue }
            let pattern = rest.drop(while: { $0 == " " || $0 == "\t" })
            return pattern.isEmpty ? nil : String(pattern)
        }
        return nil
    }

    private mutating func include(pattern rawPattern: String, from path: String, at location: SourceLocation, depth: Int) throws(ImportError) {
        let pattern = rawPattern.count > 1 && rawPattern.hasPrefix("\"") && rawPattern.hasSuffix("\"")
            ? String(rawPattern.dropFirst().dropLast()) : rawPattern
        guard depth < Self.maximumIncludeDepth else {
            throw ImportError(at: location, "includes nest deeper than \(Self.maximumIncludeDepth) files (a file that includes itself?): break the loop")
        }
        let resolved = ImportPath.resolve(pattern, from: ImportPath.directory(of: path))
        let matches: [String]
        if GlobPattern.isPattern(resolved) {
            matches = files.paths(matching: resolved)
        } else {
            matches = files.contents(of: resolved) == nil ? [] : [resolved]
        }
        if matches.isEmpty {
            findings.append(ImportFinding(.note, at: location,
                "include \(pattern) matches no file (looked for \(resolved)); keepalived skips it too",
                advice: "check the path if something is missing from the output"))
            return
        }
        for match in matches {
            guard let text = files.contents(of: match) else {
                findings.append(ImportFinding(.note, at: location, "\(match) cannot be read; keepalived would skip it"))
                continue
            }
            try readFile(path: match, text: text, depth: depth + 1)
        }
    }

    /// Splits a line into words: blanks separate, `"…"` is one word without its quotes, `{` and
    /// `}` outside quotes are words of their own.
    static func words(_ line: String) -> [String] { split(line, quote: "\"", bracesAreWords: true) }

    /// A script statement (`notify_master`, `misc_path`, …) read as keepalived 2.2.7 reads it
    /// (notify.c `notify_script_init`, `set_script_params_array`): the line is split again with
    /// quotes and escapes, the word after the keyword is the script's whole text, and that text
    /// is split once more into the program and its arguments. Words after the script's text are
    /// `extra`: keepalived takes them as the user (and group) to run a notify script as, and
    /// ignores them after `misc_path`. `words` is nil when keepalived cannot parse the line (an
    /// unclosed quote, a trailing backslash: "Unable to parse … script", the script is ignored).
    struct Script: Equatable {
        /// The script's text as keepalived holds it (the second word of the line).
        var text: String
        /// The program and its arguments, as keepalived execs them (no shell).
        var words: [String]?
        /// Words after the script's text on the line.
        var extra: [String]
    }

    static func script(_ statement: KeepalivedStatement) -> Script? {
        let lineWords = statement.line.map(quotedEscapedWords) ?? statement.words
        guard let lineWords else { return Script(text: statement.arguments.joined(separator: " "), words: nil, extra: []) }
        guard lineWords.count >= 2 else { return nil }
        return Script(text: lineWords[1], words: quotedEscapedWords(lineWords[1]), extra: Array(lineWords.dropFirst(2)))
    }

    /// keepalived's `alloc_strvec_quoted_escaped` (lib/parser.c): blanks separate words; `"…"`
    /// and `'…'` are (part of) one word without the quotes, each quote literal inside the other;
    /// a backslash escapes the next character anywhere, also inside quotes, with C's escapes
    /// (`\n`, `\t`, `\a`, `\b`, `\f`, `\r`, `\v`, `\E` for ESC, octal `\NNN`, hex `\xHH`,
    /// `\cX` for a control character); any other escaped character is itself. Nil for an
    /// unclosed quote or a backslash at the end, which keepalived refuses.
    static func quotedEscapedWords(_ text: String) -> [String]? {
        let bytes = Array(text.utf8)
        var words: [String] = []
        var current: [UInt8] = []
        var inWord = false
        var quote: UInt8?
        var i = 0
        func isBlank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 }
        func hexValue(_ b: UInt8) -> UInt8? {
            switch b {
            case 0x30...0x39: return b - 0x30
            case 0x41...0x46: return b - 0x41 + 10
            case 0x61...0x66: return b - 0x61 + 10
            default: return nil
            }
        }
        func isOctal(_ k: Int) -> Bool { k < bytes.count && bytes[k] >= 0x30 && bytes[k] <= 0x37 }
        while i < bytes.count {
            let b = bytes[i]
            if b == 0x5C {  // backslash
                i += 1
                guard i < bytes.count else { return nil }
                inWord = true
                let e = bytes[i]
                if e == 0x78, i + 1 < bytes.count, hexValue(bytes[i + 1]) != nil {  // \xHH…
                    var value: UInt8 = 0
                    i += 1
                    while i < bytes.count, let h = hexValue(bytes[i]) { value = value &<< 4 | h; i += 1 }
                    current.append(value)
                } else if e == 0x63, i + 1 < bytes.count {  // \cX
                    current.append(bytes[i + 1] & 0x1F)
                    i += 2
                } else if isOctal(i) {
                    var value = bytes[i] - 0x30
                    i += 1
                    for _ in 0..<2 where isOctal(i) { value = value &<< 3 &+ (bytes[i] - 0x30); i += 1 }
                    current.append(value)
                } else {
                    let escapes: [UInt8: UInt8] = [0x61: 0x07, 0x62: 0x08, 0x45: 0x1B, 0x66: 0x0C, 0x6E: 0x0A, 0x72: 0x0D, 0x74: 0x09, 0x76: 0x0B]
                    current.append(escapes[e] ?? e)
                    i += 1
                }
                continue
            }
            if let q = quote {
                if b == q { quote = nil } else { current.append(b) }
                i += 1
                continue
            }
            if b == 0x22 || b == 0x27 {
                quote = b
                inWord = true
            } else if isBlank(b) {
                if inWord { words.append(String(decoding: current, as: UTF8.self)); current = []; inWord = false }
            } else {
                current.append(b)
                inWord = true
            }
            i += 1
        }
        guard quote == nil else { return nil }
        if inWord { words.append(String(decoding: current, as: UTF8.self)) }
        return words
    }

    /// Blanks separate words; `quote` … `quote` is (part of) one word without the quotes; with
    /// `bracesAreWords`, `{` and `}` outside quotes are words of their own.
    private static func split(_ text: String, quote: Character, bracesAreWords: Bool) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quoted = false
        for c in text {
            if quoted {
                if c == quote { quoted = false } else { current.append(c) }
                continue
            }
            switch c {
            case quote:
                quoted = true
                inWord = true
            case " ", "\t":
                if inWord { words.append(current); current = ""; inWord = false }
            case "{" where bracesAreWords, "}" where bracesAreWords:
                if inWord { words.append(current); current = ""; inWord = false }
                words.append(String(c))
            default:
                current.append(c)
                inWord = true
            }
        }
        if inWord { words.append(current) }
        return words
    }

    /// Builds the block tree from lines of words.
    static func buildTree(_ lines: [(words: [String], location: SourceLocation, text: String)]) throws(ImportError) -> [KeepalivedStatement] {
        // Each open level: its statements and the index of the statement that opened it in the
        // parent level.
        var levels: [[KeepalivedStatement]] = [[]]
        var openers: [SourceLocation] = []
        for (words, location, text) in lines {
            var buffer: [String] = []
            let alone = !words.contains("{") && !words.contains("}")
            func flush() {
                if !buffer.isEmpty {
                    levels[levels.count - 1].append(KeepalivedStatement(words: buffer, location: location, line: alone ? text : nil))
                    buffer = []
                }
            }
            for word in words {
                switch word {
                case "{":
                    flush()
                    guard let last = levels[levels.count - 1].last, last.block == nil else {
                        throw ImportError(at: location, "`{` opens a block without a keyword before it: put the keyword (virtual_server …, real_server …) before the brace")
                    }
                    openers.append(last.location)
                    levels.append([])
                case "}":
                    flush()
                    guard levels.count > 1 else {
                        throw ImportError(at: location, "`}` closes a block that was never opened: remove it or add the missing `{`")
                    }
                    let block = levels.removeLast()
                    openers.removeLast()
                    levels[levels.count - 1][levels[levels.count - 1].count - 1].block = block
                default:
                    buffer.append(word)
                }
            }
            flush()
        }
        if let opener = openers.last {
            throw ImportError(at: opener, "the block opened here is never closed: add the missing `}`")
        }
        return levels[0]
    }
}
