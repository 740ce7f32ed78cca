import AmalgamCore
import AmalgamNN
@testable import AmalgamAttention
import XCTest

final class ModuleTests: XCTestCase {
    /// Every module with its default options at a small width (reduction 2 so bottlenecks exist).
    func allModules(channels: Int = 8, seed: UInt64 = 1) throws -> [(AttentionKind, Module)] {
        var rng = RandomGenerator(seed: seed)
        return try AttentionKind.allCases.map { ($0, try $0.make(channels: channels, options: AttentionOptions(reduction: 2, window: 3, heads: 2), using: &rng)) }
    }

    func testAtLeastTwelveModulesInEveryCategory() {
        XCTAssertGreaterThanOrEqual(AttentionKind.allCases.count, 12)
        XCTAssertEqual(Set(AttentionKind.allCases.map(\.category)).count, 5)
    }

    func testEveryModulePreservesShape() throws {
        var rng = RandomGenerator(seed: 2)
        let x = Tensor.normal([2, 8, 7, 5], using: &rng)
        for (kind, m) in try allModules() { XCTAssertEqual(try m(x).shape, x.shape, kind.rawValue) }
    }

    /// Finite differences for the input and every parameter of every module, in evaluation mode
    /// (batch norms affine with their running statistics: batch statistics over two examples make
    /// finite differences meaningless; BN's own training-mode gradient is checked in the engine's
    /// tests). ReLUs and max-pools have kinks, and a weight feeding many ReLUs (selective kernel's
    /// branches) puts some pre-activation within any step of zero: the check runs at steps 1e-3
    /// and 1e-4 and takes the better. A kink's error shrinks with the step, a wrong gradient's does not.
    func testGradientsMatchFiniteDifferences() throws {
        var rng = RandomGenerator(seed: 3)
        let x = Tensor.normal([2, 8, 4, 3], using: &rng)
        for (kind, m) in try allModules() {
            m.eval()
            let params = m.namedParameters().map(\.1)
            let saved = params.map(\.value)
            var results: [GradientCheckResult] = []
            for step: Float in [1e-3, 1e-4] {
                results.append(try gradientCheck([x] + saved, step: step) { xs in
                    for (p, v) in zip(params, xs.dropFirst()) { p.value = v }
                    return try m(xs[0])
                })
                for (p, v) in zip(params, saved) { p.value = v }
            }
            XCTAssertLessThan(min(results[0].maxError, results[1].maxError), 1.5e-2, "\(kind.rawValue): \(results)")
        }
    }

    func testNonLocalAndGlobalContextAreIdentityAtInitialisation() throws {
        var rng = RandomGenerator(seed: 4)
        let x = Tensor.normal([2, 8, 5, 5], using: &rng)
        XCTAssertEqual(try NonLocal(channels: 8, using: &rng)(x).scalars, x.scalars)
        XCTAssertEqual(try GlobalContext(channels: 8, reduction: 2, using: &rng)(x).scalars, x.scalars)
    }

    func testChannelGatesAreInUnitIntervalAndIgnoreSpatialOrder() throws {
        var rng = RandomGenerator(seed: 5)
        let x = Tensor.normal([2, 16, 4, 4], std: 3, using: &rng)
        let perm = rng.permutation(16)
        let xp = x.reshaped([2, 16, 16]).indexSelect(axis: 2, indices: perm).reshaped([2, 16, 4, 4])
        let se = try SqueezeExcitation(channels: 16, reduction: 4, using: &rng), eca = try EfficientChannelAttention(channels: 16, using: &rng)
        for g in [try se.gate(x), try eca.gate(x)] { XCTAssertTrue(g.scalars.allSatisfy { $0 > 0 && $0 < 1 }) }
        for m in [se as Module, eca] {
            let a = try m(x).reshaped([2, 16, 16]).indexSelect(axis: 2, indices: perm), b = try m(xp).reshaped([2, 16, 16])
            XCTAssertLessThan(zip(a.scalars, b.scalars).map { abs($0 - $1) }.max()!, 1e-6)
        }
    }

    func testECAKernelSizeRule() {
        XCTAssertEqual([16, 64, 256, 512, 2048].map { EfficientChannelAttention.kernelSize(channels: $0) }, [3, 3, 5, 5, 7])
    }

    func testBadOptionsGiveClearErrors() throws {
        var rng = RandomGenerator(seed: 6)
        XCTAssertTrue(errorMessage { _ = try SqueezeExcitation(channels: 8, reduction: 16, using: &rng) }.contains("reduction ratio 16 is larger than the 8 channels"))
        XCTAssertTrue(errorMessage { _ = try CBAM(channels: 4, reduction: 8, using: &rng) }.contains("larger than the 4 channels"))
        XCTAssertTrue(errorMessage { _ = try AttentionKind(name: "transformer") }.contains("unknown attention module 'transformer'; choose one of se, eca"))
        XCTAssertTrue(errorMessage { _ = try QnA(channels: 8, heads: 3, using: &rng) }.contains("do not divide into 3 heads"))
        XCTAssertTrue(errorMessage { _ = try QnA(channels: 8, heads: 2, window: 4, using: &rng) }.contains("window must be odd"))
        let qna = try QnA(channels: 8, heads: 2, window: 9, using: &rng)
        XCTAssertTrue(errorMessage { _ = try qna(Tensor.zeros([1, 8, 7, 7])) }.contains("window 9×9 is larger than the 7×7 feature map"))
        let wsa = try WindowSelfAttention(channels: 8, heads: 2, window: 9, using: &rng)
        XCTAssertTrue(errorMessage { _ = try wsa(Tensor.zeros([1, 8, 7, 7])) }.contains("larger than the 7×7 feature map"))
        XCTAssertTrue(errorMessage { _ = try SqueezeExcitation(channels: 8, reduction: 2, using: &rng)(Tensor.zeros([1, 4, 3, 3])) }.contains("expected input [N, 8, H, W]"))
        // In a ResNet-20 the last stage has 64 channels: SE with r = 128 names the block.
        let net = ModelKind.resnet20.make(channels: 1, imageSize: 28, classes: 10, seed: 0) as! ResNet
        XCTAssertTrue(errorMessage { try AttentionInsertion.insert(.se, into: net, options: AttentionOptions(reduction: 32), seed: 0) }.contains("se in block 0 (16 channels)"))
    }
}

func errorMessage(_ body: () throws -> Void) -> String {
    do { try body(); return "" } catch { return "\(error)" }
}
