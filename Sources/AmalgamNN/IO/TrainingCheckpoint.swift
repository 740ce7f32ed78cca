import AmalgamCore
import AmalgamFormats
import Foundation

/// A resumable snapshot of a training run in one safetensors file, written atomically
/// (temporary file + rename): the model's parameters and buffers, the optimizer's per-parameter
/// state and step count, the generator of every ``RandomizedModule`` (dropout, stochastic gates)
/// and the caller's metadata. Restored into a model and optimizer built the same way, training
/// continues with exactly the numbers an uninterrupted run would have produced (the saved
/// values are the float32 values in memory, and the generators continue where they stopped).
///
/// Layout (like `torch.save({"model": …, "optimizer": …})`, flattened to safetensors names):
/// - tensors `model.<dotted path>`: the state dict;
/// - tensors `optimizer.<parameter path>.<i>`: the i-th state tensor of a parameter (momentum
///   for SGD, m and v for Adam), each of the parameter's shape;
/// - metadata `step` (the caller's step count), `optimizer_step`, `generator.<module path>`
///   (four hexadecimal words) and the caller's own keys under `user.`.
public enum TrainingCheckpoint {
    /// Writes the snapshot of `model` and `optimizer` after `step` steps.
    public static func write(to path: String, model: Module, optimizer: Optimizer, step: Int, metadata: [String: String] = [:]) throws {
        var tensors: [String: Tensor] = [:]
        for (k, t) in model.stateDict() { tensors["model." + k] = t }
        for (name, list) in optimizer.state { for (i, t) in list.enumerated() { tensors["optimizer.\(name).\(i)"] = t } }
        var meta: [String: String] = ["format": "amalgam.training-checkpoint", "step": "\(step)", "optimizer_step": "\(optimizer.step)"]
        for (path, m) in model.namedModules() {
            guard let r = m as? any RandomizedModule else { continue }
            meta["generator." + path] = r.generator.state.map { String($0, radix: 16) }.joined(separator: ",")
        }
        for (k, v) in metadata { meta["user." + k] = v }
        try SafeTensors.write(tensors, metadata: meta, to: path)
    }

    /// Restores a snapshot written by ``write(to:model:optimizer:step:metadata:)`` into `model`
    /// and `optimizer` (built as for the original run) and returns the saved step and the
    /// caller's metadata. Nothing is changed unless the whole file fits: a missing or extra
    /// tensor, a shape that does not match, a generator for a module that has none (or the
    /// reverse) or a damaged header is an error naming the file and the entry. `validate` sees
    /// the caller's metadata first and may refuse the file (for example one saved by a run with
    /// other settings) before anything is loaded.
    public static func read(from path: String, model: Module, optimizer: Optimizer,
                            validate: ([String: String]) throws -> Void = { _ in }) throws -> (step: Int, metadata: [String: String]) {
        let file = try SafeTensors.read(path: path)
        func fail(_ message: String) -> AmalgamError { AmalgamError.format(path: path, message: message) }
        let meta = file.metadata
        guard meta["format"] == "amalgam.training-checkpoint" else { throw fail("not a training checkpoint (metadata 'format' is \(meta["format"] ?? "missing"))") }
        var user: [String: String] = [:]
        for (k, v) in meta where k.hasPrefix("user.") { user[String(k.dropFirst(5))] = v }
        try validate(user)
        guard let step = meta["step"].flatMap({ Int($0) }), step >= 0 else { throw fail("metadata 'step' is \(meta["step"] ?? "missing"), not a step count") }
        guard let optimizerStep = meta["optimizer_step"].flatMap({ Int($0) }), optimizerStep >= 0 else {
            throw fail("metadata 'optimizer_step' is \(meta["optimizer_step"] ?? "missing"), not a step count")
        }

        // Split the tensors and check every optimizer entry against the model's parameters.
        var modelState: [String: Tensor] = [:], optimizerParts: [String: [Int: Tensor]] = [:]
        let parameters = Dictionary(model.namedParameters().map { ($0.0, $0.1.value.shape) }, uniquingKeysWith: { a, _ in a })
        for (name, t) in file.tensors {
            if name.hasPrefix("model.") {
                modelState[String(name.dropFirst(6))] = t
            } else if name.hasPrefix("optimizer."), let dot = name.lastIndex(of: "."), let i = Int(name[name.index(after: dot)...]) {
                let parameter = String(name[name.index(name.startIndex, offsetBy: 10)..<dot])
                guard let shape = parameters[parameter] else { throw fail("'\(name)' is optimizer state for '\(parameter)', which the model does not have") }
                guard t.shape == shape else { throw fail("'\(name)' has shape \(t.shape), the parameter \(shape)") }
                guard t.isFinite else { throw fail("'\(name)' holds NaN or Inf") }
                optimizerParts[parameter, default: [:]][i] = t
            } else {
                throw fail("unexpected tensor '\(name)' (names start with 'model.' or 'optimizer.')")
            }
        }
        var optimizerState: [String: [Tensor]] = [:]
        for (parameter, parts) in optimizerParts {
            guard Set(parts.keys) == Set(0..<parts.count) else { throw fail("optimizer state of '\(parameter)' has entries \(parts.keys.sorted()), not 0..<\(parts.count)") }
            optimizerState[parameter] = (0..<parts.count).map { parts[$0]! }
        }

        // Generators: exactly one per randomized module.
        var generators: [(any RandomizedModule, RandomGenerator)] = []
        var expected = Set<String>()
        for (modulePath, m) in model.namedModules() {
            guard let r = m as? any RandomizedModule else { continue }
            expected.insert(modulePath)
            guard let text = meta["generator." + modulePath] else { throw fail("no generator state for module '\(modulePath)' (\(type(of: m)))") }
            let words = text.split(separator: ",").map { UInt64($0, radix: 16) }
            guard words.allSatisfy({ $0 != nil }), let g = try? RandomGenerator(state: words.map { $0! }) else {
                throw fail("generator state of '\(modulePath)' is '\(text)', not four hexadecimal words")
            }
            generators.append((r, g))
        }
        for key in meta.keys where key.hasPrefix("generator.") && !expected.contains(String(key.dropFirst(10))) {
            throw fail("generator state for '\(key.dropFirst(10))', which is not a randomized module of \(type(of: model))")
        }

        // All checked: load (loadStateDict checks names and shapes before changing anything).
        do { try model.loadStateDict(modelState) } catch let e as AmalgamError { throw fail(e.description) }
        for (r, g) in generators { r.generator = g }
        optimizer.restore(state: optimizerState, step: optimizerStep)
        return (step, user)
    }
}
