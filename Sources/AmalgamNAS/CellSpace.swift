import AmalgamCore

/// An operation on one edge of a NAS-Bench-201 cell (Dong & Yang 2020), with the benchmark's
/// names.
public enum CellOperation: String, CaseIterable, Codable, Sendable {
    /// The zero operation: the edge contributes nothing.
    case none
    /// The identity.
    case skip = "skip_connect"
    /// ReLU → 1×1 convolution → batch norm.
    case conv1x1 = "nor_conv_1x1"
    /// ReLU → 3×3 convolution (padding 1) → batch norm.
    case conv3x3 = "nor_conv_3x3"
    /// 3×3 average pooling, stride 1, padding 1, padding not counted in the divisor.
    case avgPool3x3 = "avg_pool_3x3"
}

/// A NAS-Bench-201 cell: a DAG of 4 nodes (0 = the cell's input, 3 = its output) in which every
/// pair i < j is an edge, so 6 edges, each holding one ``CellOperation``; node j is the sum over
/// i < j of op_ij(node i). 5⁶ = 15,625 cells.
///
/// The arch string is the benchmark's: one `+`-separated group per node 1…3, each `|op~i|` the
/// operation on the edge from node i, e.g. `|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|none~1|nor_conv_3x3~2|`.
public struct Cell: Hashable, Codable, Sendable, CustomStringConvertible {
    /// The edges (from, to) in the order of ``operations`` and of the arch string.
    public static let edges: [(from: Int, to: Int)] = [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)]

    /// One operation per edge, in the order of ``edges``.
    public var operations: [CellOperation]

    public init(_ operations: [CellOperation]) throws {
        guard operations.count == 6 else { throw AmalgamError.invalidArgument("a cell has 6 edges, got \(operations.count) operations") }
        self.operations = operations
    }

    /// The operation on the edge from node `from` to node `to`.
    public func operation(from: Int, to: Int) -> CellOperation {
        operations[Cell.edges.firstIndex { $0.from == from && $0.to == to }!]
    }

    /// Parses an arch string. A malformed string is an error naming the character position
    /// (1-based) where parsing failed and what was expected there.
    public init(parsing text: String) throws {
        let chars = Array(text)
        var pos = 0
        func fail(_ what: String) -> AmalgamError {
            let found = pos < chars.count ? "'\(chars[pos])'" : "the end"
            return .invalidArgument("arch string '\(text)': expected \(what) at position \(pos + 1), found \(found)")
        }
        func expect(_ c: Character) throws {
            guard pos < chars.count, chars[pos] == c else { throw fail("'\(c)'") }
            pos += 1
        }
        var ops: [CellOperation] = []
        for node in 1...3 {
            if node > 1 { try expect("+") }
            try expect("|")
            for source in 0..<node {
                let start = pos
                while pos < chars.count, chars[pos] != "~", chars[pos] != "|", chars[pos] != "+" { pos += 1 }
                let name = String(chars[start..<pos])
                guard let op = CellOperation(rawValue: name) else {
                    pos = start
                    if name.isEmpty { throw fail("an operation") }
                    throw AmalgamError.invalidArgument("arch string '\(text)': unknown operation '\(name)' at position \(start + 1) (operations: \(CellOperation.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                try expect("~")
                guard pos < chars.count, let digit = chars[pos].wholeNumberValue else { throw fail("the source node \(source)") }
                guard digit == source else { throw fail("the source node \(source) (edges of node \(node) come from nodes 0…\(node - 1) in order)") }
                pos += 1
                try expect("|")
                ops.append(op)
            }
        }
        guard pos == chars.count else { throw fail("the end of the string") }
        // Arch-string order is by target node: (0,1) | (0,2) (1,2) | (0,3) (1,3) (2,3) — the
        // order of `edges`.
        try self.init(ops)
    }

    /// The arch string.
    public var description: String {
        var groups: [String] = []
        var i = 0
        for node in 1...3 {
            var g = "|"
            for source in 0..<node { g += "\(operations[i].rawValue)~\(source)|"; i += 1 }
            groups.append(g)
        }
        return groups.joined(separator: "+")
    }

    /// The cell's form up to isomorphism, by NAS-Bench-201's own rule (`to_unique_str` with
    /// `consider_zero=True` in its API): each node is written as the sorted sum of its incoming
    /// terms, a skip edge passes its source's form unchanged, any other operation wraps it as
    /// `(source)@op`, and an edge whose operation is `none` or whose source is zero becomes the
    /// zero term `#`, which stays in the sum (a node summing two zeros is `#+#`, not `#`, so it
    /// is not recognised as zero further on). Two cells with the same form compute the same
    /// function up to the order of summation. With this rule the 15,625 cells fall into
    /// **6,466** classes, the benchmark's count (a test checks it). A stricter rule that drops
    /// zero terms would merge more cells (to 5,390: zero summands change nothing but the
    /// benchmark keeps such cells apart); we keep its convention so our counts compare with its.
    public var canonicalForm: String {
        var nodes = ["x"]
        var i = 0
        for node in 1...3 {
            var terms: [String] = []
            for source in 0..<node {
                let op = operations[i]; i += 1
                let s = nodes[source]
                if op == .none || s == "#" { terms.append("#") } else if op == .skip { terms.append(s) } else { terms.append("(\(s))@\(op.rawValue)") }
            }
            nodes.append(terms.sorted().joined(separator: "+"))
            _ = node
        }
        return nodes[3]
    }

    /// Every cell of the space (5⁶), in lexicographic order of operation indices.
    public static var all: [Cell] {
        var out: [Cell] = []
        out.reserveCapacity(15_625)
        for code in 0..<15_625 {
            var c = code, ops: [CellOperation] = []
            for _ in 0..<6 { ops.append(CellOperation.allCases[c % 5]); c /= 5 }
            out.append(try! Cell(ops.reversed()))
        }
        return out
    }

    /// One representative per isomorphism class (the first in ``all``'s order), in that order.
    public static var unique: [Cell] {
        var seen = Set<String>()
        return all.filter { seen.insert($0.canonicalForm).inserted }
    }

    /// Whether the cell's output depends on its input (some path of non-`none` edges from node 0
    /// to node 3); a cell without one outputs zeros.
    public var isConnected: Bool {
        var live = [true]
        for node in 1...3 { live.append((0..<node).contains { live[$0] && operation(from: $0, to: node) != .none }) }
        return live[3]
    }
}
