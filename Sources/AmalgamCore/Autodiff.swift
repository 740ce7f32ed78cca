import Foundation

/// Position of a tracked value: which tape, which node.
@usableFromInline struct TapeReference: Sendable {
    @usableFromInline let tape: Int
    @usableFromInline let index: Int
}

/// A reverse-mode gradient tape (Wengert list).
///
/// Nodes are appended in evaluation order, which is a topological order, so the backward pass
/// walks them in reverse. Each node holds a pullback that maps the gradient of its output to the
/// gradients of its inputs; gradients reaching the same node are added (`+=`), which makes a value
/// used twice correct. A tape lives only inside one ``valueAndGrad(at:_:)`` call.
final class Tape: @unchecked Sendable {
    struct Node {
        var inputs: [Int]                     // node indices, -1 for untracked inputs
        var pullback: ((Tensor) -> [Tensor?])?
        var shape: [Int]
    }
    private static let counter = AtomicCounter()
    @TaskLocal static var current: Tape?

    let id: Int
    var nodes: [Node] = []
    init() { id = Tape.counter.next() }

    func leaf(shape: [Int]) -> TapeReference {
        nodes.append(Node(inputs: [], pullback: nil, shape: shape))
        return TapeReference(tape: id, index: nodes.count - 1)
    }

    func index(of t: Tensor) -> Int {
        if let n = t.node, n.tape == id { return n.index }
        return -1
    }

    /// Gradients of `output` with respect to the nodes listed in `wanted`.
    func backward(from output: Tensor, seed: Tensor, wanted: [Int]) -> [Tensor?] {
        var grads = [Tensor?](repeating: nil, count: nodes.count)
        let start = index(of: output)
        guard start >= 0 else { return wanted.map { _ in nil } }
        grads[start] = seed
        let wantedSet = Set(wanted)
        var kept: [Int: Tensor] = [:]
        for i in stride(from: start, through: 0, by: -1) {
            guard let g = grads[i] else { continue }
            if wantedSet.contains(i) { kept[i] = g }
            guard let pullback = nodes[i].pullback else { continue }
            grads[i] = nil
            nodes[i].pullback = nil  // release what it captured as soon as possible
            let inputGrads = pullback(g)
            for (k, input) in nodes[i].inputs.enumerated() where input >= 0 {
                guard let ig = inputGrads[k] else { continue }
                precondition(ig.shape == nodes[input].shape,
                             "internal: gradient shape \(ig.shape) for a value of shape \(nodes[input].shape)")
                if grads[input] == nil { grads[input] = ig } else { grads[input]!.addInPlace(ig) }
            }
        }
        return wanted.map { kept[$0] }
    }
}

final class AtomicCounter: @unchecked Sendable {
    private var value = 0
    private let lock = NSLock()
    func next() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value }
}

extension Tensor {
    /// Records `output = f(inputs)` on the active tape when any input is tracked.
    /// `pullback` maps the gradient of the output, and which inputs need a gradient, to one
    /// gradient (or nil) per input; it may skip the work for inputs that need none.
    @inline(__always)
    static func record(_ output: inout Tensor, _ inputs: [Tensor], _ pullback: @escaping (Tensor, [Bool]) -> [Tensor?]) {
        guard let tape = Tape.current else { return }
        var anyTracked = false
        for t in inputs where t.node?.tape == tape.id { anyTracked = true; break }
        guard anyTracked else { return }
        let indices = inputs.map { tape.index(of: $0) }
        let needs = indices.map { $0 >= 0 }
        tape.nodes.append(.init(inputs: indices, pullback: { g in pullback(g, needs) }, shape: output.shape))
        output.node = TapeReference(tape: tape.id, index: tape.nodes.count - 1)
    }

    /// The same values, cut off from the gradient tape: no gradient flows through the result.
    public var stopGradient: Tensor {
        var t = self
        t.node = nil
        return t
    }
}

/// Evaluates `body` with gradient recording off (like `torch.no_grad()`).
public func withoutGradients<R>(_ body: () throws -> R) rethrows -> R {
    try Tape.$current.withValue(nil) { try body() }
}

/// Whether operations are being recorded right now.
public var isRecordingGradients: Bool { Tape.current != nil }

/// The value of `f` at `inputs` and its gradient with respect to each input.
///
/// `f` must return a one-element tensor (a loss). Gradients have the shapes of the inputs; an
/// input that does not influence the result gets zeros. The tape is discarded before returning.
public func valueAndGrad(at inputs: [Tensor], _ f: ([Tensor]) throws -> Tensor) rethrows -> (value: Tensor, gradients: [Tensor]) {
    let tape = Tape()
    let tracked = inputs.map { t -> Tensor in
        var c = t
        c.node = tape.leaf(shape: t.shape)
        return c
    }
    let output = try Tape.$current.withValue(tape) { try f(tracked) }
    precondition(output.count == 1, "valueAndGrad needs a one-element result, got shape \(output.shape)")
    let grads = Tape.$current.withValue(nil) {
        tape.backward(from: output, seed: Tensor(repeating: 1, shape: output.shape),
                      wanted: tracked.map { $0.node!.index })
    }
    let result = zip(grads, inputs).map { g, x in g ?? Tensor.zeros(x.shape) }
    return (output.stopGradient, result)
}

/// Gradient of `f` at one input.
public func gradient(at x: Tensor, _ f: (Tensor) throws -> Tensor) rethrows -> Tensor {
    try valueAndGrad(at: [x]) { try f($0[0]) }.gradients[0]
}

/// Vector–Jacobian product: the gradient of `sum(f(inputs) * seed)` with respect to the inputs,
/// for an `f` with any output shape. Used by gradient checks and by methods that need it.
public func vectorJacobianProduct(at inputs: [Tensor], seed: Tensor, _ f: ([Tensor]) throws -> Tensor) rethrows -> (value: Tensor, gradients: [Tensor]) {
    let tape = Tape()
    let tracked = inputs.map { t -> Tensor in
        var c = t
        c.node = tape.leaf(shape: t.shape)
        return c
    }
    let output = try Tape.$current.withValue(tape) { try f(tracked) }
    precondition(output.shape == seed.shape, "seed shape \(seed.shape) must equal output shape \(output.shape)")
    let grads = Tape.$current.withValue(nil) {
        tape.backward(from: output, seed: seed, wanted: tracked.map { $0.node!.index })
    }
    return (output.stopGradient, zip(grads, inputs).map { g, x in g ?? Tensor.zeros(x.shape) })
}
