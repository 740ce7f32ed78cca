import AmalgamCore
import AmalgamFormats
import Foundation

extension Module {
    /// Saves the state dict (parameters and buffers, PyTorch-style names) as safetensors, atomically.
    public func save(to path: String, metadata: [String: String] = [:], dtype: SafeTensors.DType = .F32) throws {
        try SafeTensors.write(stateDict(), metadata: metadata, dtype: dtype, to: path)
    }

    /// Loads a safetensors checkpoint into this module; with `strict`, missing or unexpected
    /// names are errors. Errors name the file and the tensor.
    public func load(from path: String, strict: Bool = true) throws {
        let file = try SafeTensors.read(path: path)
        do { try loadStateDict(file.tensors, strict: strict) } catch let e as AmalgamError {
            throw AmalgamError.format(path: path, message: e.description)
        }
    }
}
