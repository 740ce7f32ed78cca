import AmalgamCore
import AmalgamFormats

/// A mini-batch: the model's inputs (a primary tensor `[N, …]` and named others, see
/// `Inputs`), what the loss compares them with (integer `labels` for classification,
/// `targets` for regression), optional per-example `weights` `[N]` and the examples' indices in
/// their dataset.
public struct Batch {
    /// The primary input `[N, …]` (images, token ids, points).
    public var inputs: Tensor
    /// Inputs beside the primary one, by name (`attention_mask`, a task id, a diffusion step).
    public var extraInputs: [String: Tensor]
    public var labels: [Int]
    /// Regression targets (the mean-squared-error loss reads them).
    public var targets: Tensor?
    public var weights: Tensor?
    public var indices: [Int]
    public init(inputs: Tensor, extraInputs: [String: Tensor] = [:], labels: [Int] = [], targets: Tensor? = nil, weights: Tensor? = nil, indices: [Int] = []) {
        self.inputs = inputs; self.extraInputs = extraInputs; self.labels = labels; self.targets = targets; self.weights = weights; self.indices = indices
    }

    /// What the model is called with.
    public var modelInputs: Inputs { Inputs(inputs, extraInputs) }

    /// Examples in the batch.
    public var count: Int { inputs.shape.first ?? 0 }
}

extension TokenBatch {
    /// The training batch of a tokenised mini-batch: ids as the primary input, the mask under
    /// `attention_mask` (token types are all 0 for single sentences and are not passed).
    public var batch: Batch { Batch(inputs: ids, extraInputs: ["attention_mask": mask], labels: labels) }
}
