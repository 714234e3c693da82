import CYAML

/// One YAML document as a small tree of our own, read from libyaml's event parser
/// (`yaml_parser_parse`): mappings, sequences and scalars, each with the line it starts on.
///
/// The whole tree is three arrays. `nodes` holds every node; a collection lists the indices of
/// its children in `children` (a mapping as key, value, key, value, …), a scalar its text's
/// UTF-8 bytes in `text`. Reading it allocates nothing per node.
///
/// It reads what the config loader composed with Yams before, event for event:
/// - an alias is the node its anchor named: the same index, so the same line. An anchor is
///   defined once its node is complete, so an alias inside the collection it names is undefined;
///   a later anchor of the same name replaces the earlier one;
/// - tags are read past: a node is its text and shape (`!!int "5"` is the text 5);
/// - a merge key (`<<`) is an ordinary key;
/// - a scalar's text loses one leading byte order mark (U+FEFF), as Yams's decoding did;
/// - a stream with no document has no root (`parse` returns nil); a second document is an error;
/// - errors carry libyaml's own problem text and line, or Yams's composer wording for the two
///   errors it raised itself ("found undefined alias", "but found another document").
struct YAMLDocument {
    enum Kind: UInt8 {
        case scalar, sequence, mapping

        /// How errors name it: "expected a list, found a mapping".
        var name: String {
            switch self {
            case .scalar: return "a single value"
            case .mapping: return "a mapping"
            case .sequence: return "a list"
            }
        }
    }

    struct Node {
        var kind: Kind
        /// A plain scalar (not quoted, not a block scalar): only these can be null.
        var isPlain: Bool
        /// 1-based line of the node's first character (a block mapping's first key).
        var line: Int32
        /// Scalars: offset of the text in `text`; collections: offset of the first child in
        /// `children`.
        var start: Int32
        /// Scalars: length of the text in bytes; sequences: items; mappings: keys plus values.
        var count: Int32
    }

    private(set) var nodes: [Node] = []
    private(set) var children: [Int32] = []
    private(set) var text: [UInt8] = []
    /// Index of the document's top node in `nodes`.
    private(set) var root: Int32 = 0

    /// A problem libyaml (or composing) found: its message and 1-based line (nil for the reader's
    /// encoding errors, which have only a byte offset).
    struct SyntaxError: Error, Equatable {
        var message: String
        var line: Int?
    }

    /// Parses UTF-8 `bytes` holding at most one document. Returns nil when the stream holds no
    /// document (empty, or only comments and directives' ends).
    ///
    /// - Throws: `SyntaxError` for anything libyaml refuses, an undefined alias or a second
    ///   document.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(SyntaxError) -> YAMLDocument? {
        var builder = Builder()
        // Reserved once, so that the arrays do not grow (a copy each time) while reading: a
        // config of flow-style real servers has a node per 8 bytes and scalar text of 60 % of
        // its bytes (integration/bench's 10,000 × 4 config). What is reserved and never written
        // costs no memory (the pages are never touched).
        builder.document.text.reserveCapacity(bytes.count - bytes.count / 4 + 64)
        builder.document.nodes.reserveCapacity(bytes.count / 6 + 16)
        builder.document.children.reserveCapacity(bytes.count / 6 + 16)
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { throw SyntaxError(message: "libyaml ran out of memory", line: nil) }
        defer { yaml_parser_delete(&parser) }
        yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
        // libyaml reads only `count` bytes from here; an empty buffer may have no address.
        var empty: UInt8 = 0
        if let base = bytes.baseAddress {
            yaml_parser_set_input_string(&parser, base, bytes.count)
        } else {
            yaml_parser_set_input_string(&parser, &empty, 0)
        }

        var event = yaml_event_t()
        try next(&parser, &event)  // STREAM-START
        yaml_event_delete(&event)
        try next(&parser, &event)
        if event.type == YAML_STREAM_END_EVENT {
            yaml_event_delete(&event)
            return nil
        }
        yaml_event_delete(&event)  // DOCUMENT-START
        while true {
            try next(&parser, &event)
            let done: Bool
            do {
                done = try builder.take(event)
            } catch {
                yaml_event_delete(&event)
                throw error
            }
            yaml_event_delete(&event)
            if done { break }
        }
        try next(&parser, &event)  // DOCUMENT-END
        yaml_event_delete(&event)
        try next(&parser, &event)
        defer { yaml_event_delete(&event) }
        if event.type != YAML_STREAM_END_EVENT {
            throw SyntaxError(message: "but found another document", line: Int(event.start_mark.line) + 1)
        }
        return builder.document
    }

    /// The parser's next event into `event`.
    private static func next(_ parser: inout yaml_parser_t, _ event: inout yaml_event_t) throws(SyntaxError) {
        guard yaml_parser_parse(&parser, &event) == 1 else { throw error(of: parser) }
    }

    private static func error(of parser: yaml_parser_t) -> SyntaxError {
        let problem = parser.problem.map { String(cString: $0) } ?? "libyaml failed without saying why"
        switch parser.error {
        case YAML_MEMORY_ERROR: return SyntaxError(message: "libyaml ran out of memory", line: nil)
        case YAML_READER_ERROR: return SyntaxError(message: problem, line: nil)
        default: return SyntaxError(message: problem, line: Int(parser.problem_mark.line) + 1)
        }
    }

    /// Turns the events of one document's content into nodes, without recursion: collections
    /// still open are on `open`, the children they have so far on `pending`.
    private struct Builder {
        var document = YAMLDocument()
        var open: [(node: Int32, firstPending: Int, anchor: String?)] = []
        var pending: [Int32] = []
        var anchors: [String: Int32] = [:]

        /// Takes one event; true once the document's top node is complete.
        mutating func take(_ event: yaml_event_t) throws(SyntaxError) -> Bool {
            let line = Int32(truncatingIfNeeded: event.start_mark.line + 1)
            switch event.type {
            case YAML_SCALAR_EVENT:
                let s = event.data.scalar
                let start = Int32(document.text.count)
                if s.length > 0, let value = s.value {
                    var bytes = UnsafeBufferPointer(start: value, count: s.length)
                    // Yams decoded values with Foundation's String(bytes:encoding: .utf8), which
                    // drops one leading byte order mark.
                    if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
                        bytes = UnsafeBufferPointer(rebasing: bytes.dropFirst(3))
                    }
                    document.text.append(contentsOf: bytes)
                }
                let index = add(Node(kind: .scalar, isPlain: s.style == YAML_PLAIN_SCALAR_STYLE, line: line,
                                     start: start, count: Int32(document.text.count) - start))
                if let anchor = s.anchor { anchors[Self.string(anchor)] = index }
                return complete(index)
            case YAML_ALIAS_EVENT:
                let name = event.data.alias.anchor.map(Self.string) ?? ""
                guard let index = anchors[name] else { throw SyntaxError(message: "found undefined alias", line: Int(line)) }
                return complete(index)
            case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                let isMapping = event.type == YAML_MAPPING_START_EVENT
                let anchor = isMapping ? event.data.mapping_start.anchor : event.data.sequence_start.anchor
                let index = add(Node(kind: isMapping ? .mapping : .sequence, isPlain: false, line: line, start: 0, count: 0))
                open.append((index, pending.count, anchor.map(Self.string)))
                return false
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                let (index, first, anchor) = open.removeLast()
                document.nodes[Int(index)].start = Int32(document.children.count)
                document.nodes[Int(index)].count = Int32(pending.count - first)
                document.children.append(contentsOf: pending[first...])
                pending.removeSubrange(first...)
                if let anchor { anchors[anchor] = index }
                return complete(index)
            default:
                // libyaml produces only the node events above inside a document.
                return false
            }
        }

        private mutating func add(_ node: Node) -> Int32 {
            document.nodes.append(node)
            return Int32(document.nodes.count - 1)
        }

        /// A node is complete: a child of the innermost open collection, or the top node.
        private mutating func complete(_ index: Int32) -> Bool {
            if open.isEmpty {
                document.root = index
                return true
            }
            pending.append(index)
            return false
        }

        /// An anchor's name (invalid UTF-8 repaired, as Yams read it).
        private static func string(_ pointer: UnsafeMutablePointer<UInt8>) -> String { String(cString: pointer) }
    }

    // MARK: Reading

    func kind(_ node: Int32) -> Kind { nodes[Int(node)].kind }

    func line(_ node: Int32) -> Int { Int(nodes[Int(node)].line) }

    /// The children of a collection: items of a sequence; keys and values of a mapping, alternating.
    func children(of node: Int32) -> ArraySlice<Int32> {
        let n = nodes[Int(node)]
        guard n.kind != .scalar else { return [] }
        return children[Int(n.start)..<Int(n.start + n.count)]
    }

    /// The text of a scalar; nil for a collection.
    func string(_ node: Int32) -> String? {
        let n = nodes[Int(node)]
        guard n.kind == .scalar else { return nil }
        return text.withUnsafeBufferPointer {
            String(decoding: UnsafeBufferPointer(rebasing: $0[Int(n.start)..<Int(n.start + n.count)]), as: UTF8.self)
        }
    }

    /// `body` applied to a scalar's UTF-8 bytes; nil for a collection.
    func withScalarBytes<R>(_ node: Int32, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R? {
        let n = nodes[Int(node)]
        guard n.kind == .scalar else { return nil }
        return text.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[Int(n.start)..<Int(n.start + n.count)])) }
    }

    /// True when `node` is a scalar whose text is `expected`, compared as bytes.
    func scalar(_ node: Int32, is expected: StaticString) -> Bool {
        let n = nodes[Int(node)]
        guard n.kind == .scalar, Int(n.count) == expected.utf8CodeUnitCount else { return false }
        return text.withUnsafeBufferPointer { text in
            expected.withUTF8Buffer { $0.elementsEqual(text[Int(n.start)..<Int(n.start + n.count)]) }
        }
    }

    /// True when `node` is a scalar whose text is `expected`.
    func scalar(_ node: Int32, is expected: String) -> Bool {
        let n = nodes[Int(node)]
        guard n.kind == .scalar, Int(n.count) == expected.utf8.count else { return false }
        return text.withUnsafeBufferPointer { expected.utf8.elementsEqual($0[Int(n.start)..<Int(n.start + n.count)]) }
    }

    /// YAML's plain null: an unquoted empty, `~`, `null`, `Null` or `NULL`.
    func isNull(_ node: Int32) -> Bool {
        let n = nodes[Int(node)]
        guard n.kind == .scalar, n.isPlain else { return false }
        return n.count == 0 || scalar(node, is: "~") || scalar(node, is: "null") || scalar(node, is: "Null")
            || scalar(node, is: "NULL")
    }
}
