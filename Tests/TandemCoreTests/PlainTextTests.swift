#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Testing
@testable import TandemCore

/// The Foundation replacements of the daemon's path: each expected value is what full
/// Foundation's call gives (checked against it once over every Unicode scalar and these paths).
@Suite struct PlainTextTests {
    @Test func trimsAsFoundationsCharacterSetsDo() {
        #expect(" \t x y \n".trimmingWhitespace() == "x y \n")
        #expect("\n x \n\r".trimmingWhitespaceAndNewlines() == "x")
        #expect("\nx\n".trimmingNewlines() == "x")
        #expect("\u{A0}q\u{3000}\u{200B}".trimmingWhitespace() == "q")   // Zs, and U+200B as Foundation counts it
        #expect("\u{2028}a\u{85}".trimmingNewlines() == "a")
        #expect("   ".trimmingWhitespace() == "")
        #expect("".trimmingWhitespaceAndNewlines() == "")
        // Scalar by scalar: a space that a combining mark follows is still trimmed.
        #expect(" \u{301}x".trimmingWhitespace().unicodeScalars.first == "\u{301}")
    }

    @Test func replacesEveryScalar() {
        #expect("a \"b\" c".replacingScalar("\"", with: "\\\"") == "a \\\"b\\\" c")
        #expect("one\r\ntwo\nthree".replacingScalar("\n", with: " ") == "one\r two three")
        #expect("\"\u{301}".replacingScalar("\"", with: "'") == "'\u{301}")
    }

    static let paths: [(path: String, last: String, directory: String, appended: String)] = [
        ("/run/tandem/control.sock", "control.sock", "/run/tandem", "/run/tandem/control.sock/boot-epoch"),
        ("control.sock", "control.sock", "", "control.sock/boot-epoch"),
        ("/x", "x", "/", "/x/boot-epoch"),
        ("/", "/", "/", "/boot-epoch"),
        ("", "", "", "boot-epoch"),
        ("/a/b/", "b", "/a", "/a/b/boot-epoch"),
        ("/var//lib/tandem", "tandem", "/var/lib", "/var//lib/tandem/boot-epoch"),
        ("//x//y//", "y", "/x", "//x//y//boot-epoch"),
        ("///", "", "", "///boot-epoch"),
    ]

    @Test(arguments: paths)
    func pathArithmeticAsNSString(_ c: (path: String, last: String, directory: String, appended: String)) {
        #expect(PathText.lastComponent(of: c.path) == c.last)
        #expect(PathText.directory(of: c.path) == c.directory)
        #expect(PathText.appending("boot-epoch", to: c.path) == c.appended)
    }

    @Test func fileErrorsReadInPlainWords() {
        #expect(throws: (any Error).self) { _ = try Data(contentsOf: URL(fileURLWithPath: "/nonexistent-tandem/key")) }
        do {
            _ = try Data(contentsOf: URL(fileURLWithPath: "/nonexistent-tandem/key"))
        } catch {
            #expect(FileErrorText.describe(error) == "no such file")
        }
        #expect(FileErrorText.describe(CocoaError(.fileWriteUnknown))
            == "file error 512 (NSCocoaErrorDomain)")
        #expect(FileErrorText.describe(CocoaError(.fileWriteOutOfSpace)) == "no space left on the device")
    }
}
