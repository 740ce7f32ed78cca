@testable import AmalgamCore
import XCTest

/// The two backends (oneDNN and im2col + OpenBLAS) compute the same convolutions and products.
///
/// Agreement is measured norm-wise, ‖a − b‖∞ / ‖b‖∞ ≤ 1e-5: the two sum in different orders, so
/// single elements near zero can differ by more in relative terms while both are right.
final class BackendTests: XCTestCase {
    var rng = RandomGenerator(seed: 11)

    func randn(_ shape: [Int], scale: Float = 1) -> Tensor { Tensor.normal(shape, std: scale, using: &rng) }

    /// CI installs oneDNN (scripts/setup.sh) and sets AMALGAM_REQUIRE_DATA=1: there it must load.
    func requireOneDNN() throws {
        if !Backend.available {
            if ProcessInfo.processInfo.environment["AMALGAM_REQUIRE_DATA"] != nil {
                XCTFail("oneDNN did not load: \(Backend.unavailableReason)")
            }
            throw XCTSkip("oneDNN unavailable: \(Backend.unavailableReason)")
        }
    }

    func relativeDifference(_ a: Tensor, _ b: Tensor) -> Float {
        precondition(a.shape == b.shape)
        var diff: Float = 0, scale: Float = 0
        for (u, v) in zip(a.scalars, b.scalars) { diff = max(diff, abs(u - v)); scale = max(scale, abs(v)) }
        return scale == 0 ? diff : diff / scale
    }

    struct ConvCase: CustomStringConvertible {
        var n, c, h, w, oc, kh, kw: Int
        var stride = (1, 1), padding = (0, 0), dilation = (1, 1), groups = 1
        var bias = true
        var description: String {
            "n\(n) \(c)→\(oc) \(h)×\(w) k\(kh)×\(kw) s\(stride) p\(padding) d\(dilation) g\(groups)\(bias ? " bias" : "")"
        }
    }

    static let convCases: [ConvCase] = [
        ConvCase(n: 2, c: 3, h: 9, w: 9, oc: 4, kh: 3, kw: 3),
        ConvCase(n: 1, c: 1, h: 28, w: 28, oc: 8, kh: 5, kw: 5, padding: (2, 2)),                 // batch 1, first layer
        ConvCase(n: 3, c: 16, h: 14, w: 14, oc: 32, kh: 3, kw: 3, stride: (2, 2), padding: (1, 1)), // ResNet downsampling
        ConvCase(n: 2, c: 16, h: 14, w: 14, oc: 32, kh: 1, kw: 1, stride: (2, 2), bias: false),   // 1×1 shortcut, even size
        ConvCase(n: 2, c: 8, h: 7, w: 11, oc: 8, kh: 3, kw: 3, padding: (1, 1), groups: 8),        // depthwise, odd sizes
        ConvCase(n: 2, c: 8, h: 10, w: 9, oc: 12, kh: 3, kw: 3, padding: (1, 1), groups: 4, bias: false),
        ConvCase(n: 2, c: 4, h: 13, w: 12, oc: 6, kh: 3, kw: 3, padding: (2, 2), dilation: (2, 2)),
        ConvCase(n: 2, c: 3, h: 11, w: 10, oc: 5, kh: 2, kw: 5, stride: (1, 2), padding: (1, 2), dilation: (2, 1)), // non-square
        ConvCase(n: 2, c: 5, h: 8, w: 8, oc: 7, kh: 1, kw: 1),                                    // pointwise
        ConvCase(n: 1, c: 6, h: 5, w: 31, oc: 6, kh: 1, kw: 9, padding: (0, 8), dilation: (1, 2), groups: 3), // 1-D-like, grouped
        ConvCase(n: 2, c: 2, h: 4, w: 4, oc: 3, kh: 4, kw: 4),                                    // kernel = input, 1×1 output
    ]

    /// Output and gradients (input, weight, bias) of Σ r ⊙ conv(x) on one backend.
    func convRun(_ k: ConvCase, _ x: Tensor, _ wt: Tensor, _ b: Tensor, _ r: Tensor, on backend: Backend) -> [Tensor] {
        Backend.with(backend) {
            var inputs = [x, wt]
            if k.bias { inputs.append(b) }
            let out = Tensor.conv2d(x, weight: wt, bias: k.bias ? b : nil, stride: k.stride, padding: k.padding, dilation: k.dilation, groups: k.groups)
            let grads = valueAndGrad(at: inputs) { v in
                (Tensor.conv2d(v[0], weight: v[1], bias: k.bias ? v[2] : nil, stride: k.stride, padding: k.padding,
                               dilation: k.dilation, groups: k.groups) * r).sum()
            }.gradients
            return [out] + grads
        }
    }

    func testConvolutionBackendsAgreeForwardAndBackward() throws {
        try requireOneDNN()
        for k in Self.convCases {
            let x = randn([k.n, k.c, k.h, k.w]), wt = randn([k.oc, k.c / k.groups, k.kh, k.kw], scale: 0.3), b = randn([k.oc])
            let oh = (k.h + 2 * k.padding.0 - k.dilation.0 * (k.kh - 1) - 1) / k.stride.0 + 1
            let ow = (k.w + 2 * k.padding.1 - k.dilation.1 * (k.kw - 1) - 1) / k.stride.1 + 1
            let r = randn([k.n, k.oc, oh, ow])
            let dnnl = convRun(k, x, wt, b, r, on: .oneDNN), blas = convRun(k, x, wt, b, r, on: .openBLAS)
            for (name, (u, v)) in zip(["output", "d input", "d weight", "d bias"], zip(dnnl, blas)) {
                XCTAssertEqual(u.shape, v.shape, "\(k) \(name)")
                XCTAssertLessThanOrEqual(relativeDifference(u, v), 1e-5, "\(k) \(name)")
            }
            let key = OneDNNConvolutions.Key(n: k.n, c: k.c, h: k.h, w: k.w, oc: k.oc, kh: k.kh, kw: k.kw, sh: k.stride.0, sw: k.stride.1,
                                             ph: k.padding.0, pw: k.padding.1, dh: k.dilation.0, dw: k.dilation.1, groups: k.groups,
                                             bias: k.bias, relu: false)
            XCTAssertNotNil(OneDNNConvolutions.implementations(key), "\(k): oneDNN refused the shape and OpenBLAS ran it")
        }
    }

    /// Finite differences on the oneDNN path (and on OpenBLAS, whichever is the default).
    func testConvolutionGradientsByFiniteDifferencesOnBothBackends() throws {
        try requireOneDNN()
        for backend in Backend.allCases {
            for k in Self.convCases where k.n * k.c * k.h * k.w <= 600 {
                var inputs = [randn([k.n, k.c, k.h, k.w]), randn([k.oc, k.c / k.groups, k.kh, k.kw], scale: 0.5)]
                if k.bias { inputs.append(randn([k.oc])) }
                let r = Backend.with(backend) {
                    gradientCheck(inputs) { v in
                        Tensor.conv2d(v[0], weight: v[1], bias: k.bias ? v[2] : nil, stride: k.stride, padding: k.padding,
                                      dilation: k.dilation, groups: k.groups)
                    }
                }
                XCTAssertLessThan(r.maxError, 5e-3, "\(backend) \(k): \(r)")
            }
        }
    }

    /// Matrix products (plain, every transpose, batched, shared matrix, the fused linear map) on
    /// both backends, forward and backward; sizes on both sides of the 2¹⁴ cut-off below which
    /// products stay on OpenBLAS.
    func testMatrixProductsAgreeOnBothBackends() throws {
        try requireOneDNN()
        let shapes: [(Int, Int, Int)] = [(3, 4, 5), (64, 96, 80), (1, 300, 129), (130, 1, 200), (33, 65, 17)]
        for (m, k, n) in shapes {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let a = randn(ta ? [2, k, m] : [2, m, k]), b = randn(tb ? [2, n, k] : [2, k, n]), r = randn([2, m, n])
                func run(_ backend: Backend) -> [Tensor] {
                    Backend.with(backend) {
                        let y = Tensor.matmul(a, b, transposeA: ta, transposeB: tb)
                        return [y] + valueAndGrad(at: [a, b]) { (Tensor.matmul($0[0], $0[1], transposeA: ta, transposeB: tb) * r).sum() }.gradients
                    }
                }
                for (u, v) in zip(run(.oneDNN), run(.openBLAS)) {
                    XCTAssertLessThanOrEqual(relativeDifference(u, v), 1e-5, "matmul \(m)×\(k)×\(n) ta \(ta) tb \(tb)")
                }
            }
            let x = randn([m, k]), w = randn([n, k]), bias = randn([n]), shared = randn([k, n]), batched = randn([3, m, k])
            func linear(_ backend: Backend) -> [Tensor] {
                Backend.with(backend) {
                    [Tensor.linear(x, weight: w, bias: bias), Tensor.matmul(batched, shared)]
                        + valueAndGrad(at: [x, w, bias]) { Tensor.linear($0[0], weight: $0[1], bias: $0[2]).squared().sum() }.gradients
                }
            }
            for (u, v) in zip(linear(.oneDNN), linear(.openBLAS)) {
                XCTAssertLessThanOrEqual(relativeDifference(u, v), 1e-5, "linear / shared matrix \(m)×\(k)×\(n)")
            }
        }
    }

    /// Primitives are created once per shape: a second training step creates none.
    func testRepeatedStepCreatesNoPrimitive() throws {
        try requireOneDNN()
        let x = randn([4, 3, 12, 12]), w1 = randn([6, 3, 3, 3]), w2 = randn([5, 6, 3, 3])
        func step() -> [Tensor] {
            Backend.with(.oneDNN) {
                valueAndGrad(at: [x, w1, w2]) { v in
                    Tensor.conv2d(Tensor.conv2d(v[0], weight: v[1], padding: (1, 1)).relu(), weight: v[2], stride: (2, 2)).sum()
                }.gradients
            }
        }
        let first = step()
        let created = OneDNNConvolutions.count
        let second = step()
        XCTAssertEqual(OneDNNConvolutions.count, created)
        // Deterministic: the same inputs give the same bits.
        for (a, b) in zip(first, second) { XCTAssertEqual(a.scalars, b.scalars) }
    }

    /// oneDNN fixes a primitive's split over threads when it creates it, and its 1×1
    /// backward-weights kernel on AVX2 adds per-thread partial gradients (ResNet-20's stride-2
    /// shortcut shape; `scripts/reliability/threads.c`). Primitives are cached per thread count, so
    /// the weight gradient at one worker is the same whether or not a two-worker run came first.
    func testResultAtAThreadCountDoesNotDependOnEarlierThreadCounts() throws {
        try requireOneDNN()
        let saved = Threading.kernelWorkers
        defer { Threading.kernelWorkers = saved }
        let x = randn([64, 16, 28, 28]), w = randn([32, 16, 1, 1]), r = randn([64, 32, 14, 14])
        func weightGradient(workers: Int) -> [Float] {
            Threading.kernelWorkers = workers
            return Backend.with(.oneDNN) {
                valueAndGrad(at: [w]) { (Tensor.conv2d(x, weight: $0[0], stride: (2, 2)) * r).sum() }.gradients[0].scalars
            }
        }
        OneDNNConvolutions.removeAll()
        let fresh = weightGradient(workers: 1)
        OneDNNConvolutions.removeAll()
        _ = weightGradient(workers: 2)
        let afterTwo = weightGradient(workers: 1)
        XCTAssertEqual(afterTwo, fresh, "the one-worker gradient changed after a two-worker run")
    }

    func testEnvironmentChoiceAndFallback() {
        XCTAssertEqual(Backend(rawValue: "openblas"), .openBLAS)
        XCTAssertEqual(Backend(rawValue: "onednn"), .oneDNN)
        let saved = Backend.current
        Backend.current = .oneDNN
        XCTAssertEqual(Backend.current, Backend.available ? .oneDNN : .openBLAS, "oneDNN chosen where it cannot load must fall back")
        Backend.current = saved
        if ProcessInfo.processInfo.environment["AMALGAM_BACKEND"] == "openblas" { XCTAssertEqual(Backend.current, .openBLAS) }
    }
}
