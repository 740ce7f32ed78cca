import AmalgamCore
import AmalgamFormats
import Foundation
import XCTest

final class SafeTensorsTests: XCTestCase {
    var fixture: String { Bundle.module.url(forResource: "python_written", withExtension: "safetensors", subdirectory: "Fixtures")!.path }

    /// A file written by Python's `safetensors` (F32, F16, BF16, I64, metadata) loads with identical values.
    func testReadsFileWrittenByPython() throws {
        let file = try SafeTensors.read(path: fixture)
        let jsonURL = Bundle.module.url(forResource: "python_written", withExtension: "json", subdirectory: "Fixtures")!
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: jsonURL)) as! [String: [String: Any]]
        XCTAssertEqual(Set(file.tensors.keys), Set(expected.keys))
        for (name, info) in expected {
            let t = file.tensors[name]!
            XCTAssertEqual(t.shape, info["shape"] as! [Int], name)
            XCTAssertEqual(t.scalars, (info["values"] as! [Double]).map { Float($0) }, "\(name) values must be identical")
        }
        XCTAssertEqual(file.dtypes["half.weight"], .F16)
        XCTAssertEqual(file.dtypes["brain.weight"], .BF16)
        XCTAssertEqual(file.dtypes["embeddings.position_ids"], .I64)
        XCTAssertEqual(file.metadata, ["format": "pt", "note": "written by safetensors"])
    }

    func testRoundTripInEveryWrittenDType() throws {
        var rng = RandomGenerator(seed: 1)
        let tensors = ["layer1.0.conv1.weight": Tensor.normal([4, 3, 3, 3], using: &rng), "fc.bias": Tensor([0.5, -2, 1e-3]), "scalar": Tensor(3)]
        let dir = tempDir()
        for (dtype, tol) in [(SafeTensors.DType.F32, Float(0)), (.F16, 1e-3), (.BF16, 8e-3)] {
            let path = dir + "/m-\(dtype).safetensors"
            try SafeTensors.write(tensors, metadata: ["k": "v"], dtype: dtype, to: path)
            let back = try SafeTensors.read(path: path)
            XCTAssertEqual(back.metadata, ["k": "v"])
            for (k, t) in tensors {
                XCTAssertEqual(back.tensors[k]!.shape, t.shape)
                for (a, b) in zip(back.tensors[k]!.scalars, t.scalars) { XCTAssertEqual(a, b, accuracy: tol * max(1, abs(b)), "\(k) \(dtype)") }
            }
            XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: dir).contains { $0.contains(".tmp") }, "no temporary file left behind")
        }
    }

    /// Builds a file from a raw header and data section.
    func file(header: String, data: Data) -> Data {
        var d = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { d.append(contentsOf: $0) }
        d.append(Data(header.utf8))
        d.append(data)
        return d
    }

    func testCorruptFilesThrowClearErrors() throws {
        let dir = tempDir()
        let eight = Data(repeating: 0, count: 8)
        var hugeHeader = Data()
        withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { hugeHeader.append(contentsOf: $0) }
        let cases: [(String, Data, String)] = [
            ("short", Data([1, 2, 3]), "too short"),
            ("bad header length", hugeHeader + Data(repeating: 0x20, count: 16), "header length 1099511627776 exceeds the file size"),
            ("not json", file(header: "{nope", data: Data()), "not valid JSON"),
            ("offsets out of range", file(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}}"#, data: eight), "data_offsets [0, 16] out of range"),
            ("overlap", file(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: eight),
             "overlaps the previous tensor"),
            ("size mismatch", file(header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: eight), "shape [3] of F32 needs 12 bytes"),
            ("gap", file(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: eight), "gap of 4 bytes"),
            ("unknown dtype", file(header: #"{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}}"#, data: eight.prefix(4)), "unsupported or missing dtype"),
            ("bad shape", file(header: #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: eight.prefix(4)), "invalid shape"),
        ]
        for (name, data, expected) in cases {
            let path = dir + "/\(name.replacingOccurrences(of: " ", with: "_")).safetensors"
            try data.write(to: URL(fileURLWithPath: path))
            let m = errorMessage { _ = try SafeTensors.read(path: path) }
            XCTAssertTrue(m.contains(expected) && m.contains(path), "\(name): \(m)")
        }
        // Truncating a valid file anywhere gives an error, never a crash.
        let valid = try Data(contentsOf: URL(fileURLWithPath: fixture))
        for cut in stride(from: 0, to: valid.count, by: 37) {
            let path = dir + "/cut.safetensors"
            try valid.prefix(cut).write(to: URL(fileURLWithPath: path))
            XCTAssertThrowsError(try SafeTensors.read(path: path), "cut at \(cut)")
        }
    }

    /// Writes the files that `scripts/reference/check_amalgam_safetensors.py` loads in Python.
    func testWritePythonCheckFile() throws {
        var rng = RandomGenerator(seed: 9)
        let tensors = ["features.0.weight": Tensor.normal([4, 3], using: &rng), "bn1.running_var": Tensor.uniform([5], using: &rng),
                       "fc.bias": Tensor([1, -1.5, 1e-4]), "empty": Tensor.zeros([0, 3])]
        let meta = ["model": "mlp", "epoch": "3"]
        let prefix = NSTemporaryDirectory() + "amalgam_written"
        try SafeTensors.write(tensors, metadata: meta, to: prefix + ".safetensors")
        try SafeTensors.write(tensors, metadata: meta, dtype: .F16, to: prefix + ".f16.safetensors")
        try SafeTensors.write(tensors, metadata: meta, dtype: .BF16, to: prefix + ".bf16.safetensors")
        let json: [String: Any] = ["metadata": meta, "tensors": tensors.mapValues { ["shape": $0.shape, "values": $0.scalars.map(Double.init)] }]
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: prefix + ".json"))
    }
}
