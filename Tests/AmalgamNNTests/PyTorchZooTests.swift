import AmalgamCore
import AmalgamFormats
@testable import AmalgamNN
import Foundation
import XCTest

/// The zoo's parameter names and shapes are PyTorch's, and weights written by PyTorch give
/// PyTorch's logits here (fixture: `scripts/models/pytorch_zoo.py golden`, torch 2.13.0+cpu).
final class PyTorchZooTests: XCTestCase {
    struct Fixture: Decodable {
        struct Model: Decodable { var parameters: [[Entry]]; var logits: [Double] }
        enum Entry: Decodable {
            case name(String), shape([Int])
            init(from decoder: Decoder) throws {
                let c = try decoder.singleValueContainer()
                if let s = try? c.decode(String.self) { self = .name(s) } else { self = .shape(try c.decode([Int].self)) }
            }
        }
        var models: [String: Model]
    }

    /// The fixture script's formula: ((i·7919 + h) mod 1000 − 500) / 5000 in float32 (h: the sum
    /// of the name's bytes); running variances 0.5 + ((i·7919 + h) mod 1000)/1000; counters 0.
    func formula(_ name: String, _ shape: [Int]) -> Tensor {
        let n = shape.reduce(1, *), h = name.utf8.reduce(0) { $0 + Int($1) }
        let values: [Float] = (0..<n).map { i in
            let r = (i * 7919 + h) % 1000
            if name.hasSuffix("num_batches_tracked") { return 0 }
            if name.hasSuffix("running_var") { return Float(0.5) + Float(r) / Float(1000) }
            return Float(r - 500) / Float(5000)
        }
        return Tensor(values, shape: shape)
    }

    func testZooMatchesPyTorchNamesShapesAndLogits() throws {
        let url = Bundle.module.url(forResource: "pytorch_zoo", withExtension: "json", subdirectory: "Fixtures")!
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
        let x = Tensor((0..<(2 * 784)).map { Float(($0 * 31) % 255) / Float(255) }, shape: [2, 1, 28, 28])
        for kind in ModelKind.allCases {
            guard let golden = fixture.models[kind.rawValue] else { XCTFail("no fixture for \(kind)"); continue }
            var torchShapes: [String: [Int]] = [:]
            for entry in golden.parameters {
                guard case .name(let n) = entry[0], case .shape(let s) = entry[1] else { XCTFail("fixture entry"); continue }
                torchShapes[n] = s
            }
            let model = kind.make(channels: 1, imageSize: 28, classes: 10, seed: 0)
            let ours = model.stateDict().mapValues(\.shape)
            XCTAssertEqual(Set(ours.keys), Set(torchShapes.keys), "\(kind): names differ from PyTorch's")
            for (k, s) in torchShapes { XCTAssertEqual(ours[k], s, "\(kind) \(k)") }

            // A file as PyTorch (via pytorch_zoo.py to-amalgam) writes it loads strictly and computes PyTorch's logits.
            let weights = Dictionary(uniqueKeysWithValues: torchShapes.map { ($0.key, formula($0.key, $0.value)) })
            let dir = NSTemporaryDirectory() + "amalgam-zoo-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try SafeTensors.write(weights, metadata: ["model": kind.rawValue], to: dir + "/torch.safetensors")
            try model.load(from: dir + "/torch.safetensors")
            model.eval()
            let logits = try withoutGradients { try model(x) }.scalars
            XCTAssertEqual(logits.count, golden.logits.count)
            for (a, b) in zip(logits, golden.logits) { XCTAssertEqual(Double(a), b, accuracy: 1e-4 * max(1, abs(b)), "\(kind)") }

            // Saved back, every tensor is the one PyTorch wrote (so `to-pytorch` loads it strictly).
            try model.save(to: dir + "/back.safetensors")
            let back = try SafeTensors.read(path: dir + "/back.safetensors").tensors
            XCTAssertEqual(Set(back.keys), Set(weights.keys), "\(kind)")
            for (k, v) in weights { XCTAssertEqual(back[k]?.scalars, v.scalars, "\(kind) \(k)") }
        }
    }
}
