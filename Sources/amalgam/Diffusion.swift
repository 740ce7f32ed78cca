import AmalgamAudio
import AmalgamCore
import AmalgamDiffusion
import AmalgamFormats
import AmalgamNN
import ArgumentParser
import Foundation

/// `amalgam diffusion`: FastDiff vocoders.
struct DiffusionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diffusion",
        abstract: "Diffusion vocoders (FastDiff): train a denoiser on speech, evaluate reconstructions.",
        subcommands: [DiffusionTrainCommand.self, DiffusionScheduleCommand.self, DiffusionEvaluateCommand.self])
}


struct DiffusionTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a FastDiff vocoder (DDPM ε-prediction) on a directory of WAV files; write config.json, model.safetensors, metrics.jsonl and result.json to --out. Resumable: rerun the same command.")
    @Option(help: "Directory of training WAV files (any rate and channel count: mixed to mono, resampled to --sample-rate).") var data: String
    @Option(help: "Directory of validation WAV files (ε-loss after every epoch).") var validation: String?
    @Option(help: "Output directory.", transform: outputDirectory) var out: String
    @Option(help: "Optimisation steps.") var steps = 10_000
    @Option(help: "Steps per epoch (one metrics line, one validation pass each).") var stepsPerEpoch = 100
    @Option(help: "Mini-batch size (segments).") var batchSize = 4
    @Option(help: "Segment length in mel frames (× hop samples).") var segmentFrames = 32
    @Option(help: "AdamW learning rate.") var lr: Float = 2e-4
    @Option(help: "Gradient-norm clip (0: none).") var clip: Float = 1
    @Option(help: "Inner channels of the denoiser (FastDiff: 32).") var innerChannels = 32
    @Option(help: "Hidden channels of the kernel predictors (FastDiff: 64).") var kernelPredictorChannels = 64
    @Option(help: "LVC layers per block (FastDiff: 4).") var lvcLayers = 4
    @Option(help: "Sample rate of the model (FastDiff: 22050).") var sampleRate = 22_050
    @Option(help: "Use only the first N training files (sorted by name).") var limit: Int?
    @Option(help: "Seed.") var seed: UInt64 = 0
    @OptionGroup var common: RunOptions
    @Flag(help: "Continue a run stopped before (its saved state in --out).") var resume = false

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be positive") }
        guard clip >= 0, clip.isFinite else { throw ValidationError("--clip must be ≥ 0") }
        do { _ = try training() } catch let e as AmalgamError { throw ValidationError(e.description) }
    }

    func training() throws -> VocoderTraining {
        var t = VocoderTraining()
        t.spec.mel.sampleRate = sampleRate
        t.spec.model.innerChannels = innerChannels
        t.spec.model.kernelPredictorChannels = kernelPredictorChannels
        t.spec.model.lvcLayers = lvcLayers
        t.steps = steps; t.stepsPerEpoch = stepsPerEpoch; t.batchSize = batchSize; t.segmentFrames = segmentFrames
        t.learningRate = lr; t.clipNorm = clip > 0 ? clip : nil; t.seed = seed
        try t.validate()
        return t
    }

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            try checkOutputDirectory(out)
            let t = try training()
            let train = try loadVocoderClips(directory: data, mel: t.spec.mel, limit: limit)
            let val = try validation.map { try loadVocoderClips(directory: $0, mel: t.spec.mel) } ?? []
            let seconds = Double(train.reduce(0) { $0 + $1.audio.count }) / Double(sampleRate)
            console.line(String(format: "training FastDiff (%d inner channels) on %d clips, %.1f min of audio; %d steps of %d × %d frames",
                                innerChannels, train.count, seconds / 60, steps, batchSize, segmentFrames))
            installInterruptHandler()
            let r = try t.run(train: train, validation: val, outDir: out, resume: resume, callback: console.handle, shouldStop: { interruptRequested != 0 })
            let dataRecord = ["train": URL(fileURLWithPath: data).standardizedFileURL.path] .merging(validation.map { ["validation": URL(fileURLWithPath: $0).standardizedFileURL.path] } ?? [:]) { a, _ in a }
            try writeAtomically(try JSONEncoder().encode(dataRecord), to: out + "/data.json")
            console.line(String(format: "done: %d steps in %.0f s; train ε-loss %.4f", r.steps, r.seconds, r.finalTrainLoss)
                         + (r.finalValidationLoss.map { String(format: ", validation %.4f", $0) } ?? ""))
            console.line("→ \(out)/model.safetensors, \(out)/config.json, \(out)/metrics.jsonl")
            try common.emitFile(out + "/result.json")
        }
    }
}

/// Parses `--steps`/`--schedule` into an inference schedule: N ∈ {3, 4, 6, 8} are FastDiff's
/// shipped schedules, N = T the training schedule, or a JSON file with `betas`.
func inferenceSchedule(steps: Int?, file: String?, vocoder: Vocoder) throws -> (NoiseSchedule, String) {
    if let file {
        guard let data = FileManager.default.contents(atPath: file) else { throw AmalgamError.format(path: file, message: "no such file") }
        struct F: Decodable { var betas: [Double] }
        let f: F
        do { f = try JSONDecoder().decode(F.self, from: data) } catch { throw AmalgamError.format(path: file, message: "not a schedule file (needs {\"betas\": [...]})") }
        return (try NoiseSchedule(betas: f.betas), "\(f.betas.count)-step schedule from \(file)")
    }
    let n = steps ?? 4
    if n == vocoder.spec.trainingSteps { return (try vocoder.spec.trainingSchedule(), "the full \(n)-step training schedule") }
    return (try NoiseSchedule.shipped(steps: n), "FastDiff's shipped \(n)-step schedule")
}

/// `amalgam vocode`: mel (or the mel of a WAV) → waveform.
struct VocodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vocode",
        abstract: "Turn a log-mel spectrogram (--mel, .npy [bands, frames]) or the mel of a WAV file (--wav) into speech with a trained FastDiff vocoder; write a 16-bit WAV.")
    @Option(name: .customLong("model-dir"), help: "Vocoder directory (amalgam diffusion train's --out). (required)") var modelDirectory: String?
    @Option(name: .customLong("model"), help: .hidden) var legacyModel: String?
    /// --model-dir, or its old spelling --model (kept for one release).
    var model: String { modelDirectory ?? legacyModel ?? "" }
    @Option(help: "Log-mel spectrogram, .npy float32 [bands, frames] (log10 magnitudes, as the model's config defines).") var mel: String?
    @Option(help: "WAV file whose mel is vocoded (resampled and mixed to mono as needed).") var wav: String?
    @Option(help: "Reverse steps: 3, 4, 6 or 8 (FastDiff's shipped schedules) or T (the full training schedule).") var steps: Int?
    @Option(help: "A schedule JSON file ({\"betas\": [...]}, as amalgam diffusion schedule writes) instead of --steps.") var schedule: String?
    @Option(help: "Output WAV file.", transform: outputFile) var out: String
    @Option(help: "Seed of the sampling noise.") var seed: UInt64 = 0
    @OptionGroup var common: RunOptions

    func validate() throws {
        if modelDirectory != nil && legacyModel != nil { throw ValidationError("give --model-dir only (--model is its old spelling)") }
        guard modelDirectory != nil || legacyModel != nil else { throw ValidationError("--model-dir is required") }
        guard (mel == nil) != (wav == nil) else { throw ValidationError("give exactly one of --mel and --wav") }
        if steps != nil && schedule != nil { throw ValidationError("give --steps or --schedule, not both") }
    }

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            let vocoder = try Vocoder.load(directory: model)
            let (sched, what) = try inferenceSchedule(steps: steps, file: schedule, vocoder: vocoder)
            let logMel: Tensor
            if let wav {
                let audio = try WAV.read(wav)
                let (x, conv) = try vocoder.prepare(audio)
                if let c = conv.mixedChannels { console.line("\(wav): \(c) channels mixed to mono") }
                if let r = conv.resampledFrom { console.line("\(wav): resampled from \(r) Hz to \(vocoder.spec.mel.sampleRate) Hz") }
                logMel = try vocoder.mel(x)
            } else {
                logMel = try NPY.read(mel!)
                guard logMel.rank == 2, logMel.shape[0] == vocoder.spec.mel.bands else {
                    throw AmalgamError.format(path: mel!, message: "a mel of shape \(logMel.shape); this vocoder takes [\(vocoder.spec.mel.bands) bands, frames]")
                }
            }
            console.line("vocoding \(logMel.shape[1]) frames with \(what)")
            let start = DispatchTime.now().uptimeNanoseconds
            let y = try vocoder.synthesize(mel: logMel, schedule: sched, seed: seed) { done, total in
                if !console.quiet && console.isTerminal { FileHandle.standardError.write(Data("\rstep \(done)/\(total) ".utf8)) }
            }
            if !console.quiet && console.isTerminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let audioSeconds = Double(y.count) / Double(vocoder.spec.mel.sampleRate)
            try WAV.write(Audio(sampleRate: vocoder.spec.mel.sampleRate, mono: y), to: out, format: .pcm16)
            console.line(String(format: "%.2f s of audio in %.2f s (real-time factor %.3f) → %@", audioSeconds, seconds, seconds / audioSeconds, out))
            struct Result: Encodable { var out: String; var audio_seconds, seconds, real_time_factor: Double; var steps: Int }
            if common.json { try common.emit(Result(out: out, audio_seconds: audioSeconds, seconds: seconds, real_time_factor: seconds / audioSeconds, steps: sched.count), text: "") }
        }
    }
}

struct DiffusionEvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Reconstruct every WAV in --data from its mel with each method (diffusion schedules and Griffin-Lim); append one JSON line per clip, method and seed (log-mel L1, multi-resolution STFT error, seconds) to --out/rows.jsonl. Resumable: rows already there are kept.")
    @Option(name: .customLong("model-dir"), help: "Vocoder directory. (required)") var modelDirectory: String?
    @Option(name: .customLong("model"), help: .hidden) var legacyModel: String?
    /// --model-dir, or its old spelling --model (kept for one release).
    var model: String { modelDirectory ?? legacyModel ?? "" }
    @Option(help: "Directory of reference WAV files.") var data: String
    @Option(help: "Name of the set in the rows (e.g. real-alsa, synthetic-test).") var set: String
    @Option(help: "Comma-separated methods: step counts (3, 4, 6, 8: shipped schedules; T: the full schedule), schedule JSON files, griffin-lim.") var methods = "4,6,griffin-lim"
    @Option(help: "Output directory.", transform: outputDirectory) var out: String
    @Option(help: "Save the reconstructions of the first N clips as WAV files.") var saveAudio = 0
    @Option(help: "Use only the first N clips (sorted by name).") var limit: Int?
    @Option(help: "Seed of the sampling noise.") var seed: UInt64 = 0
    @OptionGroup var common: RunOptions

    func validate() throws {
        if modelDirectory != nil && legacyModel != nil { throw ValidationError("give --model-dir only (--model is its old spelling)") }
        guard modelDirectory != nil || legacyModel != nil else { throw ValidationError("--model-dir is required") }
        if let limit, limit < 1 { throw ValidationError("--limit must be positive") }
        guard saveAudio >= 0 else { throw ValidationError("--save-audio must be ≥ 0") }
        guard !set.isEmpty, set.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else { throw ValidationError("--set: letters, digits, - and _ only") }
    }

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            try checkOutputDirectory(out)
            let vocoder = try Vocoder.load(directory: model)
            var list: [ReconstructionMethod] = []
            for m in methods.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                if m == "griffin-lim" { list.append(.griffinLim(iterations: 60)); continue }
                if let n = Int(m) {
                    let (s, _) = try inferenceSchedule(steps: n, file: nil, vocoder: vocoder)
                    list.append(.diffusion(name: "fastdiff-\(n)", schedule: s))
                } else {
                    let (s, _) = try inferenceSchedule(steps: nil, file: m, vocoder: vocoder)
                    list.append(.diffusion(name: "fastdiff-" + URL(fileURLWithPath: m).deletingPathExtension().lastPathComponent, schedule: s))
                }
            }
            let clips = try loadVocoderClips(directory: data, mel: vocoder.spec.mel, limit: limit)
            let rowsPath = out + "/rows.jsonl"
            var done = Set<String>()
            if let text = try? String(contentsOfFile: rowsPath, encoding: .utf8) {
                for line in text.split(separator: "\n") {
                    if let r = try? JSONDecoder().decode(ReconstructionRow.self, from: Data(line.utf8)) { done.insert("\(r.set)|\(r.clip)|\(r.method)|\(r.seed)") }
                }
            }
            let writer = try JSONLinesWriter(path: rowsPath, truncate: false)
            installInterruptHandler()
            for (i, clip) in clips.enumerated() {
                for m in list where !done.contains("\(set)|\(clip.name)|\(m.name)|\(seed)") {
                    if interruptRequested != 0 { throw AmalgamError.interrupted }
                    let (y, row) = try vocoder.reconstruct(clip, set: set, method: m, seed: seed)
                    try writer.append(row)
                    if i < saveAudio {
                        let base = URL(fileURLWithPath: clip.name).deletingPathExtension().lastPathComponent
                        try WAV.write(Audio(sampleRate: vocoder.spec.mel.sampleRate, mono: y), to: "\(out)/\(set)-\(base)-\(m.name)-seed\(seed).wav")
                    }
                    console.line(String(format: "%@ %@ %@: log-mel L1 %.4f, MR-STFT %.4f, RTF %.3f", set, clip.name, m.name, row.logMelL1, row.mrSTFT, row.realTimeFactor))
                }
            }
            console.line("→ \(rowsPath)")
            if common.json {
                let rows = try String(contentsOfFile: rowsPath, encoding: .utf8).split(separator: "\n").filter { !$0.isEmpty }
                print("[" + rows.joined(separator: ",\n") + "]")
            }
        }
    }
}

struct DiffusionScheduleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Derive a short reverse schedule for a trained vocoder (BDDM): train the schedule network φ with θ frozen (saved as --model/schedule_net.safetensors and reused), search the (a_N, β_N) grid, score each N-step schedule on the validation WAVs, write the best to --out (JSON with betas and every candidate).")
    @Option(name: .customLong("model-dir"), help: "Vocoder directory. (required)") var modelDirectory: String?
    @Option(name: .customLong("model"), help: .hidden) var legacyModel: String?
    /// --model-dir, or its old spelling --model (kept for one release).
    var model: String { modelDirectory ?? legacyModel ?? "" }
    @Option(help: "Directory of validation WAV files (φ trains on them; candidates are scored on them). Default: the --validation the model was trained with (--model/data.json).") var validation: String?
    @Option(help: "Reverse steps of the schedule.") var steps = 4
    @Option(help: "Output JSON file.", transform: outputFile) var out: String
    @Option(help: "Training steps of φ.") var phiSteps = 1000
    @Option(help: "Step skip τ of the step loss (BDDM: T/3 with T = 200; here 200 of 1000).") var tau = 200
    @Option(help: "Grid bins per hyper-parameter (BDDM: 9).") var bins = 9
    @Option(help: "Use only the first N validation clips for scoring.") var limit: Int?
    @Option(help: "Seed.") var seed: UInt64 = 0
    @OptionGroup var common: RunOptions
    @Flag(help: "Train φ again even if --model holds one.") var retrainPhi = false

    func validate() throws {
        if modelDirectory != nil && legacyModel != nil { throw ValidationError("give --model-dir only (--model is its old spelling)") }
        guard modelDirectory != nil || legacyModel != nil else { throw ValidationError("--model-dir is required") }
        guard (1...64).contains(steps) else { throw ValidationError("--steps must be in 1…64") }
        guard (1...1_000_000).contains(phiSteps) else { throw ValidationError("--phi-steps must be in 1…1000000") }
        guard (1...50).contains(bins) else { throw ValidationError("--bins must be in 1…50") }
        if let limit, limit < 1 { throw ValidationError("--limit must be positive") }
    }

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            let vocoder = try Vocoder.load(directory: model)
            var valDir = validation
            if valDir == nil, let d = FileManager.default.contents(atPath: model + "/data.json"),
               let rec = try? JSONDecoder().decode([String: String].self, from: d) { valDir = rec["validation"] }
            guard let valDir else {
                throw AmalgamError.invalidArgument("--validation: give a directory of validation WAV files (the model's data.json names none)")
            }
            let clips = try loadVocoderClips(directory: valDir, mel: vocoder.spec.mel)
            let phi = ScheduleNetwork(seed: seed)
            let phiPath = model + "/schedule_net.safetensors"
            installInterruptHandler()
            if !retrainPhi, FileManager.default.fileExists(atPath: phiPath) {
                try phi.load(from: phiPath)
                console.line("φ: loaded \(phiPath)")
            } else {
                var t = ScheduleNetworkTraining()
                t.steps = phiSteps; t.tau = tau; t.seed = seed
                let start = DispatchTime.now().uptimeNanoseconds
                let losses = try t.run(phi, vocoder: vocoder, clips: clips, progress: { step, loss in
                    if !console.quiet, step % 100 == 0 { console.line(String(format: "φ step %d/%d  step loss %.4f", step, phiSteps, loss)) }
                }, shouldStop: { interruptRequested != 0 })
                try phi.save(to: phiPath)
                let writer = try JSONLinesWriter(path: model + "/schedule_net_losses.jsonl")
                for (i, l) in losses.enumerated() { try writer.append(["step": Double(i + 1), "loss": Double(l)]) }
                console.line(String(format: "φ: %d steps in %.0f s → %@", phiSteps, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, phiPath))
            }
            let scoring = Array(clips.prefix(limit ?? clips.count))
            let start = DispatchTime.now().uptimeNanoseconds
            let (cands, lengths) = try gridSearchSchedules(vocoder: vocoder, phi: phi, validation: scoring, steps: steps, bins: bins, seed: seed) { done, total in
                if !console.quiet && console.isTerminal { FileHandle.standardError.write(Data("\rgrid \(done)/\(total) ".utf8)) }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            guard let best = cands.first else {
                throw AmalgamError.invalidData("no grid point gave a \(steps)-step schedule (lengths found: \(lengths.sorted { $0.key < $1.key }.map { "\($0.key) steps × \($0.value)" }.joined(separator: ", ")))")
            }
            struct Out: Encodable {
                var betas: [Double]; var alpha_N: Double; var beta_N: Double; var validation_log_mel_l1: Double
                var search_seconds: Double; var lengths_found: [String: Int]; var candidates: [ScheduleCandidate]
            }
            try writeJSON(Out(betas: best.betas, alpha_N: best.alphaN, beta_N: best.betaN, validation_log_mel_l1: best.validationLogMelL1,
                                                   search_seconds: seconds, lengths_found: Dictionary(uniqueKeysWithValues: lengths.map { ("\($0.key)", $0.value) }),
                                                   candidates: cands), to: out)
            console.line(String(format: "best %d-step schedule (a_N %.3f, β_N %.2f): validation log-mel L1 %.4f; %d candidates in %.0f s",
                                steps, best.alphaN, best.betaN, best.validationLogMelL1, cands.count, seconds))
            console.line("  β = " + best.betas.map { String(format: "%.4g", $0) }.joined(separator: ", "))
            console.line("→ \(out)")
            try common.emitFile(out)
        }
    }
}
