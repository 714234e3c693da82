#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import TandemCore

/// The config's YAML tree, read from libyaml's events (`YAMLDocument`), and what the loader makes
/// of YAML's corners: they must read as they did when Yams composed the document.
@Suite struct YAMLDocumentTests {
    /// The document of `text`, or the syntax error.
    static func document(_ text: String) throws(YAMLDocument.SyntaxError) -> YAMLDocument? {
        var text = text
        let result = text.withUTF8 { bytes in Result { () throws(YAMLDocument.SyntaxError) in try YAMLDocument.parse(bytes) } }
        return try result.get()
    }

    @Test func treeHasKindsLinesAndTexts() throws {
        let doc = try #require(try Self.document("a: 1\nb:\n  - x\n  - 'null'\n  - ~\nc: {d: [e]}\n"))
        let root = doc.root
        #expect(doc.kind(root) == .mapping)
        #expect(doc.line(root) == 1)
        let pairs = Array(doc.children(of: root))
        #expect(pairs.count == 6)
        #expect(pairs.enumerated().filter { $0.offset % 2 == 0 }.map { doc.string($0.element) } == ["a", "b", "c"])
        #expect(doc.string(pairs[1]) == "1")
        let list = Array(doc.children(of: pairs[3]))
        #expect(doc.kind(pairs[3]) == .sequence)
        #expect(doc.line(pairs[3]) == 3)
        #expect(list.map { doc.string($0) } == ["x", "null", "~"])
        #expect(list.map { doc.line($0) } == [3, 4, 5])
        // Only plain null spellings are null; a quoted 'null' is the text null.
        #expect(list.map { doc.isNull($0) } == [false, false, true])
        #expect(doc.kind(pairs[5]) == .mapping)
        #expect(doc.line(pairs[5]) == 6)
        #expect(doc.string(pairs[5]) == nil)
        #expect(doc.children(of: pairs[1]).isEmpty)
    }

    @Test func aliasIsTheAnchoredNodeItself() throws {
        let doc = try #require(try Self.document("a: &x [1, 2]\nb: *x\nc: &s text\nd: *s\n"))
        let pairs = Array(doc.children(of: doc.root))
        #expect(pairs[3] == pairs[1])
        #expect(pairs[7] == pairs[5])
        #expect(doc.line(pairs[3]) == 1)
    }

    @Test func laterAnchorOfTheSameNameWins() throws {
        let doc = try #require(try Self.document("a: &x 1\nb: &x 2\nc: *x\n"))
        let pairs = Array(doc.children(of: doc.root))
        #expect(doc.string(pairs[5]) == "2")
    }

    @Test(arguments: [
        ("a: *nope\n", YAMLDocument.SyntaxError(message: "found undefined alias", line: 1)),
        // An anchor is defined once its node is complete, so a collection cannot hold itself.
        ("a:\n  - &r [*r]\n", YAMLDocument.SyntaxError(message: "found undefined alias", line: 2)),
        ("a: 1\n---\nb: 2\n", YAMLDocument.SyntaxError(message: "but found another document", line: 2)),
        ("a: 1\nb: [\n", YAMLDocument.SyntaxError(message: "did not find expected node content", line: 3)),
        ("a: \u{1}\n", YAMLDocument.SyntaxError(message: "control characters are not allowed", line: nil)),
    ])
    func syntaxErrors(_ text: String, _ expected: YAMLDocument.SyntaxError) {
        #expect(throws: expected) { _ = try Self.document(text) }
    }

    @Test(arguments: ["", "# a comment only\n", "\n\n"])
    func noDocument(_ text: String) throws {
        #expect(try Self.document(text) == nil)
    }

    @Test func explicitEmptyDocumentIsANullScalar() throws {
        let doc = try #require(try Self.document("---\n...\n"))
        #expect(doc.kind(doc.root) == .scalar)
        #expect(doc.isNull(doc.root))
    }

    @Test func nestingIsReadWithoutRecursion() throws {
        // Far deeper than the loader lets through (it refuses more than 64 levels first).
        let depth = 50_000
        let doc = try #require(try Self.document(String(repeating: "[", count: depth) + String(repeating: "]", count: depth)))
        var node = doc.root
        var levels = 1
        while let child = doc.children(of: node).first {
            node = child
            levels += 1
        }
        #expect(levels == depth)
    }

    @Test func tagsAreReadPast() throws {
        let doc = try #require(try Self.document("a: !!str 5\nb: !!int '6'\nc: !custom {d: 1}\n"))
        let pairs = Array(doc.children(of: doc.root))
        #expect(doc.string(pairs[1]) == "5")
        #expect(doc.string(pairs[3]) == "6")
        #expect(doc.kind(pairs[5]) == .mapping)
    }

    @Test func leadingByteOrderMarkOfAValueIsDropped() throws {
        let doc = try #require(try Self.document("a: \u{FEFF}x\nb: \"\u{FEFF}\u{FEFF}y\"\n"))
        let pairs = Array(doc.children(of: doc.root))
        #expect(doc.string(pairs[1]) == "x")
        #expect(doc.string(pairs[3]) == "\u{FEFF}y")
    }

    @Test func escapesAndBlockScalars() throws {
        let doc = try #require(try Self.document("a: \"tab\\there\\u00e9\"\nb: |\n  one\n  two\nc: >\n  one\n  two\n"))
        let pairs = Array(doc.children(of: doc.root))
        #expect(doc.string(pairs[1]) == "tab\there\u{E9}")
        #expect(doc.string(pairs[3]) == "one\ntwo\n")
        #expect(doc.string(pairs[5]) == "one two\n")
        #expect(!doc.isNull(pairs[3]))
    }
}

/// What the loader reports for YAML's corners, with lines.
@Suite struct ConfigYAMLCornerTests {
    @Test func aliasedValueIsRead() throws {
        let text = minimal(replacingLine: 16, with: "    port: &p 8080").replacingLine(20, with: "        port: *p")
        let config = try ConfigParser.parse(yaml: text)
        #expect(config.virtualServers.first?.realServers.first?.port == 8080)
    }

    @Test func errorInAnAliasedValueHasTheAnchorsLine() {
        let text = minimal(replacingLine: 8, with: "  interval: &i 5").replacingLine(20, with: "        port: *i")
        #expect(errors(of: text) == ["heartbeat.interval: \"5\" is not a duration: write a whole number with a unit, like 20ms, 2s, 5m or 1h (line 8)"])
    }

    @Test func undefinedAliasNamesItsLine() {
        #expect(errors(of: minimal(replacingLine: 21, with: "        weight: *w"))
            == ["(top level): is not valid YAML: found undefined alias (line 21)"])
    }

    @Test func secondDocumentIsRefused() {
        #expect(errors(of: minimal(appending: "---\nserial: 8")) == ["(top level): is not valid YAML: but found another document (line 22)"])
    }

    @Test func mergeKeyIsRefusedAsUnsupported() {
        let text = minimal(replacingLine: 20, with: "        <<: {port: 80}")
        #expect(errors(of: text) == ["virtual_servers[0].real_servers[0].<<: YAML merge keys (<<) are not supported: write the keys out (a plain alias, *name, may stand for a whole value) (line 20)"])
    }

    @Test func taggedValuesReadAsTheirText() throws {
        let config = try ConfigParser.parse(yaml: minimal(replacingLine: 1, with: "serial: !!str 9"))
        #expect(config.serial == 9)
    }

    @Test func quotedNullIsText() {
        #expect(errors(of: minimal(appending: "standby_table: 'null'")) == ["standby_table: \"null\" is not one of: warm, cold (line 22)"])
        #expect(errors(of: minimal(appending: "standby_table: null")) == [])
    }

    @Test func nonScalarKeyIsReported() {
        #expect(errors(of: minimal(appending: "? [a, b]\n: 1")) == ["(top level): keys must be plain words, found a list (line 22)"])
    }

    @Test func syntaxErrorNamesLibyamlsProblemAndLine() {
        #expect(errors(of: minimal(replacingLine: 15, with: "    address: [10.0.0.10"))
            == ["(top level): is not valid YAML: did not find expected ',' or ']' (line 16)"])
    }

    @Test func tabIndentationIsRefused() {
        #expect(errors(of: minimal(replacingLine: 16, with: "\tport: 80"))
            == ["(top level): is not valid YAML: found a tab character that violates indentation (line 16)"])
    }

    @Test func controlCharacterHasNoLine() {
        #expect(errors(of: minimal(replacingLine: 14, with: "  - name: w\u{7}b"))
            == ["(top level): is not valid YAML: control characters are not allowed"])
    }

    @Test func onlyCommentsHoldNoDocument() {
        #expect(errors(of: "# serial: 1\n") == ["(top level): holds no YAML document: a config needs at least serial, nodes and virtual_ips"])
    }

    @Test(arguments: [[0xFF, 0x0A], [0x73, 0x3A, 0x20, 0xC3, 0x28], [0xED, 0xA0, 0x80]] as [[UInt8]])
    func nonUTF8BytesAreRefused(_ bytes: [UInt8]) {
        #expect(throws: ConfigError.self) { _ = try ConfigParser.parseWithWarnings(data: bytes) }
        do {
            _ = try ConfigParser.parseWithWarnings(data: bytes)
        } catch {
            #expect(error.issues.map(\.description) == ["(top level): is not UTF-8 text: is this the right file?"])
        }
    }

    @Test func nestingWithinTheLimitIsRead() {
        // 60 levels: deeper than any config, within the limit; the key is then unknown.
        let text = minimal(appending: "deep: " + String(repeating: "[", count: 60) + String(repeating: "]", count: 60))
        #expect(errors(of: text) == ["deep: unknown key; allowed here: serial, nodes, heartbeat, election, announce, virtual_ips, virtual_servers, sync, standby_table, ipvs_timeouts, notify, control, state_directory, metrics, cluster (line 22)"])
    }
}

/// Reading config files with POSIX calls.
@Suite struct ConfigFileTests {
    @Test func missingAndDirectory() {
        #expect(ConfigFile.read("/nonexistent/tandem.yaml", limit: 100) == .failure(.missing))
        #expect(ConfigFile.read("/", limit: 100) == .failure(.directory))
    }

    @Test func refusesBeyondTheLimitBeforeReading() throws {
        let path = try temporaryFile(Array(repeating: UInt8(ascii: "a"), count: 101))
        defer { unlink(path) }
        #expect(ConfigFile.read(path, limit: 100) == .failure(.tooLarge(101)))
        #expect(ConfigFile.read(path, limit: 101) == .success(Array(repeating: UInt8(ascii: "a"), count: 101)))
    }

    @Test func readsAFileLargerThanOneChunk() throws {
        let bytes = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 % 251) }
        let path = try temporaryFile(bytes)
        defer { unlink(path) }
        #expect(ConfigFile.read(path, limit: 1_000_000) == .success(bytes))
    }

    @Test func readsFilesWithoutASize() throws {
        // /proc files report size 0 and are read to their end.
        guard case .success(let bytes) = ConfigFile.read("/proc/self/status", limit: 1_000_000) else {
            Issue.record("cannot read /proc/self/status")
            return
        }
        #expect(String(decoding: bytes, as: UTF8.self).hasPrefix("Name:"))
    }

    @Test func loaderNamesTheFile() {
        #expect(throws: ConfigError.self) { _ = try ConfigParser.load(path: "/nonexistent/tandem.yaml") }
        do {
            _ = try ConfigParser.load(path: "/")
        } catch {
            #expect(error.issues.map(\.message) == ["is a directory, not a config file"])
        }
    }

    /// A new file holding `bytes`; the caller unlinks it.
    func temporaryFile(_ bytes: [UInt8]) throws -> String {
        let path = "/tmp/tandem-config-file-test-\(UInt64.random(in: 0...UInt64.max)).bin"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        try #require(fd >= 0)
        defer { close(fd) }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        try #require(written == bytes.count)
        return path
    }
}

extension String {
    /// The text with line `n` (1-based) replaced.
    func replacingLine(_ n: Int, with text: String) -> String {
        var lines = split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines[n - 1] = text
        return lines.joined(separator: "\n")
    }
}
