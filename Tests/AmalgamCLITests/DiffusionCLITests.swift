import AmalgamCore
import AmalgamFormats
import Foundation
import XCTest

/// `amalgam diffusion` and `amalgam vocode`: a tiny vocoder trained for two steps on synthetic
/// tones (unit-test data), WAV files in and out, and bad input refused with its reason.
final class DiffusionCLITests: XCTestCase {
    let cli = CLIRunner()

    func tone(_ freq: Double, seconds: Double, rate: Int) -> [Float] {
        (0..<Int(seconds * Double(rate))).map { Float(0.3 * sin(2 * Double.pi * freq * Double($0) / Double(rate))) }
    }

    func testBadOptionsAreRefusedBeforeAnyWork() throws {
        let out = cli.tempDir(), data = cli.tempDir()
        let cases: [([String], [String])] = [
            (["diffusion", "train", "--data", data, "--out", out, "--steps", "0"], ["steps"]),
            (["diffusion", "train", "--data", data, "--out", out, "--inner-channels", "0"], ["inner_channels"]),
            (["diffusion", "train", "--data", data, "--out", out, "--lr", "nan"], ["learning rate"]),
            (["vocode", "--model", out + "/none", "--wav", "a.wav", "--mel", "b.npy", "--out", out + "/x.wav"], ["exactly one of --mel and --wav"]),
            (["vocode", "--model", out + "/none", "--wav", "a.wav", "--out", out + "/x.wav"], ["no such directory"]),
            (["diffusion", "schedule", "--model", out, "--validation", data, "--steps", "0", "--out", out + "/s.json"], ["--steps"]),
        ]
        try cli.assertRefused(cases, out: out)
        let empty = try cli.run(["diffusion", "train", "--data", data, "--out", out + "/m", "--steps", "1"])
        XCTAssertEqual(empty.status, 1, empty.stderr)
        XCTAssertTrue(empty.stderr.contains("no .wav files"), empty.stderr)
    }

    func testTrainVocodeAndEvaluateATinyVocoderWithClearErrorsOnBadAudio() throws {
        let data = cli.tempDir(), work = cli.tempDir(), model = work + "/model"
        try WAV.write(Audio(sampleRate: 22050, mono: tone(220, seconds: 0.3, rate: 22050)), to: data + "/a.wav")
        try WAV.write(Audio(sampleRate: 22050, mono: tone(330, seconds: 0.25, rate: 22050)), to: data + "/b.wav")
        let train = try cli.run(["diffusion", "train", "--data", data, "--out", model, "--steps", "2", "--steps-per-epoch", "1", "--batch-size", "1",
                                 "--segment-frames", "2", "--inner-channels", "4", "--kernel-predictor-channels", "8", "--lvc-layers", "1", "--quiet"])
        XCTAssertEqual(train.status, 0, train.stderr)
        let noVal = try cli.run(["diffusion", "schedule", "--model", model, "--steps", "2", "--out", work + "/s.json"])
        XCTAssertEqual(noVal.status, 1, noVal.stderr)
        XCTAssertTrue(noVal.stderr.contains("--validation"), noVal.stderr)
        for f in ["config.json", "model.safetensors", "metrics.jsonl", "result.json", "data.json"] { XCTAssertTrue(FileManager.default.fileExists(atPath: model + "/" + f), f) }

        // A 16 kHz stereo file is mixed and resampled, and the user is told.
        let stereo = Audio(sampleRate: 16000, channels: [tone(200, seconds: 0.2, rate: 16000), tone(300, seconds: 0.2, rate: 16000)])
        try WAV.write(stereo, to: work + "/stereo.wav", format: .pcm24)
        let v = try cli.run(["vocode", "--model", model, "--wav", work + "/stereo.wav", "--steps", "3", "--out", work + "/out.wav"])
        XCTAssertEqual(v.status, 0, v.stderr)
        XCTAssertTrue(v.stdout.contains("2 channels mixed to mono") && v.stdout.contains("resampled from 16000 Hz"), v.stdout)
        let y = try WAV.read(work + "/out.wav")
        XCTAssertEqual(y.sampleRate, 22050)
        XCTAssertEqual(y.frameCount % 256, 0)
        XCTAssertEqual(y.frameCount / 256, 1 + Int((0.2 * 22050).rounded(.up)) / 256)

        // A mel with the wrong number of bands, an empty WAV, a truncated WAV, an unknown step count.
        try NPY.write(Tensor.zeros([40, 10]), to: work + "/mel40.npy")
        try Data().write(to: URL(fileURLWithPath: work + "/empty.wav"))
        let good = try Data(contentsOf: URL(fileURLWithPath: data + "/a.wav"))
        try good.prefix(good.count / 2).write(to: URL(fileURLWithPath: work + "/cut.wav"))
        for (args, needle) in [
            (["--mel", work + "/mel40.npy"], "80 bands"),
            (["--wav", work + "/empty.wav"], "empty"),
            (["--wav", work + "/cut.wav"], "truncated"),
            (["--wav", data + "/a.wav", "--steps", "5"], "3, 4, 6 and 8"),
        ] {
            let r = try cli.run(["vocode", "--model", model, "--out", work + "/bad.wav"] + args)
            XCTAssertEqual(r.status, 1, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(needle), "\(args): \(r.stderr)")
            XCTAssertFalse(r.stderr.contains("Fatal error"))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: work + "/bad.wav"))

        let e = try cli.run(["diffusion", "evaluate", "--model", model, "--data", data, "--set", "tones", "--methods", "3,griffin-lim", "--out", work + "/eval", "--quiet"])
        XCTAssertEqual(e.status, 0, e.stderr)
        let rows = try String(contentsOfFile: work + "/eval/rows.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(rows.count, 4)
        XCTAssertTrue(rows.allSatisfy { $0.contains("\"log_mel_l1\"") && $0.contains("\"mr_stft\"") })
    }
}
