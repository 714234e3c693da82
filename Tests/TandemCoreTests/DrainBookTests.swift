import Testing
@testable import TandemCore

@Suite struct DrainBookTests {
    static let web1 = RealServerID(service: "web", address: IPAddress("10.0.0.1")!, port: 80)
    static let web2 = RealServerID(service: "web", address: IPAddress("10.0.0.2")!, port: 80)

    @Test func generationsGrowEvenWhenTheWallClockStepsBack() {
        var book = DrainBook()
        book.change([Self.web1], drained: true, wallClock: 5_000)
        #expect(book.generation == 5_000)
        book.change([Self.web2], drained: true, wallClock: 1_000)
        #expect(book.generation == 5_001)
        book.change([Self.web1], drained: false, wallClock: 9_000)
        #expect(book.generation == 9_000)
        #expect(book.drained == [Self.web2])
        #expect(book.list == DrainList(generation: 9_000, entries: ["web 10.0.0.2 80"]))
    }

    struct MergeRow: CustomTestStringConvertible, Sendable {
        var name: String
        var ours: UInt64
        var theirs: DrainList
        var expected: DrainBook.Merge
        var after: Set<RealServerID>
        var testDescription: String { name }
    }

    static let rows: [MergeRow] = [
        MergeRow(name: "a newer list from the peer is adopted whole", ours: 10,
                 theirs: DrainList(generation: 20, entries: ["web 10.0.0.2 80"]),
                 expected: .adopted([web2]), after: [web2]),
        MergeRow(name: "a newer empty list undrains everything", ours: 10, theirs: DrainList(generation: 20, entries: []),
                 expected: .adopted([]), after: []),
        MergeRow(name: "the same generation is the same list", ours: 10, theirs: DrainList(generation: 10, entries: []),
                 expected: .same, after: [web1]),
        MergeRow(name: "an older list is answered with ours", ours: 10, theirs: DrainList(generation: 3, entries: []),
                 expected: .sendOursBack(DrainList(generation: 10, entries: ["web 10.0.0.1 80"])), after: [web1]),
        MergeRow(name: "a malformed line refuses the whole list", ours: 10,
                 theirs: DrainList(generation: 20, entries: ["web 10.0.0.2 80", "web 10.0.0.3"]),
                 expected: .malformed(line: "web 10.0.0.3"), after: [web1]),
    ]

    @Test(arguments: rows) func merge(_ row: MergeRow) {
        var book = DrainBook(drained: [Self.web1], generation: row.ours)
        #expect(book.merge(row.theirs) == row.expected)
        #expect(book.drained == row.after)
    }

    @Test func linesRoundTripAndRejectWhatIsNotServiceAddressPort() {
        let ids: Set = [Self.web1, RealServerID(service: "dns", address: IPAddress("2001:db8::1")!, port: 53)]
        #expect(Set(DrainBook.lines(ids).compactMap { DrainBook.parse($0) }) == ids)
        for bad in ["", "web", "web 10.0.0.1", "web nothere 80", "web 10.0.0.1 70000", "web 10.0.0.1 80 extra"] {
            #expect(DrainBook.parse(bad) == nil, "\(bad)")
        }
    }
}
