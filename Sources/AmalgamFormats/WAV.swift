import AmalgamCore
import Foundation

/// Sampled audio: one `[Float]` per channel, samples in [−1, 1] for PCM sources.
public struct Audio: Equatable, Sendable {
    public var sampleRate: Int
    /// `channels[c][i]` is sample i of channel c; every channel has the same length.
    public var channels: [[Float]]
    public init(sampleRate: Int, channels: [[Float]]) {
        precondition(!channels.isEmpty && channels.allSatisfy { $0.count == channels[0].count }, "Audio needs ≥ 1 channel of equal lengths")
        self.sampleRate = sampleRate; self.channels = channels
    }
    public init(sampleRate: Int, mono: [Float]) { self.init(sampleRate: sampleRate, channels: [mono]) }
    public var frameCount: Int { channels[0].count }
    public var seconds: Double { Double(frameCount) / Double(sampleRate) }
    /// The average of the channels (what a mono model hears from a stereo file).
    public var mono: [Float] {
        if channels.count == 1 { return channels[0] }
        var out = [Float](repeating: 0, count: frameCount)
        for ch in channels { for i in 0..<out.count { out[i] += ch[i] } }
        let s = 1 / Float(channels.count)
        for i in 0..<out.count { out[i] *= s }
        return out
    }
}

/// RIFF/WAVE files: PCM 8 (unsigned), 16, 24 and 32-bit integers and IEEE float 32/64, any
/// channel count, `WAVE_FORMAT_EXTENSIBLE` included. Integers map to [−1, 1) by dividing by
/// 2^(bits−1) (as libsndfile, soundfile and librosa do), so a 16-bit file read and written back
/// as 16-bit is bit-exact. Unknown chunks (LIST, fact, …) are skipped; odd-sized chunks are
/// padded as RIFF says.
///
/// Every size in the header is checked against the file before anything is allocated: a
/// truncated or malformed file is a `AmalgamError.format(path:message:)` that says what is
/// wrong, never a crash or a huge allocation.
public enum WAV {
    public enum SampleFormat: String, Sendable, CaseIterable {
        case pcm8, pcm16, pcm24, pcm32, float32, float64
        public var bitsPerSample: Int {
            switch self { case .pcm8: 8; case .pcm16: 16; case .pcm24: 24; case .pcm32, .float32: 32; case .float64: 64 }
        }
        var isFloat: Bool { self == .float32 || self == .float64 }
    }

    /// Reads a WAV file.
    public static func read(_ path: String) throws -> Audio {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AmalgamError.format(path: path, message: FileManager.default.fileExists(atPath: path) ? "cannot read the file" : "no such file")
        }
        return try decode(data, path: path).audio
    }

    /// Reads a WAV file and says how its samples were stored.
    public static func readWithFormat(_ path: String) throws -> (audio: Audio, format: SampleFormat) {
        guard let data = FileManager.default.contents(atPath: path) else { throw AmalgamError.format(path: path, message: "no such file") }
        return try decode(data, path: path)
    }

    /// Parses WAV bytes; `path` names the source in errors.
    public static func decode(_ data: Data, path: String = "<wav>") throws -> (audio: Audio, format: SampleFormat) {
        func fail(_ m: String) -> AmalgamError { .format(path: path, message: "not a readable WAV file: " + m) }
        let bytes = [UInt8](data)
        func u32(_ o: Int) -> Int { Int(bytes[o]) | Int(bytes[o + 1]) << 8 | Int(bytes[o + 2]) << 16 | Int(bytes[o + 3]) << 24 }
        func u16(_ o: Int) -> Int { Int(bytes[o]) | Int(bytes[o + 1]) << 8 }
        guard bytes.count >= 12 else { throw fail(bytes.isEmpty ? "the file is empty" : "\(bytes.count) bytes, shorter than a RIFF header") }
        guard bytes[0..<4].elementsEqual("RIFF".utf8), bytes[8..<12].elementsEqual("WAVE".utf8) else {
            throw fail(bytes[0..<4].elementsEqual("RF64".utf8) ? "RF64 (files over 4 GB) is not supported" : "no RIFF/WAVE signature")
        }
        var offset = 12
        var format: (tag: Int, channels: Int, rate: Int, bits: Int, blockAlign: Int)?
        var dataRange: Range<Int>?
        while offset + 8 <= bytes.count {
            let id = String(decoding: bytes[offset..<offset + 4], as: UTF8.self)
            let size = u32(offset + 4)
            let body = offset + 8
            if id == "fmt " {
                guard size >= 16, body + size <= bytes.count else { throw fail("the fmt chunk is truncated (\(size) bytes declared)") }
                var tag = u16(body)
                if tag == 0xFFFE {  // WAVE_FORMAT_EXTENSIBLE: the real tag opens the sub-format GUID
                    guard size >= 40 else { throw fail("an extensible fmt chunk of \(size) bytes (needs 40)") }
                    tag = u16(body + 24)
                }
                format = (tag, u16(body + 2), u32(body + 4), u16(body + 14), u16(body + 12))
            } else if id == "data" {
                // A data chunk that runs past the end is truncated; a streaming writer may leave
                // its size as 0 or 0xFFFFFFFF, which is not accepted either (the length is unknown).
                guard body + size <= bytes.count else {
                    throw fail("the data chunk declares \(size) bytes but only \(bytes.count - body) follow (truncated file)")
                }
                dataRange = body..<(body + size)
                break
            }
            offset = body + size + (size & 1)
        }
        guard let f = format else { throw fail("no fmt chunk before the data") }
        guard let range = dataRange else { throw fail("no data chunk") }
        guard f.channels >= 1 else { throw fail("\(f.channels) channels") }
        guard f.rate >= 1, f.rate <= 1_000_000 else { throw fail("sample rate \(f.rate) Hz") }
        let sf: SampleFormat
        switch (f.tag, f.bits) {
        case (1, 8): sf = .pcm8
        case (1, 16): sf = .pcm16
        case (1, 24): sf = .pcm24
        case (1, 32): sf = .pcm32
        case (3, 32): sf = .float32
        case (3, 64): sf = .float64
        default: throw fail("format tag \(f.tag) with \(f.bits) bits per sample (supported: PCM 8/16/24/32, float 32/64)")
        }
        let width = sf.bitsPerSample / 8
        guard f.blockAlign == width * f.channels else { throw fail("block align \(f.blockAlign) for \(f.channels) channels of \(width) bytes") }
        let frames = range.count / f.blockAlign
        guard frames * f.blockAlign == range.count else { throw fail("the data chunk (\(range.count) bytes) is not a whole number of \(f.blockAlign)-byte frames") }
        guard frames > 0 else { throw fail("no samples (an empty data chunk)") }
        var channels = [[Float]](repeating: [Float](repeating: 0, count: frames), count: f.channels)
        bytes.withUnsafeBufferPointer { p in
            let base = p.baseAddress! + range.lowerBound
            for c in 0..<f.channels {
                channels[c].withUnsafeMutableBufferPointer { out in
                    for i in 0..<frames {
                        let s = base + i * f.blockAlign + c * width
                        switch sf {
                        case .pcm8: out[i] = (Float(s[0]) - 128) / 128
                        case .pcm16: out[i] = Float(Int16(bitPattern: UInt16(s[0]) | UInt16(s[1]) << 8)) / 32768
                        case .pcm24:
                            let v = Int32(bitPattern: UInt32(s[0]) << 8 | UInt32(s[1]) << 16 | UInt32(s[2]) << 24) >> 8
                            out[i] = Float(v) / 8_388_608
                        case .pcm32:
                            let v = Int32(bitPattern: UInt32(s[0]) | UInt32(s[1]) << 8 | UInt32(s[2]) << 16 | UInt32(s[3]) << 24)
                            out[i] = Float(Double(v) / 2_147_483_648)
                        case .float32:
                            out[i] = Float(bitPattern: UInt32(s[0]) | UInt32(s[1]) << 8 | UInt32(s[2]) << 16 | UInt32(s[3]) << 24)
                        case .float64:
                            var b: UInt64 = 0
                            for k in 0..<8 { b |= UInt64(s[k]) << (8 * UInt64(k)) }
                            out[i] = Float(Double(bitPattern: b))
                        }
                    }
                }
            }
        }
        if sf.isFloat, channels.contains(where: { $0.contains { !$0.isFinite } }) {
            throw fail("float samples include NaN or infinity")
        }
        return (Audio(sampleRate: f.rate, channels: channels), sf)
    }

    /// WAV bytes of `audio` in `format`. Integer formats round to the nearest step and clip to
    /// the format's range (values outside [−1, 1) are clipped, not wrapped).
    public static func encode(_ audio: Audio, format: SampleFormat = .pcm16) throws -> Data {
        for ch in audio.channels where ch.contains(where: { !$0.isFinite }) {
            throw AmalgamError.invalidData("WAV: samples include NaN or infinity")
        }
        let width = format.bitsPerSample / 8, nch = audio.channels.count, frames = audio.frameCount
        let dataBytes = frames * nch * width
        guard dataBytes <= Int(UInt32.max) - 64 else { throw AmalgamError.invalidArgument("WAV: \(dataBytes) bytes of samples exceed the format's 4 GB") }
        var out = [UInt8]()
        out.reserveCapacity(44 + dataBytes)
        func put32(_ v: Int) { for k in 0..<4 { out.append(UInt8((v >> (8 * k)) & 0xFF)) } }
        func put16(_ v: Int) { for k in 0..<2 { out.append(UInt8((v >> (8 * k)) & 0xFF)) } }
        out += Array("RIFF".utf8); put32(36 + dataBytes); out += Array("WAVE".utf8)
        out += Array("fmt ".utf8); put32(16); put16(format.isFloat ? 3 : 1); put16(nch); put32(audio.sampleRate)
        put32(audio.sampleRate * nch * width); put16(nch * width); put16(format.bitsPerSample)
        out += Array("data".utf8); put32(dataBytes)
        func quantise(_ x: Float, _ bits: Int) -> Int {
            let scale = Double(1 << (bits - 1))
            return Int(Swift.min(Swift.max((Double(x) * scale).rounded(), -scale), scale - 1))
        }
        for i in 0..<frames {
            for c in 0..<nch {
                let x = audio.channels[c][i]
                switch format {
                case .pcm8: out.append(UInt8(quantise(x, 8) + 128))
                case .pcm16: let v = quantise(x, 16); out.append(UInt8(v & 0xFF)); out.append(UInt8((v >> 8) & 0xFF))
                case .pcm24: let v = quantise(x, 24); for k in 0..<3 { out.append(UInt8((v >> (8 * k)) & 0xFF)) }
                case .pcm32: let v = quantise(x, 32); for k in 0..<4 { out.append(UInt8((v >> (8 * k)) & 0xFF)) }
                case .float32: let b = x.bitPattern; for k in 0..<4 { out.append(UInt8((b >> (8 * UInt32(k))) & 0xFF)) }
                case .float64: let b = Double(x).bitPattern; for k in 0..<8 { out.append(UInt8((b >> (8 * UInt64(k))) & 0xFF)) }
                }
            }
        }
        return Data(out)
    }

    /// Writes `audio` atomically.
    public static func write(_ audio: Audio, to path: String, format: SampleFormat = .pcm16) throws {
        try writeAtomically(try encode(audio, format: format), to: path)
    }
}
