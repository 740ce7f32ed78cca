import AmalgamCore
import AmalgamFormats
import AmalgamNN
import Foundation
import FuzzSupport

/// Training checkpoints (what --resume reads: weights, AdamW state, dropout generators, step
/// counts) and model checkpoints (what evaluate, predict and export read), restored into a
/// small network with a dropout layer: Linear(4, 3), Dropout(0.5), Linear(3, 2).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ input: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = input ?? UnsafePointer(bitPattern: 1)!
    let data = Data(bytes: bytes, count: count)
    withInputFile(data, name: "checkpoint.safetensors") { path in
        var rng = RandomGenerator(seed: 0)
        let model = Sequential([Linear(4, 3, using: &rng), Dropout(0.5, seed: 1), Linear(3, 2, using: &rng)])
        let optimizer = OptimizerKind.adamw.make(learningRate: 1e-3, momentum: 0.9, weightDecay: 0.01)
        expectCleanOutcome(path: path) { _ = try TrainingCheckpoint.read(from: path, model: model, optimizer: optimizer) }
        expectCleanOutcome(path: path) { try model.load(from: path) }
    }
    return 0
}

@_cdecl("FuzzCheckpoint_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt { runFuzzer(argc, argv, fuzz) }
