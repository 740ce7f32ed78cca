import AmalgamCore
import AmalgamFormats
import AmalgamNN
import Foundation
import XCTest

/// A module's state dict through safetensors (model I/O on the NN floor).
final class ModuleIOTests: XCTestCase {
    func testModuleCheckpointRoundTrip() throws {
        var r1 = RandomGenerator(seed: 1), r2 = RandomGenerator(seed: 2)
        let a = ResNet(using: &r1), b = ResNet(using: &r2)
        let path = tempDir() + "/resnet.safetensors"
        try a.save(to: path)
        try b.load(from: path)
        for (k, v) in a.stateDict() { XCTAssertEqual(v.scalars, b.stateDict()[k]!.scalars, k) }
        let m = errorMessage { try MLP(inputFeatures: 784, classes: 10, using: &r1).load(from: path) }
        XCTAssertTrue(m.contains(path) && m.contains("missing keys: layers.1.bias"), m)
    }
}
