import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import AmalgamPrune
import ArgumentParser
import Foundation

/// `amalgam finetune`: a classification head on a sentence encoder, fine-tuned on the Austen task.
struct FinetuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Fine-tune a sentence encoder (MiniLM) with a classification head on the Austen task: which of the six novels a passage comes from.")

    @Option(help: "Task (only austen).") var task = "austen"
    @Option(name: .customLong("model-dir"), help: "Encoder directory (default: $AMALGAM_MINILM, else where scripts/setup-minilm.sh puts all-MiniLM-L6-v2).") var modelDirectory: String?
    @Option(name: .customLong("model"), help: .hidden) var legacyModel: String?
    /// --model-dir, or its old spelling --model (kept for one release).
    var modelDir: String? { modelDirectory ?? legacyModel }
    @OptionGroup var austen: AustenOptions
    @Option(help: "Validation passages per novel, from chapters ≡ 3 (mod 5), which then leave the training chapters; measured after every epoch (choose the epochs on this curve, not the test one). 0: no validation split (the task as before 2026-12-07).")
    var validationPerNovel = 100
    @Option(help: "Epochs.") var epochs = 3
    @Option(help: "Peak learning rate (AdamW, linear warm-up over 10% of the steps, then linear decay; default 1e-4).") var lr: Float?
    @Option(name: .customLong("learning-rate"), help: .hidden) var legacyLearningRate: Float?
    /// --lr, or its old spelling --learning-rate (kept for one release).
    var learningRate: Float { lr ?? legacyLearningRate ?? 1e-4 }
    @Option(help: "Mini-batch size.") var batchSize = 32
    @Option(help: "Longest input in tokens.") var maxLength = 64
    @Flag(help: "Also train the token embeddings (frozen by default: faster, and the task does not need them).") var trainEmbeddings = false
    @Option(help: "Random seed (head initialisation, data order, passage sample).") var seed: UInt64 = 0
    @Option(help: "Output directory (a classifier directory: config.json, vocab.txt, model.safetensors, summary.json).", transform: outputDirectory) var out: String
    @OptionGroup var common: RunOptions
    @Flag(help: "Continue the run in --out from its last finished epoch (OUT/training-state.safetensors, saved after every epoch), with the numbers an uninterrupted run gives; the options must be those of the original run.") var resume = false

    func validate() throws {
        if modelDirectory != nil && legacyModel != nil { throw ValidationError("give --model-dir only (--model is its old spelling)") }
        if lr != nil && legacyLearningRate != nil { throw ValidationError("give --lr only (--learning-rate is its old spelling)") }
        guard task == "austen" else { throw ValidationError("unknown task '\(task)'; the only fine-tuning task is austen") }
        guard validationPerNovel >= 0 else { throw ValidationError("--validation-per-novel must be ≥ 0") }
        guard epochs >= 1, batchSize >= 1, maxLength >= 8, learningRate > 0 else { throw ValidationError("--epochs, --batch-size ≥ 1, --max-length ≥ 8, --learning-rate > 0") }
    }

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            let (train, validation, test) = try austen.load(seed: seed, validationPerNovel: validationPerNovel)
            let classifier = TextClassifier(encoder: try SentenceEncoder(directory: modelDir), labels: Austen.titles, maxLength: maxLength, seed: seed)
            var recipe = FineTuneRecipe()
            recipe.epochs = epochs; recipe.learningRate = learningRate; recipe.batchSize = batchSize; recipe.trainEmbeddings = trainEmbeddings
            // The state after every epoch, under a key naming everything the numbers depend on.
            let runKey = "finetune austen words \(austen.words) train \(train.count)" + (validation.isEmpty ? "" : " validation \(validation.count)") + " test \(test.count) seed \(seed) max_length \(maxLength) encoder "
                + SentenceEncoder.locate(modelDir) + " recipe " + (try sortedJSON(recipe))
            let checkpointer = Checkpointer(path: out + "/training-state.safetensors", runKey: runKey, resume: resume)
            installInterruptHandler()
            console.line("fine-tuning on \(train.count) passages, " + (validation.isEmpty ? "" : "validating on \(validation.count), ")
                         + "testing on \(test.count) (held-out chapters), \(epochs) epochs"
                         + (resume && checkpointer.exists ? " (resuming from \(checkpointer.path))" : ""))
            let history = try fineTune(classifier, train: train, validation: validation, test: test, recipe: recipe, seed: seed,
                                       checkpointer: checkpointer, shouldStop: { interruptRequested != 0 }, callback: console.handle)
            try classifier.save(to: out, metadata: ["task": "austen"])
            checkpointer.remove()   // the directory is a model to ship: the saved state (3× its size) goes once the model is saved
            for m in history where m.validationAccuracy != nil {
                console.line(String(format: "epoch %d: validation accuracy %.4f, test accuracy %.4f", m.epoch, m.validationAccuracy!, m.testAccuracy ?? .nan))
            }
            try writeJSON(FineTuneSummary(task: "austen", trainPassages: train.count, validationPassages: validation.count, testPassages: test.count, words: austen.words, recipe: recipe,
                                          maxLength: maxLength, seed: seed, history: history), to: out + "/summary.json")
            console.line("saved → \(out)")
            try common.emitFile(out + "/summary.json")
        }
    }
}
