import Testing
@testable import TandemCore

@Suite struct AgentReplyTests {
    static let valid: [(String, AgentReply)] = [
        ("75%", AgentReply(weightPercent: 75)),
        ("75%\n", AgentReply(weightPercent: 75)),
        ("75%\r\n", AgentReply(weightPercent: 75)),
        ("up", AgentReply(availability: .up)),
        ("READY", AgentReply(availability: .up)),
        ("down", AgentReply(availability: .down)),
        ("failed", AgentReply(availability: .down)),
        ("stopped #backup running", AgentReply(availability: .down, comment: "backup running")),
        ("drain", AgentReply(availability: .drain)),
        ("maint", AgentReply(availability: .maint)),
        ("up 50%", AgentReply(availability: .up, weightPercent: 50)),
        ("50%,drain", AgentReply(availability: .drain, weightPercent: 50)),
        ("\tup\t 0% ", AgentReply(availability: .up, weightPercent: 0)),
        ("up maxconn:30 80%", AgentReply(availability: .up, weightPercent: 80)),
        ("1000%", AgentReply(weightPercent: 1000)),
        ("down #", AgentReply(availability: .down)),
        ("up\nignored second line", AgentReply(availability: .up)),
    ]

    @Test(arguments: valid)
    func parses(_ text: String, _ expected: AgentReply) throws {
        #expect(try AgentReply.parse(text).get() == expected)
    }

    static let invalid: [(String, AgentReply.ParseError)] = [
        ("", .empty),
        ("\n", .empty),
        ("  # only a comment", .empty),
        ("healthy", .unknownWord("healthy")),
        ("%", .unknownWord("%")),
        ("-5%", .unknownWord("-5%")),
        ("5.5%", .unknownWord("5.5%")),
        ("1001%", .percentOutOfRange("1001%")),
        ("maxconn:x", .unknownWord("maxconn:x")),
        ("HTTP/1.1 200 OK", .unknownWord("HTTP/1.1")),
    ]

    @Test(arguments: invalid)
    func rejects(_ text: String, _ expected: AgentReply.ParseError) {
        #expect(throws: expected) { try AgentReply.parse(text).get() }
    }

    @Test func resultOfReply() throws {
        #expect(ProbeResult.agent(try AgentReply.parse("down").get(), text: "down").passed == false)
        #expect(ProbeResult.agent(try AgentReply.parse("maint").get(), text: "maint").forcesDown)
        #expect(ProbeResult.agent(try AgentReply.parse("drain").get(), text: "drain").passed)
        #expect(ProbeResult.agent(try AgentReply.parse("0%").get(), text: "0%").passed)
    }
}

@Suite struct ReplyMatcherTests {
    static let cases: [(pattern: String, reply: String, matches: Bool)] = [
        ("^220", "220 mail.example.com ESMTP\r\n", true),
        ("^220", "554 no\r\n220 later", false),
        ("pong", "ping pong", true),
        ("^pong$", "pong", true),
        ("^pong$", "pong\n", true),
        ("^pong$", "pong\r\n", true),   // ICU's `$`: before the final line terminator too
        ("^pong$", "pong\n\n", false),  // but only the final one
        ("pong\\z", "pong\n", false),
        ("(?m)^b$", "a\nb\nc", true),
        ("^b$", "a\nb\nc", false),
        ("OK", "ok", false),
        ("(?i)ok", "ok", true),
        ("status: (up|ready)", "x\nstatus: ready\n", true),
    ]

    @Test(arguments: cases)
    func matches(_ c: (pattern: String, reply: String, matches: Bool)) throws {
        let m = try ReplyMatcher(pattern: c.pattern)
        #expect(m.matches(Array(c.reply.utf8)) == c.matches)
    }

    @Test func onlyTheFirstLimitBytesCount() throws {
        let m = try ReplyMatcher(pattern: "needle", limit: 100)
        let x = { (n: Int) in Array(repeating: UInt8(ascii: "x"), count: n) }
        #expect(m.matches(x(94) + Array("needle".utf8)))          // ends at byte 100
        #expect(m.matches(x(97) + Array("needle".utf8)) == false) // crosses byte 100
        #expect(m.matches(x(100) + Array("needle".utf8)) == false)
    }

    @Test func binaryAndInvalidUTF8DoNotBreakMatching() throws {
        let m = try ReplyMatcher(pattern: "OK")
        #expect(m.matches([0xFF, 0xFE, 0x00, UInt8(ascii: "O"), UInt8(ascii: "K")]))
    }

    @Test func invalidPatternNamesItself() {
        #expect(throws: MatcherError(pattern: "(")) { try ReplyMatcher(pattern: "(") }
    }

    @Test func excerptEscapesAndTruncates() {
        #expect(ReplyMatcher.excerpt(Array("a\r\n\u{1}".utf8)) == "a\\r\\n\\x01")
        #expect(ReplyMatcher.excerpt(Array(repeating: UInt8(ascii: "z"), count: 41)) == String(repeating: "z", count: 40) + "…")
    }
}

@Suite struct CommandTemplateTests {
    static let cases: [(String, String, UInt16, String)] = [
        ("%h", "10.0.0.1", 80, "10.0.0.1"),
        ("%h:%p", "10.0.0.1", 8080, "10.0.0.1:8080"),
        ("http://[%h]:%p/", "2001:db8::1", 443, "http://[2001:db8::1]:443/"),
        ("100%%", "10.0.0.1", 80, "100%"),
        ("%%h", "10.0.0.1", 80, "%h"),
        ("%x stays", "10.0.0.1", 80, "%x stays"),
        ("trailing %", "10.0.0.1", 80, "trailing %"),
        ("no substitution", "10.0.0.1", 80, "no substitution"),
    ]

    @Test(arguments: cases)
    func substitutes(_ template: String, _ address: String, _ port: UInt16, _ expected: String) throws {
        let a = try #require(IPAddress(address))
        #expect(CommandTemplate.substitute(template, address: a, port: port) == expected)
    }

    @Test func substitutesEveryArgumentWithoutSplitting() throws {
        let a = try #require(IPAddress("192.0.2.31"))
        #expect(CommandTemplate.substitute(["/bin/check", "%h", "port %p"], address: a, port: 0)
                == ["/bin/check", "192.0.2.31", "port 0"])
    }
}
