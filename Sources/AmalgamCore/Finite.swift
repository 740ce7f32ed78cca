import COpenBLAS

extension Tensor {
    /// Whether every element is finite (no NaN, no ±∞). One vectorised pass (OpenBLAS's `sasum`,
    /// through which a NaN or an infinity propagates); only when that sum is not finite — a
    /// non-finite element, or finite ones summing past `Float.greatestFiniteMagnitude` — are the
    /// elements looked at one by one. The training loop checks every gradient with it each step.
    public var allFinite: Bool {
        withUnsafeBufferPointer { p in
            guard let base = p.baseAddress, p.count > 0 else { return true }
            if p.count < 64 { return !p.contains { !$0.isFinite } }
            var start = 0
            while start < p.count {   // sasum takes an Int32 count
                let n = Swift.min(p.count - start, Int(Int32.max))
                let s = cblas_sasum(Int32(n), base + start, 1)
                if !s.isFinite && UnsafeBufferPointer(start: base + start, count: n).contains(where: { !$0.isFinite }) { return false }
                start += n
            }
            return true
        }
    }

    /// The index of the first non-finite element, if any.
    public var firstNonFinite: (index: Int, value: Float)? {
        withUnsafeBufferPointer { p in p.firstIndex { !$0.isFinite }.map { ($0, p[$0]) } }
    }
}
