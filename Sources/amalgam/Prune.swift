import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import AmalgamPrune
import ArgumentParser
import Foundation

extension PruningMetric: ExpressibleByArgument {}

/// Options of the Austen passage-attribution task.
struct AustenOptions: ParsableArguments {
    @Option(help: "Directory with the six novels as text (default: $AMALGAM_AUSTEN, else where scripts/setup-austen.sh puts them).") var austenDir: String?
    @Option(help: "Words per passage.") var words = 40
    @Option(help: "Training passages per novel.") var trainPerNovel = 400
    @Option(help: "Test passages per novel (from held-out chapters).") var testPerNovel = 150

    func load(seed: UInt64) throws -> (train: [Austen.Passage], test: [Austen.Passage]) {
        try Austen.task(directory: austenDir, words: words, trainPerNovel: trainPerNovel, testPerNovel: testPerNovel, seed: seed)
    }
}

/// `amalgam finetune`: a classification head on a sentence encoder, fine-tuned on the Austen task.
struct Finetune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fine-tune a sentence encoder (MiniLM) with a classification head on the Austen task: which of the six novels a passage comes from.")

    @Option(help: "Task (only austen).") var task = "austen"
    @Option(name: .customLong("model"), help: "Encoder directory (default: $AMALGAM_MINILM, else where scripts/setup-minilm.sh puts all-MiniLM-L6-v2).") var modelDir: String?
    @OptionGroup var austen: AustenOptions
    @Option(help: "Epochs.") var epochs = 3
    @Option(help: "Peak learning rate (AdamW, linear warm-up over 10% of the steps, then linear decay).") var learningRate: Float = 1e-4
    @Option(help: "Mini-batch size.") var batchSize = 32
    @Option(help: "Longest input in tokens.") var maxLength = 64
    @Flag(help: "Also train the token embeddings (frozen by default: faster, and the task does not need them).") var trainEmbeddings = false
    @Option(help: "Random seed (head initialisation, data order, passage sample).") var seed: UInt64 = 0
    @Option(help: "Output directory (a classifier directory: config.json, vocab.txt, model.safetensors, summary.json).") var out: String
    @Flag(help: "Print nothing but errors.") var quiet = false
    @Flag(help: "Continue the run in --out from its last finished epoch (OUT/training-state.safetensors, saved after every epoch), with the numbers an uninterrupted run gives; the options must be those of the original run.") var resume = false

    func validate() throws {
        guard task == "austen" else { throw ValidationError("unknown task '\(task)'; the only fine-tuning task is austen") }
        guard epochs >= 1, batchSize >= 1, maxLength >= 8, learningRate > 0 else { throw ValidationError("--epochs, --batch-size ≥ 1, --max-length ≥ 8, --learning-rate > 0") }
    }

    func run() throws {
        let console = Console(quiet: quiet)
        try runReportingErrors(console) {
            let (train, test) = try austen.load(seed: seed)
            let classifier = TextClassifier(encoder: try SentenceEncoder(directory: modelDir), labels: Austen.titles, maxLength: maxLength, seed: seed)
            var recipe = FineTuneRecipe()
            recipe.epochs = epochs; recipe.learningRate = learningRate; recipe.batchSize = batchSize; recipe.trainEmbeddings = trainEmbeddings
            // The state after every epoch, under a key naming everything the numbers depend on.
            let keyEncoder = JSONEncoder()
            keyEncoder.outputFormatting = .sortedKeys
            let runKey = "finetune austen words \(austen.words) train \(train.count) test \(test.count) seed \(seed) max_length \(maxLength) encoder "
                + SentenceEncoder.locate(modelDir) + " recipe " + String(decoding: try keyEncoder.encode(recipe), as: UTF8.self)
            let checkpointer = Checkpointer(path: out + "/training-state.safetensors", runKey: runKey, resume: resume)
            installInterruptHandler()
            console.line("fine-tuning on \(train.count) passages, testing on \(test.count) (held-out chapters), \(epochs) epochs"
                         + (resume && checkpointer.exists ? " (resuming from \(checkpointer.path))" : ""))
            let history = try fineTune(classifier, train: train.map { LabelledText(text: $0.text, label: $0.novel) },
                                       test: test.map { LabelledText(text: $0.text, label: $0.novel) }, recipe: recipe, seed: seed,
                                       checkpointer: checkpointer, shouldStop: { interruptRequested != 0 }, callback: console.handle)
            try classifier.save(to: out, metadata: ["task": "austen"])
            checkpointer.remove()   // the directory is a model to ship: the saved state (3× its size) goes once the model is saved
            var elapsed = 0.0
            let epochsOut: [[String: Any]] = history.map { m in
                elapsed += m.seconds
                return ["epoch": m.epoch, "train_loss": m.trainLoss, "train_accuracy": m.trainAccuracy, "test_loss": m.testLoss ?? 0,
                        "test_accuracy": m.testAccuracy ?? 0, "seconds": elapsed]
            }
            let summary: [String: Any] = [
                "task": "austen", "train_passages": train.count, "test_passages": test.count, "words": austen.words, "epochs": epochs,
                "learning_rate": Double(learningRate), "batch_size": batchSize, "max_length": maxLength, "seed": Int(seed),
                "test_accuracy": history.last!.testAccuracy ?? 0, "history": epochsOut,
            ]
            try writeAtomically(JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys]), to: out + "/summary.json")
            console.line("saved → \(out)")
        }
    }
}

/// `amalgam prune`: post-training pruning of a transformer (Kwon et al. 2022).
struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Post-training pruning of a transformer (Kwon et al. 2022): Fisher mask search under a MAC or latency budget, mask rearrangement, mask tuning, export of a smaller dense model.")

    @Option(name: .customLong("model"), help: "A fine-tuned classifier directory (--task austen) or any encoder directory (--task embedding).") var modelDir: String
    @Option(help: "austen: keep the classifier's accuracy; embedding: keep the encoder's sentence embeddings (no labels).") var task: String
    @Option(help: "Kept fraction of the budget, in (0, 1]; a comma-separated list prunes at each (one Fisher pass, results in OUT/c<value>/).") var constraint: String
    @Option(help: "Budget: mac or latency (latency blocks measured on this machine).") var metric: PruningMetric = .mac
    @Option(help: "Sample passages for the Fisher and the tuning (drawn with replacement, as the reference).") var samples = 2048
    @Option(help: "Mini-batch size of the sample.") var batchSize = 32
    @Flag(help: "Skip mask rearrangement.") var noRearrange = false
    @Flag(help: "Skip mask tuning.") var noTune = false
    @Option(help: "Latency table (lut.json) to reuse instead of measuring.") var lut: String?
    @OptionGroup var austen: AustenOptions
    @Option(help: "Random seed (sample draw).") var seed: UInt64 = 0
    @Option(help: "Output directory: masks.json, the exported model, summary.json.") var out: String
    @Flag(help: "Print nothing but errors.") var quiet = false

    func validate() throws {
        guard ["austen", "embedding"].contains(task) else { throw ValidationError("unknown task '\(task)'; use austen or embedding") }
        _ = try constraints()
        guard samples >= 32 else { throw ValidationError("--samples must be at least 32 (the Fisher needs several mini-batches), got \(samples)") }
        guard batchSize >= 1, batchSize <= samples else { throw ValidationError("--batch-size must be in 1...\(samples)") }
    }

    func constraints() throws -> [Double] {
        let parts = constraint.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let values = parts.map { Double($0) }
        guard !parts.isEmpty, values.allSatisfy({ $0 != nil && $0! > 0 && $0! <= 1 }) else {
            throw ValidationError("--constraint must be in (0, 1] (or a comma-separated list of such values), got \(constraint)")
        }
        return values.map { $0! }
    }

    func run() throws {
        let console = Console(quiet: quiet)
        do {
            let constraintList = try constraints()
            let wall = DispatchTime.now().uptimeNanoseconds
            let (train, test) = try austen.load(seed: 0)
            var rng = RandomGenerator(seed: seed)
            let drawn = (0..<samples).map { _ in train[Int(rng.next() % UInt64(train.count))] }
            let classifier: TextClassifier?, bert: BertModel, tokenizer: WordPieceTokenizer, maxLength: Int
            if task == "austen" {
                guard TextClassifier.isClassifier(directory: modelDir) else {
                    throw AmalgamError.invalidArgument("\(modelDir) is not a classifier directory (no num_labels in config.json); fine-tune one with `amalgam finetune`, or use --task embedding")
                }
                let c = try TextClassifier(directory: modelDir)
                guard c.labels.count == Austen.titles.count else { throw AmalgamError.invalidArgument("\(modelDir) has \(c.labels.count) labels; the austen task has \(Austen.titles.count)") }
                classifier = c; bert = c.model.bert; tokenizer = c.tokenizer; maxLength = c.maxLength
            } else {
                let e = try SentenceEncoder(directory: modelDir)
                classifier = nil; bert = e.model; tokenizer = e.tokenizer; maxLength = min(e.maxLength, 128)
            }
            guard bert.config.layerHeads == nil, bert.config.layerIntermediateSizes == nil else {
                throw AmalgamError.invalidArgument("\(modelDir) is already pruned; prune the unpruned model")
            }
            let batches = tokenizer.batches(drawn.map(\.text), labels: drawn.map(\.novel), batchSize: batchSize, maxLength: maxLength)
            let tokens = batches.reduce(0.0) { $0 + Double($1.mask.scalars.reduce(0, +)) }
            // Tuning gets the same sample sorted by length (little padding; its sums run over tokens).
            let lengths = batches.flatMap { b in (0..<b.mask.shape[0]).map { b.mask.select(axis: 0, index: $0).scalars.reduce(0, +) } }
            let byLength = drawn.indices.sorted { (lengths[$0], $0) < (lengths[$1], $1) }
            let tuningBatches = tokenizer.batches(byLength.map { drawn[$0].text }, labels: byLength.map { drawn[$0].novel }, batchSize: batchSize, maxLength: maxLength)
            let seqLen = tokens / Double(samples)
            console.line(String(format: "%d samples in %d batches, mean length %.1f tokens", samples, batches.count, seqLen))
            var table: LatencyTable? = nil
            if metric == .latency {
                if let lut {
                    do { table = try JSONDecoder().decode(LatencyTable.self, from: readFile(lut)) } catch let e as AmalgamError { throw e } catch {
                        throw AmalgamError.format(path: lut, message: "not a latency table: \(error)")
                    }
                } else {
                    console.line("measuring the latency table on this machine")
                    table = try LatencyTable.measure(bert.config, batchSize: batchSize, sequenceLength: Int(seqLen.rounded()))
                }
            }
            let loss = classifier.map { PostTrainingPruning.classificationLoss($0.model) } ?? PostTrainingPruning.embeddingLoss(seed: seed)
            let fisherStart = DispatchTime.now().uptimeNanoseconds
            let grads = try maskGradients(bert, batches: batches, loss: loss) { done, total in
                if done == total || done % 16 == 0 { console.line("  fisher \(done)/\(total)") }
            }
            let fisherSeconds = Double(DispatchTime.now().uptimeNanoseconds - fisherStart) / 1e9
            // Evaluation data and the unpruned score, shared by every constraint.
            let testTexts = test.map(\.text), testLabels = test.map(\.novel)
            var reference: Tensor? = nil
            bert.clearMasks()
            if classifier == nil { reference = try embed(bert, tokenizer, testTexts, maxLength) }
            func score() throws -> Double {
                if let classifier { return try classifier.evaluate(testTexts, labels: testLabels).accuracy }
                return meanCosine(try embed(bert, tokenizer, testTexts, maxLength), reference!)
            }
            let before = try score()
            console.line(String(format: "unpruned %@ %.4f", classifier != nil ? "test accuracy" : "embedding cosine", before))
            for c in constraintList {
                let out = constraintList.count == 1 ? self.out : self.out + "/c\(c)"
                var options = PruningOptions(constraint: c)
                options.metric = metric; options.rearrange = !noRearrange; options.tune = !noTune
                let pruneStart = DispatchTime.now().uptimeNanoseconds
                var result = try PostTrainingPruning.run(bert, batches: batches, tuningBatches: tuningBatches, gradients: grads, options: options, sequenceLength: seqLen, latency: table) { stage, done, total in
                    if done == total || done % 16 == 0 { console.line("  \(stage) \(done)/\(total)") }
                }
                result.seconds["fisher"] = fisherSeconds
                let pruneSeconds = Double(DispatchTime.now().uptimeNanoseconds - pruneStart) / 1e9 + fisherSeconds
                console.line("constraint \(c):")
                console.line(String(format: "pruned in %.1f s (%@)", pruneSeconds, result.seconds.sorted { $0.key < $1.key }.map { String(format: "%@ %.1f s", $0.key, $0.value) }.joined(separator: ", ")))

                // Evaluate every stage on the held-out chapters.
                let cost = PruningCost.macs(bert.config, sequenceLength: seqLen)
                var stages: [(String, PruningMask)] = [("search", result.searched)]
                if !noRearrange { stages.append(("rearrange", result.rearranged)) }
                if !noTune { stages.append(("tune", result.tuned)) }
                var stageScores: [String: Double] = [:]
                for (name, mask) in stages {
                    try mask.apply(to: bert)
                    stageScores[name] = try score()
                    console.line(String(format: "%-10@ %@ %.4f", name, classifier != nil ? "test accuracy" : "embedding cosine", stageScores[name]!))
                }
                bert.clearMasks()

                // Export the final mask as a smaller dense model and time it against the original.
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
                let small = try PrunedExport.model(bert, mask: result.final)
                let exportDir = out + "/model"
                if let classifier {
                    var r2 = RandomGenerator(seed: 0)
                    let head = BertClassifier(bert: small, classes: classifier.labels.count, using: &r2)
                    try head.classifier.loadStateDict(classifier.model.classifier.stateDict())
                    head.eval()
                    try TextClassifier(model: head, tokenizer: tokenizer, labels: classifier.labels, maxLength: maxLength).save(to: exportDir, metadata: ["pruned_from": modelDir])
                } else {
                    try FileManager.default.createDirectory(atPath: exportDir, withIntermediateDirectories: true)
                    try writeAtomically(JSONEncoder().encode(small.config), to: exportDir + "/config.json")
                    try tokenizer.writeVocabulary(to: exportDir + "/vocab.txt")
                    try small.save(to: exportDir + "/model.safetensors", metadata: ["pruned_from": modelDir])
                    try writeAtomically(Data("{\"max_seq_length\": \(maxLength)}".utf8), to: exportDir + "/sentence_bert_config.json")
                }
                // The export must compute what the masked model computes (logits or hidden states).
                let checkBatches = tokenizer.batches(Array(testTexts.prefix(16)), batchSize: 8, maxLength: maxLength)
                try result.final.apply(to: bert)
                let maskedOut = try checkBatches.map { b in try withoutGradients { try bert(ids: b.ids, typeIDs: b.typeIDs, mask: b.mask) } }
                bert.clearMasks()
                let smallOut = try checkBatches.map { b in try withoutGradients { try small(ids: b.ids, typeIDs: b.typeIDs, mask: b.mask) } }
                var exportDifference = 0.0
                for (x, y) in zip(maskedOut, smallOut) { for (u, v) in zip(x.scalars, y.scalars) { exportDifference = max(exportDifference, Double(abs(u - v))) } }
                console.line(String(format: "export check: max |masked − exported| over the last hidden states = %.2e", exportDifference))
                let timingBatches = tokenizer.batches(Array(testTexts.prefix(128)), batchSize: 32, maxLength: maxLength)
                let (originalSeconds, smallSeconds) = try timeForwardPair(bert, small, timingBatches)
                console.line(String(format: "exported → %@  MAC ratio %.3f  measured latency %.3f s → %.3f s (%.2f× faster)",
                                    exportDir, cost.ratio(result.final), originalSeconds, smallSeconds, originalSeconds / smallSeconds))

                let masks = try JSONEncoder().encode(["searched": result.searched, "rearranged": result.rearranged, "tuned": result.tuned, "teacher_assistant": result.teacherAssistant])
                try writeAtomically(masks, to: out + "/masks.json")
                if let table { try writeAtomically(JSONEncoder().encode(table), to: out + "/lut.json") }
                var summary: [String: Any] = [
                    "task": task, "model": modelDir, "constraint": c, "metric": metric.rawValue, "samples": samples, "batch_size": batchSize,
                    "seed": Int(seed), "mean_sequence_length": seqLen, "metric_name": classifier != nil ? "test_accuracy" : "embedding_cosine",
                    "before": before, "after": stageScores, "mac_ratio": cost.ratio(result.final),
                    "kept_heads": result.final.keptHeadsPerLayer, "kept_neurons": result.final.keptNeuronsPerLayer,
                    "latency_seconds_original": originalSeconds, "latency_seconds_pruned": smallSeconds, "speedup": originalSeconds / smallSeconds,
                    "pruning_seconds": pruneSeconds, "stage_seconds": result.seconds,
                    "wall_seconds": Double(DispatchTime.now().uptimeNanoseconds - wall) / 1e9, "test_passages": test.count,
                    "export_max_abs_difference": exportDifference,
                ]
                if let r = result.tuningReport { summary["tuning_stopped_at"] = r.stoppedAt ?? NSNull() }
                if let table {
                    summary["latency_model"] = ["attention": ["constant": table.attention.constant, "threshold": table.attention.threshold, "slope": table.attention.slope],
                                                "ffn": ["constant": table.ffn.constant, "threshold": table.ffn.threshold, "slope": table.ffn.slope]]
                }
                try writeAtomically(JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys]), to: out + "/summary.json")
            }
        } catch let e as AmalgamError {
            console.error(e.description); throw ExitCode.failure
        }
    }
}

/// Mean-pooled, normalised embeddings of `texts`.
func embed(_ bert: BertModel, _ tokenizer: WordPieceTokenizer, _ texts: [String], _ maxLength: Int) throws -> Tensor {
    bert.eval()
    return try withoutGradients {
        Tensor.concatenate(try tokenizer.batches(texts, batchSize: 64, maxLength: maxLength).map {
            try bert.meanPooled(ids: $0.ids, typeIDs: $0.typeIDs, mask: $0.mask)
        }, axis: 0)
    }
}

/// Mean over rows of the cosine between two row-normalised matrices.
func meanCosine(_ a: Tensor, _ b: Tensor) -> Double {
    let d = a.shape[1], x = a.scalars, y = b.scalars
    var s = 0.0
    for i in 0..<a.shape[0] { var dot = 0.0; for j in 0..<d { dot += Double(x[i * d + j]) * Double(y[i * d + j]) }; s += dot }
    return s / Double(a.shape[0])
}

/// Median wall times of a forward pass over `batches` by two models, measured alternately
/// (five runs each after one warm-up), so a load change on the machine hits both alike.
func timeForwardPair(_ a: BertModel, _ b: BertModel, _ batches: [TokenBatch]) throws -> (Double, Double) {
    a.eval(); b.eval()
    func once(_ m: BertModel) throws -> Double {
        let s = DispatchTime.now().uptimeNanoseconds
        try withoutGradients { for x in batches { _ = try m(ids: x.ids, typeIDs: x.typeIDs, mask: x.mask) } }
        return Double(DispatchTime.now().uptimeNanoseconds - s) / 1e9
    }
    _ = try once(a); _ = try once(b)
    var ta: [Double] = [], tb: [Double] = []
    for _ in 0..<5 { ta.append(try once(a)); tb.append(try once(b)) }
    return (ta.sorted()[2], tb.sorted()[2])
}
