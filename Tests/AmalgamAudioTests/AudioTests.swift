import XCTest
import Foundation
import AmalgamCore
import AmalgamFormats
@testable import AmalgamAudio

/// Fixtures come from librosa 0.11 via `scripts/reference/make_audio_fixtures.py` (a synthetic
/// test signal: sines, a chirp and seeded noise).
final class SpectralTests: XCTestCase {
    func fixture(_ name: String) throws -> Tensor {
        try NPY.read(Bundle.module.path(forResource: name, ofType: "npy", inDirectory: "Fixtures")!)
    }

    func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
        XCTAssertEqual(a.count, b.count)
        return zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    func testHannWindowIsPeriodic() {
        let w = Window.hann(8)
        XCTAssertEqual(w[0], 0); XCTAssertEqual(w[4], 1, accuracy: 1e-7); XCTAssertEqual(w[2], 0.5, accuracy: 1e-7)
        XCTAssertEqual(w[1], w[7], accuracy: 1e-7)
    }

    func testSTFTMagnitudeEqualsLibrosa() throws {
        let y = try fixture("signal").scalars
        let want = try fixture("stft_magnitude")
        let stft = try STFT(nFFT: 1024, hop: 256)
        let s = try stft.forward(y)
        XCTAssertEqual([s.bins, s.frames], want.shape)
        XCTAssertLessThan(maxAbsDiff(s.magnitude, want.scalars), 1e-3 * (want.scalars.max() ?? 1))
        let rel = zip(s.magnitude, want.scalars).map { abs($0 - $1) }.reduce(0, +) / want.scalars.reduce(0, +)
        XCTAssertLessThan(rel, 1e-5)
    }

    func testReflectPaddedShortWindowSTFTEqualsLibrosa() throws {
        let y = try fixture("signal").scalars
        let want = try fixture("stft_reflect_magnitude")
        let m = try STFT(nFFT: 512, hop: 128, windowLength: 400, padMode: .reflect).magnitude(y)
        XCTAssertEqual(m.count, want.count)
        XCTAssertLessThan(maxAbsDiff(m, want.scalars), 1e-4 * Swift.max(1, want.scalars.max() ?? 1))
    }

    func testInverseSTFTEqualsLibrosaAndReconstructs() throws {
        let y = try fixture("signal").scalars
        let stft = try STFT(nFFT: 1024, hop: 256)
        let back = try stft.inverse(stft.forward(y), length: y.count)
        XCTAssertLessThan(maxAbsDiff(back, try fixture("istft").scalars), 1e-5)
        XCTAssertLessThan(maxAbsDiff(back, y), 1e-5)
    }

    func testSlaneyMelFilterbankEqualsLibrosa() throws {
        let fb = try MelFilterbank(sampleRate: 22050, nFFT: 1024, nMels: 80, fmin: 80, fmax: 7600)
        XCTAssertLessThan(maxAbsDiff(fb.weights, try fixture("mel_basis").scalars), 1e-7)
        let fb16 = try MelFilterbank(sampleRate: 16000, nFFT: 512, nMels: 40)
        XCTAssertLessThan(maxAbsDiff(fb16.weights, try fixture("mel_basis_16k").scalars), 1e-7)
        XCTAssertEqual(MelFilterbank.melToHz(MelFilterbank.hzToMel(3456.7)), 3456.7, accuracy: 1e-9)
        XCTAssertEqual(MelFilterbank.hzToMel(1000), 15, accuracy: 1e-12)
    }

    /// The property the issue names: log-mel equal to librosa's within 1e-4.
    func testLogMelSpectrogramEqualsLibrosaWithin1e4() throws {
        let y = try fixture("signal").scalars
        let want = try fixture("logmel")
        let got = try MelSpectrogram()(y)
        XCTAssertEqual(got.shape, want.shape)
        XCTAssertLessThan(maxAbsDiff(got.scalars, want.scalars), 1e-4)
        XCTAssertEqual(got.shape[1], 1 + y.count / 256)
    }

    func testSpectralInputsAreChecked() throws {
        XCTAssertThrowsError(try STFT(nFFT: 1024, hop: 0))
        XCTAssertThrowsError(try STFT(nFFT: 512, hop: 128, windowLength: 1024))
        let stft = try STFT(nFFT: 1024, hop: 256)
        XCTAssertThrowsError(try stft.forward([]))
        XCTAssertThrowsError(try stft.forward([0, .nan, 1]))
        XCTAssertThrowsError(try STFT(nFFT: 512, hop: 128, padMode: .reflect).forward([1, 2, 3]))
        XCTAssertThrowsError(try MelFilterbank(sampleRate: 16000, nFFT: 512, nMels: 40, fmin: 0, fmax: 9000))
        XCTAssertThrowsError(try GriffinLim.magnitude(fromLogMel: Tensor.zeros([79, 4]), MelSpectrogram()))
    }

    func testResamplingEqualsLibrosaSoxrHQ() throws {
        let y = try fixture("signal").scalars
        for rate in [16000, 48000] {
            let want = try fixture("resampled_\(rate)").scalars
            let got = try Resampler.resample(y, from: 22050, to: rate)
            XCTAssertEqual(got.count, want.count, "\(rate) Hz")
            XCTAssertLessThan(maxAbsDiff(got, want), 1e-5, "\(rate) Hz")
        }
        XCTAssertEqual(try Resampler.resample(y, from: 22050, to: 22050), y)
        XCTAssertThrowsError(try Resampler.resample(y, from: 0, to: 16000))
    }

    /// Griffin-Lim from the true magnitudes of the test signal gets within a small spectral
    /// convergence of them, far better than its random-phase start.
    func testGriffinLimRecoversAConsistentSpectrogram() throws {
        let y = try fixture("signal").scalars
        let stft = try STFT(nFFT: 1024, hop: 256)
        let mag = try stft.magnitude(y), frames = stft.frameCount(y.count)
        func convergence(_ x: [Float]) throws -> Double {
            let m = try stft.magnitude(x)
            let num = zip(m, mag).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }
            return (num / mag.reduce(0.0) { $0 + Double($1 * $1) }).squareRoot()
        }
        let start = try GriffinLim.reconstruct(magnitude: mag, frames: frames, stft: stft, iterations: 0, length: y.count)
        let done = try GriffinLim.reconstruct(magnitude: mag, frames: frames, stft: stft, iterations: 32, length: y.count)
        let (c0, c1) = (try convergence(start), try convergence(done))
        XCTAssertLessThan(c1, 0.15)
        XCTAssertLessThan(c1, c0 / 3)
        // Deterministic for a seed.
        XCTAssertEqual(done, try GriffinLim.reconstruct(magnitude: mag, frames: frames, stft: stft, iterations: 32, length: y.count))
    }

    func testMelInversionReproducesTheMelSpectrogram() throws {
        let y = try fixture("signal").scalars
        let mel = try MelSpectrogram()
        let logmel = try mel(y)
        let s = try GriffinLim.magnitude(fromLogMel: logmel, mel, iterations: 300)
        XCTAssertTrue(s.allSatisfy { $0 >= 0 })
        let again = mel.filterbank.apply(s, frames: logmel.shape[1]).map { log10(Swift.max(1e-6, $0)) }
        // Mean log10 error in the bands that carry energy.
        var err = 0.0, n = 0
        for (u, v) in zip(again, logmel.scalars) where v > -3 { err += Double(abs(u - v)); n += 1 }
        XCTAssertLessThan(err / Double(n), 0.05)
    }

    func testDistancesAreZeroForIdenticalSignalsAndGrowWithNoise() throws {
        let y = try fixture("signal").scalars
        let mel = try MelSpectrogram()
        XCTAssertEqual(try AudioDistance.logMelL1(y, y, mel: mel), 0)
        XCTAssertEqual(try AudioDistance.multiResolutionSTFT(y, y), 0, accuracy: 1e-12)
        var rng = RandomGenerator(seed: 1)
        let small = y.map { $0 + 0.001 * (rng.nextFloat() - 0.5) }, large = y.map { $0 + 0.05 * (rng.nextFloat() - 0.5) }
        XCTAssertLessThan(try AudioDistance.multiResolutionSTFT(y, small), try AudioDistance.multiResolutionSTFT(y, large))
        XCTAssertLessThan(try AudioDistance.logMelL1(y, small, mel: mel), try AudioDistance.logMelL1(y, large, mel: mel))
    }
}

final class WAVTests: XCTestCase {
    /// Samples on each format's grid (k / 2^(bits−1)) plus the extremes; any finite float for
    /// float32; float64 files carry Float32 values here (we decode to Float32).
    func samples(_ format: WAV.SampleFormat, count: Int, seed: UInt64) -> [Float] {
        var rng = RandomGenerator(seed: seed)
        switch format {
        case .float32, .float64:
            return (0..<count).map { _ in (rng.nextFloat() * 2 - 1) * 1.5 }
        default:
            let bits = Swift.min(format.bitsPerSample, 24)  // a Float holds 24 significant bits
            let scale = Float(1 << (bits - 1))
            var out = (0..<count).map { _ in (Float(Int(rng.nextFloat() * 2 * scale) - Int(scale))) / scale }
            out[0] = -1; out[1] = (scale - 1) / scale; out[2] = 0
            return out
        }
    }

    func testEveryFormatRoundTripsBitExactly() throws {
        for format in WAV.SampleFormat.allCases {
            for nch in [1, 2] {
                let audio = Audio(sampleRate: 22050, channels: (0..<nch).map { samples(format, count: 1001, seed: UInt64($0 + 7)) })
                let bytes = try WAV.encode(audio, format: format)
                XCTAssertEqual(bytes.count, 44 + 1001 * nch * format.bitsPerSample / 8)
                let (back, f) = try WAV.decode(bytes)
                XCTAssertEqual(f, format)
                XCTAssertEqual(back, audio, "\(format) × \(nch) samples differ")
                XCTAssertEqual(try WAV.encode(back, format: format), bytes, "\(format) × \(nch) bytes differ")
            }
        }
    }

    func testWriteThenReadAFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("amalgam-wav-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let audio = Audio(sampleRate: 16000, channels: [samples(.pcm24, count: 300, seed: 1), samples(.pcm24, count: 300, seed: 2)])
        try WAV.write(audio, to: dir + "/a.wav", format: .pcm24)
        XCTAssertEqual(try WAV.read(dir + "/a.wav"), audio)
        XCTAssertEqual(audio.mono[5], (audio.channels[0][5] + audio.channels[1][5]) / 2)
    }

    /// Values beyond [−1, 1) clip (not wrap) in integer formats; NaN is refused.
    func testEncodingClipsAndRefusesNaN() throws {
        let bytes = try WAV.encode(Audio(sampleRate: 8000, mono: [2, -3, 1]), format: .pcm16)
        XCTAssertEqual(try WAV.decode(bytes).audio.channels[0], [32767 / 32768, -1, 32767 / 32768])
        XCTAssertThrowsError(try WAV.encode(Audio(sampleRate: 8000, mono: [0, .nan]), format: .float32))
    }

    /// A header made by hand: WAVE_FORMAT_EXTENSIBLE, a LIST chunk before the data, 24-bit stereo.
    func testExtensibleHeaderAndUnknownChunksAreRead() throws {
        var b = [UInt8]()
        func p32(_ v: Int) { for k in 0..<4 { b.append(UInt8((v >> (8 * k)) & 0xFF)) } }
        func p16(_ v: Int) { for k in 0..<2 { b.append(UInt8((v >> (8 * k)) & 0xFF)) } }
        b += Array("RIFF".utf8); p32(0); b += Array("WAVE".utf8)
        b += Array("fmt ".utf8); p32(40); p16(0xFFFE); p16(2); p32(44100); p32(44100 * 6); p16(6); p16(24)
        p16(22); p16(24); p32(3); p16(1); b += [0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71]
        b += Array("LIST".utf8); p32(3); b += [1, 2, 3, 0]   // odd size: one pad byte
        b += Array("data".utf8); p32(12)
        for v in [8_388_607, -8_388_608, 1, -1] { for k in 0..<3 { b.append(UInt8((v >> (8 * k)) & 0xFF)) } }
        let (audio, format) = try WAV.decode(Data(b))
        XCTAssertEqual(format, .pcm24)
        XCTAssertEqual(audio.sampleRate, 44100)
        XCTAssertEqual(audio.channels[0], [8_388_607 / 8_388_608, 1 / 8_388_608])
        XCTAssertEqual(audio.channels[1], [-1, -1 / 8_388_608])
    }

    func assertFormatError(_ data: Data, contains text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try WAV.decode(data, path: "x.wav"), file: file, line: line) { error in
            let m = "\(error)"
            XCTAssertTrue(m.contains("x.wav") && m.contains(text), "message: \(m)", file: file, line: line)
        }
    }

    func testMalformedAndTruncatedFilesAreRefusedClearly() throws {
        let good = [UInt8](try WAV.encode(Audio(sampleRate: 8000, mono: [0.1, 0.2, 0.3, 0.4]), format: .pcm16))
        assertFormatError(Data(), contains: "empty")
        assertFormatError(Data(good.prefix(10)), contains: "shorter than a RIFF header")
        assertFormatError(Data(Array("RIFX".utf8) + good.dropFirst(4)), contains: "no RIFF/WAVE signature")
        assertFormatError(Data(good.dropLast(3)), contains: "truncated")
        assertFormatError(Data(good.prefix(44)), contains: "truncated")
        var empty = Array(good.prefix(44)); empty[40..<44] = [0, 0, 0, 0]
        assertFormatError(Data(empty), contains: "no samples")
        assertFormatError(Data(good.prefix(30)), contains: "truncated")
        var bad = good; bad[22] = 0; bad[23] = 0   // 0 channels
        assertFormatError(Data(bad), contains: "0 channels")
        bad = good; bad[34] = 12                   // 12 bits per sample
        assertFormatError(Data(bad), contains: "12 bits")
        bad = good; bad[32] = 3                    // block align 3 for one 16-bit channel
        assertFormatError(Data(bad), contains: "block align")
        bad = good; bad[24] = 0; bad[25] = 0; bad[26] = 0; bad[27] = 0   // 0 Hz
        assertFormatError(Data(bad), contains: "sample rate")
        bad = good; bad[12] = UInt8(ascii: "x")    // no fmt chunk
        assertFormatError(Data(bad), contains: "no fmt chunk")
        var nan = [UInt8](try WAV.encode(Audio(sampleRate: 8000, mono: [0.5, 0.25]), format: .float32))
        nan[44..<48] = [0, 0, 0xC0, 0x7F]
        assertFormatError(Data(nan), contains: "NaN")
        XCTAssertThrowsError(try WAV.read("/nonexistent/file.wav")) { XCTAssertTrue("\($0)".contains("no such file")) }
    }
}

/// Mutated files (random bytes overwritten, truncations, huge declared sizes) never crash or
/// allocate wildly: each either decodes or throws a format error naming the file.
final class WAVFuzzTests: XCTestCase {
    func testMutatedFilesDecodeOrThrowNeverCrash() throws {
        var rng = RandomGenerator(seed: 11)
        let base = [UInt8](try WAV.encode(Audio(sampleRate: 16000, channels: [[0.1, -0.2, 0.3, 0.5], [0, 0.25, -1, 0.75]]), format: .pcm24))
        var decoded = 0, refused = 0
        for i in 0..<3000 {
            var b = base
            switch i % 3 {
            case 0: for _ in 0..<(1 + Int(rng.next() % 4)) { b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            case 1: b = Array(b.prefix(Int(rng.next() % UInt64(b.count + 1))))
            default:   // a size field (RIFF, fmt, data) set to something huge or odd
                let field = [4, 16, 40][Int(rng.next() % 3)]
                let v = UInt32(truncatingIfNeeded: rng.next())
                for k in 0..<4 { b[field + k] = UInt8((v >> (8 * UInt32(k))) & 0xFF) }
            }
            do { _ = try WAV.decode(Data(b), path: "fuzz.wav"); decoded += 1 } catch {
                XCTAssertTrue("\(error)".contains("fuzz.wav"), "\(error)"); refused += 1
            }
        }
        XCTAssertGreaterThan(refused, 500)
        XCTAssertGreaterThan(decoded, 100)
    }
}
