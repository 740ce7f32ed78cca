import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamLinalg
import AmalgamNN
import Foundation

/// What is pruned: a classifier, whose test accuracy is kept, or an encoder, whose sentence
/// embeddings are kept (no labels needed).
public enum PruningTarget {
    case classifier(TextClassifier)
    case encoder(SentenceEncoder)
}

/// Settings of a ``PruningExperiment``.
public struct PruningSettings: Sendable {
    /// Kept fractions of the budget, each in (0, 1]; one Fisher pass serves them all.
    public var constraints: [Double]
    public var metric: PruningMetric = .mac
    /// Sample texts for the Fisher and the tuning, drawn with replacement (as the reference).
    public var samples = 2048
    public var batchSize = 32
    public var rearrange = true
    public var tune = true
    /// Seed of the sample draw (and of the embedding objective's projection).
    public var seed: UInt64 = 0
    /// A latency table to reuse instead of measuring one (`metric == .latency`).
    public var latencyTable: LatencyTable?
    /// Baselines at the searched mask's cost (``BaselineMask``): with n > 0, the magnitude mask
    /// and n random masks (seeds `seed + 1000 + i`) are scored beside the stages; 0: none.
    public var randomBaselines = 0
    public init(constraints: [Double]) { self.constraints = constraints }
}

/// The latency model as `summary.json` records it.
public struct LatencyModelSummary: Codable, Sendable {
    public var attention: LatencyModel
    public var ffn: LatencyModel
}

/// One constraint's record (`summary.json`).
public struct PruningSummary: Codable, Sendable {
    public var task: String
    public var model: String
    public var constraint: Double
    public var metric: String
    public var samples: Int
    public var batchSize: Int
    public var seed: UInt64
    public var meanSequenceLength: Double
    /// `test_accuracy` (classifier) or `embedding_cosine` (encoder).
    public var metricName: String
    /// The score of the unpruned model.
    public var before: Double
    /// The score after each stage (search, rearrange, tune), on the test passages.
    public var after: [String: Double]
    /// With a validation split: the unpruned model's and each stage's score on it.
    public var validationBefore: Double?
    public var validationAfter: [String: Double]?
    public var validationPassages: Int
    /// The stage whose mask is exported (and timed, and counted): the best on validation (the
    /// later stage on a tie), or without a validation split the last stage run.
    public var selectedStage: String
    /// With baselines asked for: "magnitude" (one mask) and "random" (one per draw), each with
    /// the searched mask's numbers of heads and neurons; compare with `after["search"]`.
    public var baselines: [String: [BaselineScore]]?
    /// The encoder's retrieval score (``PruningExperiment/recallAtOne(queries:documents:)`` on
    /// the test passages split in halves): unpruned and after each stage; nil for a classifier.
    public var retrievalBefore: Double?
    public var retrievalAfter: [String: Double]?
    public var macRatio: Double
    public var keptHeads: [Int]
    public var keptNeurons: [Int]
    public var latencySecondsOriginal: Double
    public var latencySecondsPruned: Double
    public var speedup: Double
    public var pruningSeconds: Double
    public var stageSeconds: [String: Double]
    public var wallSeconds: Double
    public var testPassages: Int
    /// The largest |masked − exported| over the last hidden states of 16 test texts.
    public var exportMaxAbsDifference: Double
    /// How mask tuning ended (nil: it did not run, and the key is left out).
    public var tuningStoppedAt: TuningStop?
    public var latencyModel: LatencyModelSummary?

    enum CodingKeys: String, CodingKey {
        case task, model, constraint, metric, samples, seed, before, after, speedup
        case batchSize = "batch_size", meanSequenceLength = "mean_sequence_length", metricName = "metric_name", macRatio = "mac_ratio"
        case keptHeads = "kept_heads", keptNeurons = "kept_neurons", latencySecondsOriginal = "latency_seconds_original"
        case latencySecondsPruned = "latency_seconds_pruned", pruningSeconds = "pruning_seconds", stageSeconds = "stage_seconds"
        case wallSeconds = "wall_seconds", testPassages = "test_passages", exportMaxAbsDifference = "export_max_abs_difference"
        case tuningStoppedAt = "tuning_stopped_at", latencyModel = "latency_model"
        case validationBefore = "validation_before", validationAfter = "validation_after", validationPassages = "validation_passages"
        case selectedStage = "selected_stage", baselines
        case retrievalBefore = "retrieval_before", retrievalAfter = "retrieval_after"
    }
}

/// Where mask tuning's rejection rule stopped it: the layer, written as its name, or null when
/// tuning ran to the end (a decoder reads that null back as a missing value).
public enum TuningStop: Codable, Sendable, Equatable {
    case ranToEnd
    case stoppedAt(String)

    public init(_ stoppedAt: String?) { self = stoppedAt.map { .stoppedAt($0) } ?? .ranToEnd }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self { case .ranToEnd: try c.encodeNil(); case .stoppedAt(let s): try c.encode(s) }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        self = c.decodeNil() ? .ranToEnd : .stoppedAt(try c.decode(String.self))
    }
}

/// One constraint's outcome: the masks of every stage, the exported smaller model (of the
/// selected stage's mask), the record.
public struct PruningOutcome {
    public var constraint: Double
    public var result: PruningResult
    /// The mask of `summary.selectedStage`.
    public var selected: PruningMask
    public var summary: PruningSummary
    /// The latency table the budget used (measured or given; nil for MACs).
    public var latencyTable: LatencyTable?
    /// The exported model: a classifier (the original head on the smaller encoder) or an encoder.
    public var exported: PrunedModel
}

/// A physically smaller model exported from a pruning mask, with what it needs to be loaded.
public struct PrunedModel {
    public var bert: BertModel
    public var classifier: TextClassifier?
    public var tokenizer: WordPieceTokenizer
    public var maxLength: Int

    /// Writes a model directory: a classifier directory, or an encoder directory
    /// (`config.json`, `vocab.txt`, `model.safetensors`, `sentence_bert_config.json`) that
    /// `SentenceEncoder` loads; each file atomically.
    public func save(to dir: String, metadata: [String: String]) throws {
        if let classifier { return try classifier.save(to: dir, metadata: metadata) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try writeAtomically(JSONEncoder().encode(bert.config), to: dir + "/config.json")
        try tokenizer.writeVocabulary(to: dir + "/vocab.txt")
        try bert.save(to: dir + "/model.safetensors", metadata: metadata)
        try writeAtomically(Data("{\"max_seq_length\": \(maxLength)}".utf8), to: dir + "/sentence_bert_config.json")
    }
}

/// Post-training pruning of a transformer on a text task (Kwon et al. 2022), end to end: draw
/// the sample, one Fisher pass, then per constraint search → rearrange → tune, score every stage
/// on the held-out texts, export a smaller dense model, check it computes what the masked model
/// computes, and time both.
///
/// With `validation` texts (held-out chapters, not the test ones), every stage is also scored on
/// them and the stage exported is the best there (ties go to the later stage, the fuller
/// method); the test texts only report. Without, the exported stage is the last one run.
public final class PruningExperiment {
    public let target: PruningTarget
    /// The model directory's name, recorded in summaries and exports.
    public let modelName: String
    public let train: [LabelledText], validation: [LabelledText], test: [LabelledText]
    public var settings: PruningSettings
    /// Progress: `.progress` of the phases "latency table", "fisher", "search", "rearrange", "tune".
    public var callback: (TrainingEvent) -> Void = { _ in }

    public init(target: PruningTarget, modelName: String, train: [LabelledText], validation: [LabelledText] = [], test: [LabelledText], settings: PruningSettings) throws {
        guard !settings.constraints.isEmpty, settings.constraints.allSatisfy({ $0 > 0 && $0 <= 1 }) else {
            throw AmalgamError.invalidArgument("every constraint must be in (0, 1], got \(settings.constraints)")
        }
        guard settings.samples >= 32 else { throw AmalgamError.invalidArgument("the Fisher needs at least 32 samples, got \(settings.samples)") }
        guard settings.batchSize >= 1, settings.batchSize <= settings.samples else { throw AmalgamError.invalidArgument("the batch size must be in 1...\(settings.samples)") }
        guard !train.isEmpty, !test.isEmpty else { throw AmalgamError.invalidArgument("pruning needs sample and test texts") }
        self.target = target; self.modelName = modelName; self.train = train; self.validation = validation; self.test = test; self.settings = settings
        if case .classifier(let c) = target, c.labels.count < 2 { throw AmalgamError.invalidArgument("\(modelName) has \(c.labels.count) labels") }
        guard bert.config.layerHeads == nil, bert.config.layerIntermediateSizes == nil else {
            throw AmalgamError.invalidArgument("\(modelName) is already pruned; prune the unpruned model")
        }
    }

    var classifier: TextClassifier? { if case .classifier(let c) = target { return c }; return nil }
    var bert: BertModel {
        switch target { case .classifier(let c): return c.model.bert; case .encoder(let e): return e.model }
    }
    var tokenizer: WordPieceTokenizer {
        switch target { case .classifier(let c): return c.tokenizer; case .encoder(let e): return e.tokenizer }
    }
    var maxLength: Int {
        switch target { case .classifier(let c): return c.maxLength; case .encoder(let e): return min(e.maxLength, 128) }
    }

    func progress(_ phase: String) -> (Int, Int) -> Void {
        { done, total in if done == total || done % 16 == 0 { self.callback(.progress(RunContext(phase: phase), done: done, total: total)) } }
    }

    /// Runs every constraint, handing each outcome to `body` as soon as it is ready (to write it).
    public func run(_ body: (PruningOutcome) throws -> Void) throws {
        let wall = DispatchTime.now().uptimeNanoseconds
        let s = settings
        var rng = RandomGenerator(seed: s.seed)
        let drawn = (0..<s.samples).map { _ in train[Int(rng.next() % UInt64(train.count))] }
        let bert = self.bert, tokenizer = self.tokenizer, maxLength = self.maxLength, classifier = self.classifier
        let batches = tokenizer.batches(drawn.map(\.text), labels: drawn.map(\.label), batchSize: s.batchSize, maxLength: maxLength)
        let tokens = batches.reduce(0.0) { $0 + Double($1.mask.scalars.reduce(0, +)) }
        // Tuning gets the same sample sorted by length (little padding; its sums run over tokens).
        let lengths = batches.flatMap { b in (0..<b.mask.shape[0]).map { b.mask.select(axis: 0, index: $0).scalars.reduce(0, +) } }
        let byLength = drawn.indices.sorted { (lengths[$0], $0) < (lengths[$1], $1) }
        let tuningBatches = tokenizer.batches(byLength.map { drawn[$0].text }, labels: byLength.map { drawn[$0].label }, batchSize: s.batchSize, maxLength: maxLength)
        let seqLen = tokens / Double(s.samples)
        var table = s.latencyTable
        if s.metric == .latency && table == nil {
            callback(.progress(RunContext(phase: "latency table"), done: 0, total: 1))
            table = try LatencyTable.measure(bert.config, batchSize: s.batchSize, sequenceLength: Int(seqLen.rounded()))
            callback(.progress(RunContext(phase: "latency table"), done: 1, total: 1))
        }
        let loss = classifier.map { PostTrainingPruning.classificationLoss($0.model) } ?? PostTrainingPruning.embeddingLoss(seed: s.seed)
        let fisherStart = DispatchTime.now().uptimeNanoseconds
        let grads = try maskGradients(bert, batches: batches, loss: loss, progress: progress("fisher"))
        let fisherSeconds = Double(DispatchTime.now().uptimeNanoseconds - fisherStart) / 1e9
        // Evaluation data and the unpruned score, shared by every constraint.
        let testTexts = test.map(\.text), testLabels = test.map(\.label)
        let validationTexts = validation.map(\.text), validationLabels = validation.map(\.label)
        var reference: Tensor? = nil, validationReference: Tensor? = nil
        bert.clearMasks()
        if classifier == nil {
            reference = try Self.embed(bert, tokenizer, testTexts, maxLength)
            if !validation.isEmpty { validationReference = try Self.embed(bert, tokenizer, validationTexts, maxLength) }
        }
        func score(_ texts: [String], _ labels: [Int], _ reference: Tensor?) throws -> Double {
            if let classifier { return try classifier.evaluate(texts, labels: labels).accuracy }
            return Self.meanCosine(try Self.embed(bert, tokenizer, texts, maxLength), reference!)
        }
        func score() throws -> Double { try score(testTexts, testLabels, reference) }
        func validationScore() throws -> Double? { validation.isEmpty ? nil : try score(validationTexts, validationLabels, validationReference) }
        // The encoder's downstream score: passage-continuation retrieval on the test passages.
        let split = classifier == nil ? testTexts.map(Self.halves) : []
        func retrieval() throws -> Double? {
            guard classifier == nil else { return nil }
            return Self.recallAtOne(queries: try Self.embed(bert, tokenizer, split.map(\.0), maxLength),
                                    documents: try Self.embed(bert, tokenizer, split.map(\.1), maxLength))
        }
        let before = try score(), validationBefore = try validationScore(), retrievalBefore = try retrieval()
        for c in s.constraints {
            var options = PruningOptions(constraint: c)
            options.metric = s.metric; options.rearrange = s.rearrange; options.tune = s.tune
            let pruneStart = DispatchTime.now().uptimeNanoseconds
            var result = try PostTrainingPruning.run(bert, batches: batches, tuningBatches: tuningBatches, gradients: grads, options: options,
                                                     sequenceLength: seqLen, latency: table) { stage, done, total in self.progress(stage)(done, total) }
            result.seconds["fisher"] = fisherSeconds
            let pruneSeconds = Double(DispatchTime.now().uptimeNanoseconds - pruneStart) / 1e9 + fisherSeconds

            // Every stage on the held-out texts.
            let cost = PruningCost.macs(bert.config, sequenceLength: seqLen)
            var stages: [(String, PruningMask)] = [("search", result.searched)]
            if s.rearrange { stages.append(("rearrange", result.rearranged)) }
            if s.tune { stages.append(("tune", result.tuned)) }
            var stageScores: [String: Double] = [:], validationScores: [String: Double] = [:], retrievalScores: [String: Double] = [:]
            var selected = stages.last!
            for (name, mask) in stages {
                try mask.apply(to: bert)
                stageScores[name] = try score()
                retrievalScores[name] = try retrieval()
                if let v = try validationScore() {
                    validationScores[name] = v
                    if name == stages[0].0 || v >= validationScores[selected.0]! { selected = (name, mask) }
                }
            }
            var baselines: [String: [BaselineScore]]? = nil
            if s.randomBaselines > 0 {
                var masks = [("magnitude", try BaselineMask.magnitude(like: result.searched, model: bert))]
                for i in 0..<s.randomBaselines { masks.append(("random", BaselineMask.random(like: result.searched, seed: s.seed &+ 1000 &+ UInt64(i)))) }
                var scores: [String: [BaselineScore]] = [:]
                for (name, mask) in masks {
                    try mask.apply(to: bert)
                    scores[name, default: []].append(BaselineScore(test: try score(), validation: try validationScore(), macRatio: cost.ratio(mask)))
                }
                baselines = scores
            }
            bert.clearMasks()

            // The selected mask as a smaller dense model, checked against the masked one and timed.
            let small = try PrunedExport.model(bert, mask: selected.1)
            var exported = PrunedModel(bert: small, classifier: nil, tokenizer: tokenizer, maxLength: maxLength)
            if let classifier {
                var r2 = RandomGenerator(seed: 0)
                let head = BertClassifier(bert: small, classes: classifier.labels.count, using: &r2)
                try head.classifier.loadStateDict(classifier.model.classifier.stateDict())
                head.eval()
                exported.classifier = TextClassifier(model: head, tokenizer: tokenizer, labels: classifier.labels, maxLength: maxLength)
            }
            let checkBatches = tokenizer.batches(Array(testTexts.prefix(16)), batchSize: 8, maxLength: maxLength)
            try selected.1.apply(to: bert)
            let maskedOut = try checkBatches.map { b in try withoutGradients { try bert(ids: b.ids, typeIDs: b.typeIDs, mask: b.mask) } }
            bert.clearMasks()
            let smallOut = try checkBatches.map { b in try withoutGradients { try small(ids: b.ids, typeIDs: b.typeIDs, mask: b.mask) } }
            var exportDifference = 0.0
            for (x, y) in zip(maskedOut, smallOut) { for (u, v) in zip(x.scalars, y.scalars) { exportDifference = max(exportDifference, Double(abs(u - v))) } }
            let timingBatches = tokenizer.batches(Array(testTexts.prefix(128)), batchSize: 32, maxLength: maxLength)
            let (originalSeconds, smallSeconds) = try Self.timeForwardPair(bert, small, timingBatches)

            let summary = PruningSummary(
                task: classifier != nil ? "austen" : "embedding", model: modelName, constraint: c, metric: s.metric.rawValue, samples: s.samples,
                batchSize: s.batchSize, seed: s.seed, meanSequenceLength: seqLen, metricName: classifier != nil ? "test_accuracy" : "embedding_cosine",
                before: before, after: stageScores, validationBefore: validationBefore, validationAfter: validation.isEmpty ? nil : validationScores,
                validationPassages: validation.count, selectedStage: selected.0, baselines: baselines,
                retrievalBefore: retrievalBefore, retrievalAfter: retrievalBefore == nil ? nil : retrievalScores,
                macRatio: cost.ratio(selected.1), keptHeads: selected.1.keptHeadsPerLayer,
                keptNeurons: selected.1.keptNeuronsPerLayer, latencySecondsOriginal: originalSeconds, latencySecondsPruned: smallSeconds,
                speedup: originalSeconds / smallSeconds, pruningSeconds: pruneSeconds, stageSeconds: result.seconds,
                wallSeconds: Double(DispatchTime.now().uptimeNanoseconds - wall) / 1e9, testPassages: test.count,
                exportMaxAbsDifference: exportDifference, tuningStoppedAt: result.tuningReport.map { TuningStop($0.stoppedAt) },
                latencyModel: table.map { LatencyModelSummary(attention: $0.attention, ffn: $0.ffn) })
            try body(PruningOutcome(constraint: c, result: result, selected: selected.1, summary: summary, latencyTable: table, exported: exported))
        }
    }

    /// Mean-pooled, normalised embeddings of `texts`.
    public static func embed(_ bert: BertModel, _ tokenizer: WordPieceTokenizer, _ texts: [String], _ maxLength: Int) throws -> Tensor {
        bert.eval()
        return try withoutGradients {
            Tensor.concatenate(try tokenizer.batches(texts, batchSize: 64, maxLength: maxLength).map {
                try bert.meanPooled(ids: $0.ids, typeIDs: $0.typeIDs, mask: $0.mask)
            }, axis: 0)
        }
    }

    /// A passage split into its first and second half by words (the first half has ⌊n/2⌋ words);
    /// a passage of one word is its own two halves.
    public static func halves(_ text: String) -> (String, String) {
        let words = text.split(whereSeparator: \.isWhitespace)
        guard words.count >= 2 else { return (text, text) }
        let h = words.count / 2
        return (words[..<h].joined(separator: " "), words[h...].joined(separator: " "))
    }

    /// Recall@1 of passage-continuation retrieval: the fraction of rows i of `queries` whose
    /// cosine with `documents` row i is strictly above their cosine with every other document
    /// row (rows row-normalised, as ``embed(_:_:_:_:)`` returns them). The label-free objective
    /// keeps embeddings close to the unpruned ones; this measures what a user of the encoder
    /// needs from them (chance: 1/N).
    public static func recallAtOne(queries q: Tensor, documents d: Tensor) -> Double {
        let n = q.shape[0], dim = q.shape[1]
        let x = q.scalars.map(Double.init), y = d.scalars.map(Double.init)
        // The cosines a block of query rows at a time (one GEMM per block, in double precision).
        let block = 256
        var dots = [Double](repeating: 0, count: block * n)
        var hits = 0
        var start = 0
        while start < n {
            let rows = min(block, n - start)
            x.withUnsafeBufferPointer { xp in
                Linalg.gemm(.none, .transpose, rows, n, dim, 1, xp.baseAddress! + start * dim, dim, y, dim, 0, &dots, n)
            }
            for r in 0..<rows {
                let i = start + r, own = dots[r * n + i]
                var best = -Double.infinity
                for j in 0..<n where j != i { best = max(best, dots[r * n + j]) }
                if own > best { hits += 1 }
            }
            start += rows
        }
        return Double(hits) / Double(max(n, 1))
    }

    /// Mean over rows of the cosine between two row-normalised matrices.
    public static func meanCosine(_ a: Tensor, _ b: Tensor) -> Double {
        let d = a.shape[1], x = a.scalars, y = b.scalars
        var s = 0.0
        for i in 0..<a.shape[0] { var dot = 0.0; for j in 0..<d { dot += Double(x[i * d + j]) * Double(y[i * d + j]) }; s += dot }
        return s / Double(a.shape[0])
    }

    /// Median wall times of a forward pass over `batches` by two models, measured alternately
    /// (five runs each after one warm-up), so a load change on the machine hits both alike.
    public static func timeForwardPair(_ a: BertModel, _ b: BertModel, _ batches: [TokenBatch]) throws -> (Double, Double) {
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
}
