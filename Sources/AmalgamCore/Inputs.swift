/// The named input tensors of one forward call: a primary input (images, token ids, a signal)
/// and any others a model needs beside it (an attention mask, a task id, a diffusion step,
/// conditioning frames), each under its own name.
///
/// Models with one input ignore the names; models with several read theirs by name
/// (`inputs["attention_mask"]`), so nothing is packed into one float tensor and a hook that
/// observes a call sees the inputs as they were given. Names follow the PyTorch/Hugging Face
/// keyword arguments (`input_ids`, `attention_mask`, `token_type_ids`).
public struct Inputs {
    /// The name under which ``primary`` is kept.
    public static let primaryName = "input"
    /// All inputs by name, the primary one under ``primaryName``.
    public var tensors: [String: Tensor]

    /// One primary input and, optionally, named others.
    public init(_ primary: Tensor, _ others: [String: Tensor] = [:]) {
        tensors = others
        tensors[Self.primaryName] = primary
    }

    /// The primary input.
    public var primary: Tensor { tensors[Self.primaryName]! }

    /// The input called `name`, or nil.
    public subscript(name: String) -> Tensor? { tensors[name] }

    /// The input called `name`; a missing one is an error naming the model that asked for it.
    public func required(_ name: String, by model: String) throws -> Tensor {
        guard let t = tensors[name] else {
            throw AmalgamError.invalidArgument("\(model) needs the input '\(name)'; given: \(tensors.keys.sorted().joined(separator: ", "))")
        }
        return t
    }
}
