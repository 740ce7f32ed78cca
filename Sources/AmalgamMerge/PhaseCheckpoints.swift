import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import Foundation

/// What a finished training phase of a ``MergeExperiment`` left behind besides its weights.
public struct PhaseRecord: Codable, Sendable {
    /// Identifies the run configuration the phase belongs to (model, budget, K, data sizes, recipe).
    public var run: String
    public var testAccuracy: Double
    public var seconds: Double
    /// On the experiment's validation split, when it has one (nil in records written before).
    public var validationAccuracy: Double?
    /// For the merge phase: the diagnostics of the whole merge (gates, pruning, fine-tuning).
    public var diagnostics: MergeDiagnostics?
    /// The engine's thread count when the phase finished (nil in records written before it was
    /// kept). Results are bit-for-bit reproducible for a seed *and* a thread count: kernels split
    /// their sums differently across threads, so the same seed at 1 and 2 threads gives slightly
    /// different floats that training then amplifies (ResNet-20, one epoch on 2,000 images: test
    /// loss 2.18775 at 1 thread, 2.18800 at 2; identical across runs at either count).
    public var threads: Int?
    /// False when ``PhaseCheckpoints/load(seed:phase:run:into:weightsOptional:)`` returned the
    /// record without weights (never written to disk).
    public var weightsLoaded = true
    enum CodingKeys: String, CodingKey { case run, testAccuracy, seconds, validationAccuracy, diagnostics, threads }
    public init(run: String, testAccuracy: Double, seconds: Double, validationAccuracy: Double? = nil, diagnostics: MergeDiagnostics? = nil,
                threads: Int? = Threading.threads) {
        self.run = run; self.testAccuracy = testAccuracy; self.seconds = seconds; self.validationAccuracy = validationAccuracy; self.diagnostics = diagnostics
        self.threads = threads
    }
}

/// Where a ``MergeExperiment`` keeps every finished phase of a seed — a teacher, the merged
/// student after fine-tuning, each baseline — so that an interrupted run resumes after its last
/// finished phase instead of starting the seed again.
///
/// Layout: `DIRECTORY/seed<S>/<name>.safetensors` (the weights — the one copy of each trained
/// model, loadable anywhere a model of its architecture loads, e.g. `teacher-0.safetensors`,
/// `merged.safetensors`, `gates.safetensors` for the wide network with its gates) and
/// `phase-<name>.json` (a ``PhaseRecord``), both written atomically, the record last: a record
/// on disk means the weights beside it are complete. Weights saved by earlier versions as
/// `phase-<name>.safetensors` are still read. A resumed run gets exactly the numbers of an uninterrupted one
/// (each phase draws from its own seeds, and the reloaded weights are the saved float32 values);
/// only the recorded seconds are those of the original phase. Records of another configuration
/// are refused with an error rather than silently mixed in.
///
/// A phase in progress is saved too, every ``progressInterval`` seconds and when the run is
/// stopped (SIGINT/SIGTERM): `phase-<name>.progress.safetensors`, a `TrainingCheckpoint`
/// (weights, optimizer state, generators, step, the seconds spent so far). A resumed run
/// continues that phase at the saved step, replaying the epoch's shuffle and augmentation
/// draws, so it gets exactly the numbers of an uninterrupted one; the file is removed once the
/// phase is finished. Even a run killed without warning loses at most one interval of training.
public struct PhaseCheckpoints: Sendable {
    public let directory: String
    /// Load finished phases (false: only save them, overwriting what is there).
    public var reuse: Bool
    /// Seconds of training between two saves of the phase in progress (default 5 minutes).
    public var progressInterval: Double = 300
    /// Metadata written into every saved model besides its phase, run, seed and role (the CLI
    /// puts the model kind, the dataset and the normalisation statistics here, which
    /// `amalgam evaluate` reads).
    public var modelMetadata: [String: String] = [:]
    public init(directory: String, reuse: Bool) { self.directory = directory; self.reuse = reuse }

    /// A phase's name as a file name: "teacher 0" → "teacher-0", "long (equal compute)" → "long-equal-compute".
    public static func fileName(_ phase: String) -> String {
        phase.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) }).joined(separator: "-")
    }

    func stem(seed: UInt64, phase: String) -> String { "\(directory)/seed\(seed)/phase-\(Self.fileName(phase))" }

    /// Where a finished phase's weights are: `seed<S>/<name>.safetensors`, or an earlier
    /// version's `phase-<name>.safetensors` when only that exists.
    public func weightsPath(seed: UInt64, phase: String) -> String {
        let path = "\(directory)/seed\(seed)/\(Self.fileName(phase)).safetensors", old = stem(seed: seed, phase: phase) + ".safetensors"
        return !FileManager.default.fileExists(atPath: path) && FileManager.default.fileExists(atPath: old) ? old : path
    }

    /// Where the phase in progress is kept.
    func progressPath(seed: UInt64, phase: String) -> String { stem(seed: seed, phase: phase) + ".progress.safetensors" }

    /// The error for a file of `path` saved by another run configuration.
    func differentRun(_ path: String, saved: String?, run: String) -> AmalgamError {
        AmalgamError.invalidArgument("\(path) was saved by a different run (\(saved ?? "unknown")); this run is \(run) — use another output directory or remove that seed's phase files")
    }

    /// The saved phase, its weights loaded into `model`; nil when it was not saved (or `reuse` is off).
    ///
    /// With `weightsOptional`, for a phase whose weights the caller discards (a baseline that
    /// only contributes its accuracy), the record alone is enough when the weights file is gone:
    /// `model` is then left untouched and the returned record has `weightsLoaded == false`. This
    /// lets the state of a long experiment be carried between machines as its records, its
    /// teachers and its merged student (see `scripts/experiments/merging_state.sh`). A weights
    /// file that is there is always loaded and checked.
    public func load(seed: UInt64, phase: String, run: String, into model: Module, weightsOptional: Bool = false) throws -> PhaseRecord? {
        guard reuse else { return nil }
        let stem = stem(seed: seed, phase: phase)
        guard FileManager.default.fileExists(atPath: stem + ".json") else { return nil }
        let record: PhaseRecord
        do { record = try JSONDecoder().decode(PhaseRecord.self, from: try readFile(stem + ".json")) } catch let e as AmalgamError { throw e } catch {
            throw AmalgamError.format(path: stem + ".json", message: "not a phase record: \(jsonErrorDescription(error))")
        }
        guard record.run == run else { throw differentRun(stem + ".json", saved: record.run, run: run) }
        guard record.testAccuracy.isFinite, record.seconds.isFinite else {
            throw AmalgamError.format(path: stem + ".json", message: "test accuracy \(record.testAccuracy), seconds \(record.seconds)")
        }
        let weights = weightsPath(seed: seed, phase: phase)
        if weightsOptional && !FileManager.default.fileExists(atPath: weights) {
            var r = record
            r.weightsLoaded = false
            return r
        }
        try model.load(from: weights)
        return record
    }

    /// Saves a finished phase: weights first, then the record.
    public func save(seed: UInt64, phase: String, model: Module, record: PhaseRecord) throws {
        let stem = stem(seed: seed, phase: phase)
        try FileManager.default.createDirectory(atPath: "\(directory)/seed\(seed)", withIntermediateDirectories: true)
        var meta = modelMetadata
        meta["phase"] = phase; meta["run"] = record.run; meta["seed"] = "\(seed)"; meta["role"] = phase
        try model.save(to: "\(directory)/seed\(seed)/\(Self.fileName(phase)).safetensors", metadata: meta)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeAtomically(try encoder.encode(record), to: stem + ".json")
    }

    /// The `Checkpointer` of the phase in progress: its file, the run key (a file of another
    /// run configuration is refused, naming both), saves every ``progressInterval`` seconds and
    /// when stopped, not at epoch ends (a phase records no per-epoch metrics), and resumes when
    /// ``reuse`` is on. Its metadata holds the run, the phase and the seconds spent.
    public func progress(seed: UInt64, phase: String, run: String) -> Checkpointer {
        let c = Checkpointer(path: progressPath(seed: seed, phase: phase), runKey: run, resume: reuse, interval: progressInterval, saveEveryEpoch: false)
        c.metadata = ["phase": phase]
        c.mismatch = { path, saved in differentRun(path, saved: saved, run: run) }
        return c
    }

    /// Removes the phase-in-progress file (called once the phase is saved as finished).
    public func removeProgress(seed: UInt64, phase: String) {
        try? FileManager.default.removeItem(atPath: progressPath(seed: seed, phase: phase))
    }
}
