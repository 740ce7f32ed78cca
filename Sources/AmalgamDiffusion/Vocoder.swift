import AmalgamAudio
import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import Foundation

/// The audio front end a vocoder was trained with (its mel spectrogram's definition).
public struct MelSettings: Codable, Equatable, Sendable {
    public var sampleRate = 22_050
    public var nFFT = 1024
    public var hop = 256
    public var windowLength = 1024
    public var bands = 80
    public var fmin = 80.0
    public var fmax = 7600.0
    public init() {}

    public func make() throws -> MelSpectrogram {
        try MelSpectrogram(sampleRate: sampleRate, nFFT: nFFT, hop: hop, windowLength: windowLength, nMels: bands, fmin: fmin, fmax: fmax)
    }

    enum CodingKeys: String, CodingKey {
        case sampleRate = "sample_rate", nFFT = "n_fft", hop = "hop_size", windowLength = "win_size", bands = "num_mels", fmin, fmax
    }
}

/// Everything a vocoder directory's `config.json` records: the mel front end, the denoiser's
/// sizes and the training noise schedule (linear β from `beta0` to `betaT` over `steps`).
public struct VocoderSpec: Codable, Equatable, Sendable {
    public var mel = MelSettings()
    public var model = FastDiffConfig()
    public var trainingSteps = 1000
    public var beta0 = 1e-6
    public var betaT = 0.01
    public init() {}

    public func validate() throws {
        try model.validate()
        guard model.hop == mel.hop else {
            throw AmalgamError.invalidArgument("vocoder config: the upsampling ratios multiply to \(model.hop), the mel hop is \(mel.hop)")
        }
        guard model.melBands == mel.bands else { throw AmalgamError.invalidArgument("vocoder config: the model takes \(model.melBands) bands, the mel has \(mel.bands)") }
        guard (8_000...192_000).contains(mel.sampleRate) else { throw AmalgamError.invalidArgument("vocoder config: sample rate \(mel.sampleRate) not in 8000…192000") }
        guard (2...100_000).contains(trainingSteps) else { throw AmalgamError.invalidArgument("vocoder config: \(trainingSteps) diffusion steps (2…100000)") }
        _ = try trainingSchedule()
        _ = try mel.make()
    }

    public func trainingSchedule() throws -> NoiseSchedule { try .linear(steps: trainingSteps, start: beta0, end: betaT) }

    enum CodingKeys: String, CodingKey { case mel, model, trainingSteps = "T", beta0 = "beta_0", betaT = "beta_T" }
}

/// A trained vocoder: spec + weights, stored as a directory with `config.json` and
/// `model.safetensors` (PyTorch-style names, see ``FastDiffModel``).
public struct Vocoder {
    public let spec: VocoderSpec
    public let model: FastDiffModel

    public init(spec: VocoderSpec, seed: UInt64 = 0) throws {
        try spec.validate()
        self.spec = spec
        model = try FastDiffModel(config: spec.model, seed: seed)
    }

    public static func load(directory dir: String) throws -> Vocoder {
        let configPath = dir + "/config.json"
        guard let data = FileManager.default.contents(atPath: configPath) else {
            throw AmalgamError.format(path: configPath, message: FileManager.default.fileExists(atPath: dir) ? "missing: not a vocoder directory (amalgam diffusion train writes one)" : "no such directory")
        }
        let spec: VocoderSpec
        do { spec = try JSONDecoder().decode(VocoderSpec.self, from: data) } catch {
            throw AmalgamError.format(path: configPath, message: "not a vocoder config (\(jsonErrorDescription(error)))")
        }
        let v = try Vocoder(spec: spec)
        try v.model.load(from: dir + "/model.safetensors")
        return v
    }

    public func save(directory dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try writeJSON(spec, to: dir + "/config.json")
        try model.save(to: dir + "/model.safetensors")
    }

    /// What was done to a waveform to make it the model's input.
    public struct Conversion: Sendable { public var resampledFrom: Int?; public var mixedChannels: Int? }

    /// Mono audio at the model's rate (``monoAudio(_:at:)``), saying what was done.
    public func prepare(_ audio: Audio) throws -> (samples: [Float], conversion: Conversion) {
        try monoAudio(audio, at: spec.mel.sampleRate)
    }

    /// Log-mel `[bands, frames]` of mono samples at the model's rate.
    public func mel(_ samples: [Float]) throws -> Tensor { try spec.mel.make()(samples) }

    /// A waveform (frames · hop samples) from a log-mel `[bands, frames]`.
    public func synthesize(mel: Tensor, schedule: NoiseSchedule, seed: UInt64 = 0, progress: ((Int, Int) -> Void)? = nil) throws -> [Float] {
        guard mel.rank == 2, mel.shape[0] == spec.mel.bands, mel.shape[1] >= 1 else {
            throw AmalgamError.shape("vocoder: a mel of shape \(mel.shape); this model takes [\(spec.mel.bands) bands, frames]")
        }
        var rng = RandomGenerator(seed: seed)
        let sampler = DiffusionSampler(model: model, training: try spec.trainingSchedule(), inference: schedule)
        return try sampler.sample(mel: mel.unsqueezed(axis: 0), using: &rng, progress: progress).scalars
    }
}

/// Mono audio at `rate`: channels averaged, resampled with soxr (HQ) when the rate differs;
/// says what it did.
public func monoAudio(_ audio: Audio, at rate: Int) throws -> (samples: [Float], conversion: Vocoder.Conversion) {
    var c = Vocoder.Conversion()
    var x = audio.mono
    if audio.channels.count > 1 { c.mixedChannels = audio.channels.count }
    if audio.sampleRate != rate {
        x = try Resampler.resample(x, from: audio.sampleRate, to: rate)
        c.resampledFrom = audio.sampleRate
    }
    return (x, c)
}

/// Utterances from a directory of WAV files (sorted by name), each mixed to mono, resampled to
/// the vocoder's rate and paired with its log-mel spectrogram.
public func loadVocoderClips(directory dir: String, mel settings: MelSettings, limit: Int? = nil) throws -> [VocoderClip] {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else {
        throw AmalgamError.format(path: dir, message: FileManager.default.fileExists(atPath: dir) ? "not a readable directory" : "no such directory")
    }
    let wavs = names.filter { $0.lowercased().hasSuffix(".wav") }.sorted()
    guard !wavs.isEmpty else { throw AmalgamError.format(path: dir, message: "no .wav files") }
    let mel = try settings.make()
    var clips: [VocoderClip] = []
    for name in wavs.prefix(limit ?? wavs.count) {
        let x = try monoAudio(try WAV.read(dir + "/" + name), at: settings.sampleRate).samples
        guard x.count >= settings.nFFT / 2 + 1 else { throw AmalgamError.invalidData("\(dir)/\(name): \(x.count) samples, too short for one frame") }
        clips.append(try VocoderClip(name: name, audio: x, mel: mel))
    }
    return clips
}

/// DDPM training of a FastDiff vocoder on ε-prediction (AdamW, constant learning rate, gradient
/// clipping), resumable: the trainer's state is saved every `saveInterval` seconds and at every
/// epoch end in `outDir/training-state.safetensors`; rerunning the same command continues bit
/// for bit. Batches are drawn from a generator seeded by (seed, step), so a resumed run draws
/// what an uninterrupted one would. Each epoch (`stepsPerEpoch` steps) ends with the ε-loss on
/// fixed validation batches; `metrics.jsonl` keeps one line per epoch.
public struct VocoderTraining {
    public var spec = VocoderSpec()
    public var steps = 10_000
    public var stepsPerEpoch = 100
    public var batchSize = 4
    public var segmentFrames = 32
    public var learningRate: Float = 2e-4
    public var weightDecay: Float = 0
    public var clipNorm: Float? = 1
    public var seed: UInt64 = 0
    public var validationBatches = 4
    public var saveInterval = 120.0
    public init() {}

    public struct Result: Codable, Sendable {
        public var steps: Int
        public var seconds: Double
        public var finalTrainLoss: Double
        public var finalValidationLoss: Double?
        public var parameters: Int
        public var trainClips: Int
        public var trainSeconds: Double
        enum CodingKeys: String, CodingKey {
            case steps, seconds, parameters
            case finalTrainLoss = "final_train_loss", finalValidationLoss = "final_validation_loss"
            case trainClips = "train_clips", trainSeconds = "train_audio_seconds"
        }
    }

    var key: String {
        "fastdiff \(String(data: (try? JSONEncoder().encode(spec)) ?? Data(), encoding: .utf8) ?? "") steps \(steps)/\(stepsPerEpoch) batch \(batchSize)×\(segmentFrames) lr \(learningRate) wd \(weightDecay) clip \(clipNorm.map { "\($0)" } ?? "none") seed \(seed)"
    }

    public func validate() throws {
        try spec.validate()
        guard (1...100_000_000).contains(steps), (1...1_000_000).contains(stepsPerEpoch) else { throw AmalgamError.invalidArgument("training: \(steps) steps, epochs of \(stepsPerEpoch)") }
        guard (1...4096).contains(batchSize), (1...100_000).contains(segmentFrames) else { throw AmalgamError.invalidArgument("training: batch \(batchSize) × \(segmentFrames) frames") }
        guard learningRate > 0, learningRate.isFinite, weightDecay >= 0, weightDecay.isFinite else { throw AmalgamError.invalidArgument("training: learning rate \(learningRate), weight decay \(weightDecay)") }
        if let c = clipNorm { guard c > 0, c.isFinite else { throw AmalgamError.invalidArgument("training: clip norm \(c)") } }
    }

    /// Trains on `train`, validates on `validation`, writes `outDir/{config.json,
    /// model.safetensors, metrics.jsonl, result.json}`.
    public func run(train: [VocoderClip], validation: [VocoderClip], outDir: String, resume: Bool,
                    callback: @escaping (TrainingEvent) -> Void, shouldStop: @escaping () -> Bool) throws -> Result {
        try validate()
        let phase = ResumablePhase(dir: outDir, key: key, resume: resume)
        if let done = try phase.finished(Result.self) { return done }
        let vocoder = try Vocoder(spec: spec, seed: seed)
        let schedule = try spec.trainingSchedule()
        let batcher = try DiffusionBatcher(clips: train, schedule: schedule, hop: spec.mel.hop, segmentFrames: segmentFrames, batchSize: batchSize)
        let opt = Adam(learningRate: learningRate, weightDecay: weightDecay, decoupled: true)
        let trainer = Trainer(model: vocoder.model, optimizer: opt)
        trainer.loss = .meanSquaredError
        trainer.gradientClipNorm = clipNorm
        trainer.context = RunContext(phase: "fastdiff", seed: seed)
        trainer.checkpointer = Checkpointer(path: outDir + "/training-state.safetensors", runKey: key, resume: resume, interval: saveInterval)
        trainer.callbacks = [callback]
        trainer.shouldStop = shouldStop
        let saved = try trainer.resume()
        let doneEpochs = (saved?.step ?? 0) / stepsPerEpoch
        let lines = ((try? String(contentsOfFile: outDir + "/metrics.jsonl", encoding: .utf8)) ?? "").split(separator: "\n")
        let previous = saved == nil ? [] : try lines.map { try JSONDecoder().decode(EpochMetrics.self, from: Data($0.utf8)) }.filter { $0.epoch <= doneEpochs }
        let metrics = try JSONLinesWriter(path: outDir + "/metrics.jsonl", truncate: true)
        for m in previous { try metrics.append(m) }
        trainer.onEpochEnd.append { _, m in try metrics.append(m) }
        let valBatcher = validation.isEmpty ? nil : try DiffusionBatcher(clips: validation, schedule: schedule, hop: spec.mel.hop, segmentFrames: segmentFrames, batchSize: batchSize)
        let seed = self.seed, perEpoch = stepsPerEpoch, nVal = validationBatches
        func batchSeed(_ step: Int) -> UInt64 { seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(step) &+ 1 }
        let fit = try trainer.fit(steps: steps, batchesPerEpoch: perEpoch, train: { e in
            (0..<perEpoch).lazy.map { i -> Batch in
                var r = RandomGenerator(seed: batchSeed((e - 1) * perEpoch + i))
                return batcher.batch(using: &r)
            }
        }, test: valBatcher.map { vb in {
            (0..<nVal).map { i -> Batch in var r = RandomGenerator(seed: 0xFA57_D1FF &+ UInt64(i)); return vb.batch(using: &r) }
        } }, evaluation: valBatcher == nil ? .never : .everyEpoch)
        try vocoder.save(directory: outDir)
        let history = previous + fit.history
        let result = Result(steps: steps, seconds: fit.seconds, finalTrainLoss: history.last?.trainLoss ?? .nan,
                            finalValidationLoss: history.last?.testLoss, parameters: vocoder.model.parameterCount,
                            trainClips: train.count, trainSeconds: Double(train.reduce(0) { $0 + $1.audio.count }) / Double(spec.mel.sampleRate))
        try writeJSON(result, to: outDir + "/result.json")
        trainer.checkpointer?.remove()
        return result
    }
}
