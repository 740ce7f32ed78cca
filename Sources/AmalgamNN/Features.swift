import AmalgamCore
import AmalgamLinalg
import Foundation

/// The penultimate features of a classifier: the input of its last `Linear` layer (the
/// classifier head of every model in the zoo: MLP, SmallCNN, VGG, ResNet), over `images` in
/// evaluation mode, in batches, without gradients.
///
/// - Parameters:
///   - model: a classifier whose last `Linear` layer is its head.
///   - images: `[N, C, H, W]`, normalised as the model was trained.
///   - batchSize: images per forward pass.
/// - Returns: N × D features (D = the head's input width).
public func penultimateFeatures(_ model: Module, images: Tensor, batchSize: Int = 500) throws -> FeatureMatrix {
    try classifierOutputs(model, images: images, batchSize: batchSize).features
}

/// The penultimate features (as ``penultimateFeatures(_:images:batchSize:)``) and the logits of
/// the same forward passes: N × D and N × C.
public func classifierOutputs(_ model: Module, images: Tensor, batchSize: Int = 500) throws -> (features: FeatureMatrix, logits: FeatureMatrix) {
    guard let head = model.namedModules().last(where: { $0.1 is Linear })?.1 else {
        throw AmalgamError.invalidArgument("\(type(of: model)) has no Linear layer whose input could serve as penultimate features")
    }
    guard batchSize >= 1 else { throw AmalgamError.invalidArgument("batch size must be ≥ 1") }
    let n = images.shape[0]
    var values: [Double] = [], width = 0, logits: [Double] = [], classes = 0
    head.inputHook = { x in
        width = x.count / max(x.shape[0], 1)
        x.withUnsafeBufferPointer { p in values.append(contentsOf: p.lazy.map(Double.init)) }
    }
    defer { head.inputHook = nil }
    let wasTraining = model.isTraining
    model.eval()
    defer { model.train(wasTraining) }
    try withoutGradients {
        var start = 0
        while start < n {
            let end = min(start + batchSize, n)
            let z = try model(images.indexSelect(axis: 0, indices: Array(start..<end)))
            classes = z.count / max(end - start, 1)
            z.withUnsafeBufferPointer { p in logits.append(contentsOf: p.lazy.map(Double.init)) }
            start = end
        }
    }
    return (try FeatureMatrix(rows: n, columns: width, values: values), try FeatureMatrix(rows: n, columns: classes, values: logits))
}
