/// Counts the multiply–accumulates of the products a computation runs: every ``Tensor/conv2d(_:weight:bias:stride:padding:dilation:groups:fusedReLU:)``
/// (N·OC·OH·OW·(C/groups)·kh·kw), ``Tensor/matmul(_:_:transposeA:transposeB:)`` (batch·m·n·k) and
/// ``Tensor/linear(_:weight:bias:)`` (rows·in·out), the convention of fvcore and thop ("FLOPs"
/// in most papers are these MACs). Element-wise work, softmax, pooling and normalisation are not
/// counted. Pullbacks run outside the counting closure in practice; count a forward pass.
///
/// Not thread-safe: count on one thread at a time (the kernels' own workers do not touch it).
public enum MACCounter {
    nonisolated(unsafe) static var active = false
    nonisolated(unsafe) static var total = 0

    /// Runs `body` and returns its result with the multiply–accumulates it ran.
    public static func counting<T>(_ body: () throws -> T) rethrows -> (result: T, macs: Int) {
        let (wasActive, before) = (active, total)
        active = true
        defer { active = wasActive }
        let r = try body()
        let macs = total - before
        if !wasActive { total = 0 }
        return (r, macs)
    }

    @inline(__always) static func add(_ n: Int) { if active { total &+= n } }
}
