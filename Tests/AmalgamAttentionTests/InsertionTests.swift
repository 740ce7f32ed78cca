import AmalgamCore
import AmalgamFormats
import AmalgamNN
@testable import AmalgamAttention
import XCTest

final class InsertionTests: XCTestCase {
    func resnet(_ seed: UInt64 = 0) -> ResNet { ModelKind.resnet20.make(channels: 1, imageSize: 28, classes: 10, seed: seed) as! ResNet }

    func testEveryKindRunsInResNet20WithStableNames() throws {
        var rng = RandomGenerator(seed: 1)
        let x = Tensor.normal([2, 1, 28, 28], using: &rng)
        for kind in AttentionKind.allCases {
            let net = resnet()
            try AttentionInsertion.insert(kind, into: net, options: AttentionOptions(reduction: 4), seed: 0)
            XCTAssertEqual(try net(x).shape, [2, 10], kind.rawValue)
            let names = net.namedParameters().map(\.0)
            let slot = kind.placement == .afterBlock ? "layer3.2.attention." : "layer3.2.conv2."
            XCTAssertTrue(names.contains { $0.hasPrefix(slot) }, "\(kind.rawValue): \(names.filter { $0.hasPrefix("layer3.2") })")
            XCTAssertTrue(names.contains("layer1.0.conv1.weight"))
        }
    }

    /// The backbone keeps the plain model's initialisation (the modules draw from their own generator).
    func testBackboneInitialisationUnchanged() throws {
        let plain = resnet(3), attn = resnet(3)
        try AttentionInsertion.insert(.cbam, into: attn, options: AttentionOptions(reduction: 4), seed: 3)
        let p = plain.stateDict()
        for (k, v) in attn.stateDict() where !k.contains("attention") { XCTAssertEqual(v.scalars, p[k]!.scalars, k) }
    }

    func testCheckpointRoundTripRebuildsFromMetadata() throws {
        var rng = RandomGenerator(seed: 2)
        let x = Tensor.normal([3, 1, 28, 28], using: &rng)
        for kind in [AttentionKind.qna, .bam, .sk] {
            let options = AttentionOptions(reduction: 4, window: 3, heads: 2)
            let net = resnet(5)
            try AttentionInsertion.insert(kind, into: net, options: options, seed: 5)
            _ = try net(x)            // move the BN statistics
            net.eval()
            let path = NSTemporaryDirectory() + "attention-\(kind.rawValue)-\(UUID().uuidString).safetensors"
            defer { try? FileManager.default.removeItem(atPath: path) }
            try net.save(to: path, metadata: try AttentionInsertion.metadata(kind, options: options))
            let file = try SafeTensors.read(path: path)
            let loaded = resnet(99)
            try AttentionInsertion.rebuild(loaded, metadata: file.metadata, path: path)
            try loaded.loadStateDict(file.tensors)
            loaded.eval()
            XCTAssertEqual(try loaded(x).scalars, try net(x).scalars, kind.rawValue)
        }
        // A plain checkpoint does not load into an attention model, and says which names differ.
        let plainPath = NSTemporaryDirectory() + "plain-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: plainPath) }
        try resnet().save(to: plainPath)
        let withSE = resnet()
        try AttentionInsertion.insert(.se, into: withSE, options: AttentionOptions(reduction: 4), seed: 0)
        XCTAssertTrue(errorMessage { try withSE.load(from: plainPath) }.contains("attention"))
    }

    func testBadMetadataIsAFormatError() {
        XCTAssertTrue(errorMessage { try AttentionInsertion.rebuild(self.resnet(), metadata: ["attention": "bogus"], path: "m.safetensors") }.contains("m.safetensors: invalid argument: unknown attention module 'bogus'"))
        XCTAssertTrue(errorMessage { try AttentionInsertion.rebuild(self.resnet(), metadata: ["attention": "se", "attention_options": "{"], path: "m.safetensors") }.contains("attention_options"))
    }
}

final class ProfilingTests: XCTestCase {
    func testMACCounterCountsConvolutionsAndProducts() throws {
        var rng = RandomGenerator(seed: 1)
        let x = Tensor.normal([2, 3, 8, 8], using: &rng), w = Tensor.normal([4, 3, 3, 3], using: &rng)
        let (_, convMACs) = MACCounter.counting { Tensor.conv2d(x, weight: w, padding: (1, 1)) }
        XCTAssertEqual(convMACs, 2 * 4 * 8 * 8 * 3 * 9)
        let (_, mm) = MACCounter.counting { Tensor.matmul(Tensor.zeros([5, 2, 3]), Tensor.zeros([5, 3, 7])) }
        XCTAssertEqual(mm, 5 * 2 * 3 * 7)
        let lin = Linear(6, 4, using: &rng)
        let (_, lm) = try MACCounter.counting { try lin(Tensor.zeros([10, 6])) }
        XCTAssertEqual(lm, 10 * 6 * 4)
        let (_, none) = MACCounter.counting { Tensor.zeros([100]).exp() }
        XCTAssertEqual(none, 0)
    }

    func testPeakMemoryTracksLiveTensors() {
        BufferCache.shared.resetPeak()
        let before = BufferCache.shared.memory
        do {
            let a = Tensor.zeros([1 << 20])
            XCTAssertEqual(BufferCache.shared.memory.live - before.live, 4 << 20)
            _ = a.count
        }
        XCTAssertEqual(BufferCache.shared.memory.live, before.live)
        XCTAssertGreaterThanOrEqual(BufferCache.shared.memory.peak - before.live, 4 << 20)
    }
}

final class MetadataStabilityTests: XCTestCase {
    /// The metadata string is part of a training run's key, so it must not depend on the process
    /// (Foundation's unsorted key order does on Linux).
    func testMetadataIsSortedJSON() throws {
        let m = try AttentionInsertion.metadata(.qna, options: AttentionOptions(reduction: 4, window: 5, heads: 2, queries: 3))
        XCTAssertEqual(m["attention_options"], #"{"heads":2,"queries":3,"reduction":4,"window":5}"#)
    }
}
