import AmalgamCore
import AmalgamFormats
import AmalgamNN
import AmalgamONNX
import ArgumentParser
import Foundation

enum ExportFormat: String, ExpressibleByArgument, CaseIterable { case onnx }

/// `amalgam export`: a trained model in another runtime's format.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a model to ONNX (opset 17): an image classifier checkpoint (input [N, C, 28, 28] → logits) or a sentence-encoder / classifier directory (input_ids, attention_mask[, token_type_ids] → embeddings or logits).")

    @Option(help: "An image-classifier model.safetensors (`amalgam train`, `amalgam merge`); its metadata names the architecture.") var checkpoint: String?
    @Option(help: "A sentence-encoder directory (all-MiniLM-L6-v2, a pruned encoder) or a fine-tuned classifier directory (`amalgam finetune`).") var modelDir: String?
    @Option(help: "Format.") var format: ExportFormat = .onnx
    @Option(help: "Output file (.onnx).", transform: outputFile) var out: String
    @OptionGroup var data: DataOptions
    @OptionGroup var common: RunOptions

    func validate() throws {
        guard (checkpoint == nil) != (modelDir == nil) else { throw ValidationError("give one of --checkpoint (an image classifier) and --model-dir (a text model directory)") }
    }

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            let bytes: Data, what: String
            if let checkpoint {
                let c = try loadClassifier(checkpoint: checkpoint, model: nil, data: data)
                let (net, mean, std, model) = (c.net, c.mean, c.std, c.model)
                net.eval()
                bytes = try ONNXExport.imageClassifier(net, channels: c.channels, imageSize: c.imageSize, name: model,
                                                       metadata: ["source": checkpoint, "normalization_mean": mean.map { "\($0)" }.joined(separator: ","),
                                                                  "normalization_std": std.map { "\($0)" }.joined(separator: ","), "model": model])
                what = "\(model) classifier (input: \(c.channels)×\(c.imageSize)×\(c.imageSize) images normalised with mean \(mean.map { String(format: "%.4f", $0) }.joined(separator: ",")), std \(std.map { String(format: "%.4f", $0) }.joined(separator: ",")))"
            } else if let modelDir, TextClassifier.isClassifier(directory: modelDir) {
                let c = try TextClassifier(directory: modelDir)
                c.model.eval()
                bytes = try ONNXExport.bertClassifier(c.model, metadata: ["source": modelDir, "labels": c.labels.joined(separator: "\t")])
                what = "text classifier (\(c.labels.count) labels; tokenise with \(modelDir)/vocab.txt)"
            } else {
                let e = try SentenceEncoder(directory: modelDir)
                e.model.eval()
                bytes = try ONNXExport.bertEncoder(e.model, metadata: ["source": e.directory])
                what = "sentence encoder (tokenise with \(e.directory)/vocab.txt)"
            }
            try writeAtomically(bytes, to: out)
            struct Result: Encodable { var out: String; var bytes: Int; var format: String; var opset: Int64 }
            try common.emit(Result(out: out, bytes: bytes.count, format: format.rawValue, opset: ONNXExport.opset),
                            text: "\(what) → \(out) (ONNX opset \(ONNXExport.opset), \(bytes.count) bytes)")
        }
    }
}
