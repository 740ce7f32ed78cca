import AmalgamCore
import Foundation

/// Where a ``Trainer`` keeps the state of a run in progress, and when: the one owner of
/// periodic and signal-time ``TrainingCheckpoint``s, the run key and the meaning of `--resume`.
///
/// - **Run key.** Every save records `runKey` (a string naming everything the numbers depend on:
///   model, data, recipe); a saved state of another key is refused before anything is loaded,
///   so a resumed run never mixes in the state of a run with other settings.
/// - **When.** At the end of every epoch (``saveEveryEpoch``), every ``interval`` seconds of
///   training and when the run is stopped (SIGINT/SIGTERM through ``Trainer/shouldStop``), the
///   last two only when ``interval`` is set: a state saved mid-epoch is continued mid-epoch
///   (the epoch's batches before the saved step are rebuilt and dropped, which replays their
///   shuffle and augmentation draws) and carries the epoch's running loss and accuracy sums, so
///   the resumed epoch reports the metrics of an uninterrupted one.
/// - **Resume.** With ``resume`` on, ``Trainer`` restores the saved state (weights, optimizer
///   state, random generators, step, seconds spent) before it trains and continues with bit for
///   bit the numbers of an uninterrupted run; with it off, an existing state is overwritten.
/// - **Atomic.** Each save writes a temporary file and renames it, so a run killed at any moment
///   (even `kill -9`) leaves the previous state intact.
///
/// The file's metadata holds `run`, the step, the epoch or the seconds as the trainer saves
/// them, ``metadata`` (e.g. the phase's name) and what ``saveState`` returns (state outside the
/// model and optimizer, such as a penalty weight), handed back to ``restoreState``.
public final class Checkpointer {
    public let path: String
    public let runKey: String
    public var resume: Bool
    /// Seconds of training between two saves of a run in progress; nil saves only at epoch ends
    /// (``saveEveryEpoch``), and a stop then loses the epoch in progress.
    public var interval: Double?
    /// Save when an epoch ends.
    public var saveEveryEpoch: Bool
    /// Constant metadata written with every save.
    public var metadata: [String: String] = [:]
    /// State outside the model and optimizer, saved as metadata.
    public var saveState: () -> [String: String] = { [:] }
    /// Restores what ``saveState`` saved (called before training continues).
    public var restoreState: ([String: String]) throws -> Void = { _ in }
    /// The error for a file saved by a run with another key (`path`, the saved key).
    public var mismatch: (String, String?) -> Error = { path, _ in
        AmalgamError.invalidArgument("--resume: \(path) belongs to a run with other options; use the original run's options or another output directory")
    }

    public init(path: String, runKey: String, resume: Bool, interval: Double? = nil, saveEveryEpoch: Bool = true) {
        self.path = path; self.runKey = runKey; self.resume = resume; self.interval = interval; self.saveEveryEpoch = saveEveryEpoch
    }

    /// A restored state.
    public struct Saved {
        public var step: Int
        /// Seconds of training before the save (0 when not recorded).
        public var seconds: Double
        /// The epoch the save closed, when it was saved at an epoch end.
        public var epoch: Int?
        /// All the caller's metadata.
        public var metadata: [String: String]
    }

    /// Whether a saved state exists.
    public var exists: Bool { FileManager.default.fileExists(atPath: path) }

    /// Restores the saved state into `model` and `optimizer` when resuming and one exists; nil
    /// otherwise. The run key, the seconds and the epoch are checked before anything is loaded.
    public func load(model: Module, optimizer: Optimizer) throws -> Saved? {
        guard resume, exists else { return nil }
        var seconds = 0.0, epoch: Int?
        let (step, meta) = try TrainingCheckpoint.read(from: path, model: model, optimizer: optimizer) { meta in
            guard meta["run"] == runKey else { throw mismatch(path, meta["run"]) }
            if let s = meta["seconds"] {
                guard let v = Double(s), v.isFinite, v >= 0 else { throw AmalgamError.format(path: path, message: "metadata 'user.seconds' is \(s)") }
                seconds = v
            }
            if let e = meta["epoch"] {
                guard let v = Int(e), v >= 1 else { throw AmalgamError.format(path: path, message: "metadata 'user.epoch' is \(e), not an epoch number") }
                epoch = v
            }
        }
        try restoreState(meta)
        return Saved(step: step, seconds: seconds, epoch: epoch, metadata: meta)
    }

    /// Saves `model` and `optimizer` after `step` steps, with the trainer's `progress` metadata
    /// (epoch or seconds), atomically.
    public func save(model: Module, optimizer: Optimizer, step: Int, progress: [String: String]) throws {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        var meta = metadata
        for (k, v) in saveState() { meta[k] = v }
        for (k, v) in progress { meta[k] = v }
        meta["run"] = runKey
        try TrainingCheckpoint.write(to: path, model: model, optimizer: optimizer, step: step, metadata: meta)
    }

    /// Removes the saved state (once the run it belongs to is finished and saved elsewhere).
    public func remove() { try? FileManager.default.removeItem(atPath: path) }
}
