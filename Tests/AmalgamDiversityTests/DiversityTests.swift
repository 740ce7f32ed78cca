import AmalgamCore
import AmalgamLinalg
import AmalgamData
import AmalgamDiversity
import AmalgamFormats
import AmalgamNN
import Foundation
import XCTest

final class DiversityTests: XCTestCase {
    struct Golden: Decodable {
        struct Probe: Decodable { var lambda: Double; var coef: [[Double]]; var intercept: [Double]; var train_accuracy: Double }
        struct Correlation: Decodable { var x: [Double]; var y: [Double]; var spearman: Double; var kendall: Double; var pearson: Double }
        var probe: Probe
        var correlation: Correlation
        var spectrum: [Double]
    }
    func golden() throws -> Golden {
        try JSONDecoder().decode(Golden.self, from: Data(contentsOf: Bundle.module.url(forResource: "diversity_golden", withExtension: "json", subdirectory: "Fixtures")!))
    }
    /// The first 200 scikit-learn digits: 64 raw pixels and labels.
    func digits() throws -> (FeatureMatrix, [Int]) {
        let t = try CSVTable.read(path: Bundle.module.path(forResource: "digits200", ofType: "csv", inDirectory: "Fixtures")!)
        let rows = t.rows
        let X = try FeatureMatrix(rows: rows.count, columns: 64, values: rows.flatMap { $0[0..<64] })
        return (X, rows.map { Int($0[64]) })
    }

    /// Synthetic features (unit tests only): N samples of `factors` independent Gaussian signals,
    /// feature j = factor (j mod factors) · scale_j + noise.
    func planted(n: Int, d: Int, factors: Int, noise: Double, seed: UInt64) throws -> FeatureMatrix {
        var rng = RandomGenerator(seed: seed)
        func gauss() -> Double { (-2 * Foundation.log(1 - rng.nextDouble())).squareRoot() * cos(2 * .pi * rng.nextDouble()) }
        var v = [Double](repeating: 0, count: n * d)
        for i in 0..<n {
            let f = (0..<factors).map { _ in gauss() }
            for j in 0..<d { v[i * d + j] = f[j % factors] * (1 + Double(j) * 0.1) * (j % 2 == 0 ? 1 : -1) + noise * gauss() }
        }
        return try FeatureMatrix(rows: n, columns: d, values: v)
    }

    func testPCAScoreEqualsItsDefinitionAndHitsItsBounds() throws {
        // The formula on a known spectrum: λ = (4, 2, 1, 1) → c = (.5, .75, .875, 1), AUC = 0.78125,
        // score = 2·4·(1 − 0.78125)/3 = 0.58333…
        let s = try Diversity.pcaScore(spectrum: [1, 4, 1, 2])
        XCTAssertEqual(s.auc, 0.78125, accuracy: 1e-15)
        XCTAssertEqual(s.score, 7.0 / 12.0, accuracy: 1e-15)
        XCTAssertEqual(try Diversity.pcaScore(spectrum: [3, 3, 3, 3, 3]).score, 1, accuracy: 1e-15)
        XCTAssertEqual(try Diversity.pcaScore(spectrum: [5, 0, 0, 0]).score, 0, accuracy: 1e-15)
        // Isotropic Gaussian features (N = 40·D): near the maximum; rank-1 features: 0.
        // The sample spectrum of isotropic data spreads over (1 ± √(D/N))² (Marchenko–Pastur), so
        // the score approaches 1 as N/D grows: above 1 − √(D/N) at N = 40·D and at N = 160·D.
        let iso40 = try Diversity.pcaScore(planted(n: 1_280, d: 32, factors: 32, noise: 0, seed: 1), standardize: true).score
        let iso160 = try Diversity.pcaScore(planted(n: 5_120, d: 32, factors: 32, noise: 0, seed: 1), standardize: true).score
        XCTAssertGreaterThan(iso40, 1 - (1.0 / 40).squareRoot())
        XCTAssertGreaterThan(iso160, 1 - (1.0 / 160).squareRoot())
        XCTAssertGreaterThan(iso160, iso40)
        let rank1 = try planted(n: 500, d: 16, factors: 1, noise: 0, seed: 2)
        XCTAssertEqual(try Diversity.pcaScore(rank1).score, 0, accuracy: 1e-9)
        // The spectrum equals numpy's eigvalsh of the standardised digits' covariance.
        let (X, _) = try digits()
        let p = try Diversity.pcaScore(X, standardize: true)
        for (a, b) in zip(p.spectrum, try golden().spectrum) { XCTAssertEqual(a, b, accuracy: 1e-9 * max(1, abs(b))) }
    }

    func testInvariances() throws {
        let f = try planted(n: 600, d: 12, factors: 5, noise: 0.3, seed: 3)
        let perm = [7, 3, 11, 0, 5, 9, 1, 10, 2, 8, 4, 6]
        let permuted = try FeatureMatrix(rows: f.rows, columns: f.columns, values: (0..<f.rows).flatMap { i in perm.map { f[i, $0] } })
        let scaled = try FeatureMatrix(rows: f.rows, columns: f.columns, values: f.values.map { $0 * 7.5 })
        let perFeature = try FeatureMatrix(rows: f.rows, columns: f.columns, values: (0..<f.rows).flatMap { i in (0..<f.columns).map { f[i, $0] * Double($0 + 1) } })
        let base = try Diversity.pcaScore(f).score
        XCTAssertEqual(try Diversity.pcaScore(permuted).score, base, accuracy: 1e-12)   // feature order
        XCTAssertEqual(try Diversity.pcaScore(scaled).score, base, accuracy: 1e-12)     // global scale
        // Per-feature scaling changes the raw score but not the standardised one.
        XCTAssertGreaterThan(abs(try Diversity.pcaScore(perFeature).score - base), 1e-3)
        XCTAssertEqual(try Diversity.pcaScore(perFeature, standardize: true).score, try Diversity.pcaScore(f, standardize: true).score, accuracy: 1e-12)
        let c = try Diversity.clusterScore(f).score
        XCTAssertEqual(try Diversity.clusterScore(permuted).score, c)
        XCTAssertEqual(try Diversity.clusterScore(perFeature).score, c)
    }

    func testClusterScoreFindsPlantedClusters() throws {
        // 24 features copying 6 signals with little noise (|ρ| ≈ 0.99): 6 groups → 6/24.
        let f = try planted(n: 2_000, d: 24, factors: 6, noise: 0.05, seed: 4)
        let c = try Diversity.clusterScore(f)
        XCTAssertEqual(c.groups, 6)
        XCTAssertEqual(c.score, 0.25, accuracy: 1e-15)
        // Independent features: every feature its own group. Dead features: one group together.
        XCTAssertEqual(try Diversity.clusterScore(planted(n: 2_000, d: 10, factors: 10, noise: 0.05, seed: 5)).groups, 10)
        var dead = try planted(n: 300, d: 8, factors: 8, noise: 0, seed: 6).values
        for i in 0..<300 { dead[i * 8 + 2] = 0; dead[i * 8 + 5] = 1 }
        XCTAssertEqual(try Diversity.clusterScore(FeatureMatrix(rows: 300, columns: 8, values: dead)).groups, 7)
    }

    func testScoresAreStableAcrossDraws() throws {
        let f = try planted(n: 4_000, d: 16, factors: 8, noise: 0.5, seed: 7)
        let r = try Diversity.scores(f, samples: 1_000, draws: 4, seed: 1)
        XCTAssertEqual(r.pca.values.count, 4)
        XCTAssertLessThan(r.pca.std, 0.01 * r.pca.mean)
        XCTAssertEqual(r.spectrum.count, 16)
        // N vs 2N: the mean changes by < 1 % (N ≥ 5·D).
        let r2 = try Diversity.scores(f, samples: 2_000, draws: 4, seed: 2)
        XCTAssertLessThan(abs(r2.pca.mean - r.pca.mean), 0.01 * r.pca.mean)
        XCTAssertEqual(try Diversity.scores(f, samples: 1_000, draws: 4, seed: 1).pca.values, r.pca.values)   // deterministic
    }

    func testLinearProbeMatchesScikitLearn() throws {
        let (X, y) = try digits()
        let g = try golden().probe
        var probe = LinearProbe(lambda: g.lambda, maxIterations: 5_000, tol: 1e-10)
        try probe.fit(X, labels: y, classes: 10)
        XCTAssertLessThan(probe.iterations, 1_000); XCTAssertLessThanOrEqual(probe.gradientNorm, 1e-9, "after \(probe.iterations) iterations")
        for j in 0..<64 { for k in 0..<10 { XCTAssertEqual(probe.weights[j * 10 + k], g.coef[j][k], accuracy: 1e-5, "W[\(j), \(k)]") } }
        // scikit-learn's intercepts are defined up to a common shift (softmax); compare centred.
        let mb = probe.bias.reduce(0, +) / 10, mg = g.intercept.reduce(0, +) / 10
        for k in 0..<10 { XCTAssertEqual(probe.bias[k] - mb, g.intercept[k] - mg, accuracy: 1e-5) }
        XCTAssertEqual(try probe.accuracy(X, labels: y), g.train_accuracy)
    }

    func testRankCorrelationsMatchScipy() throws {
        let c = try golden().correlation
        XCTAssertEqual(try RankCorrelation.spearman(c.x, c.y), c.spearman, accuracy: 1e-12)
        XCTAssertEqual(try RankCorrelation.kendall(c.x, c.y), c.kendall, accuracy: 1e-12)
        XCTAssertEqual(try RankCorrelation.pearson(c.x, c.y), c.pearson, accuracy: 1e-12)
        XCTAssertEqual(RankCorrelation.ranks([10, 20, 20, 5]), [2, 3.5, 3.5, 1])
        XCTAssertThrowsError(try RankCorrelation.spearman([1, 2], [1]))
        XCTAssertThrowsError(try RankCorrelation.kendall([1, 1, 1], [1, 2, 3]))
    }

    func testPenultimateFeaturesAreTheClassifierInput() throws {
        // MLP: the features are the last hidden ReLU layer; logits = features · Wᵀ + b.
        let net = ModelKind.mlp.make(channels: 1, imageSize: 8, classes: 3, seed: 5)
        var rng = RandomGenerator(seed: 9)
        let x = Tensor.uniform([7, 1, 8, 8], using: &rng)
        let f = try penultimateFeatures(net, images: x, batchSize: 3)
        XCTAssertEqual(f.rows, 7); XCTAssertEqual(f.columns, 512)
        net.eval()
        let logits = try withoutGradients { try net(x) }
        let head = net.namedModules().last { $0.1 is Linear }!.1 as! Linear
        let w = head.weight.value, b = head.bias!.value
        for i in 0..<7 {
            for k in 0..<3 {
                var s = Double(b[k])
                for j in 0..<512 { s += f[i, j] * Double(w[k, j]) }
                XCTAssertEqual(s, Double(logits[i, k]), accuracy: 1e-4)
            }
        }
        XCTAssertTrue(f.values.allSatisfy { $0 >= 0 })   // after ReLU
    }

    /// The MNIST task reads a folder of IDX files (here a synthetic one of 12 + 5 images of 28×28):
    /// the probe trains on at most the first 10,000 training images and tests on every test image,
    /// pixels scaled to [0, 1]; without the files the error names the setup script.
    func testMNISTTaskReadsIDXFilesAndNamesTheSetupScriptWhenMissing() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mnist-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func idx(_ dims: [Int], _ bytes: [UInt8]) -> Data {
            var d = Data([0, 0, 8, UInt8(dims.count)])
            for n in dims { d.append(contentsOf: withUnsafeBytes(of: UInt32(n).bigEndian, Array.init)) }
            d.append(contentsOf: bytes)
            return d
        }
        for (split, n) in [("train", 12), ("t10k", 5)] {
            let labels = (0..<n).map { UInt8(($0 * 7 + 3) % 10) }
            let pixels = (0..<(n * 784)).map { UInt8(($0 * 31 + n) % 256) }
            try idx([n, 28, 28], pixels).write(to: URL(fileURLWithPath: "\(dir)/\(split)-images-idx3-ubyte"))
            try idx([n], labels).write(to: URL(fileURLWithPath: "\(dir)/\(split)-labels-idx1-ubyte"))
        }
        let (train, test) = try DownstreamTask.mnist.splits(fashionDirectory: nil, digitsFile: nil, mnistDirectory: dir)
        XCTAssertEqual(train.count, 12); XCTAssertEqual(test.count, 5); XCTAssertEqual(train.classes, 10)
        XCTAssertEqual(test.labels, (0..<5).map { ($0 * 7 + 3) % 10 })
        XCTAssertEqual(train.images.shape, [12, 1, 28, 28])
        XCTAssertEqual(test.images.scalars[100], Float((100 * 31 + 5) % 256) / 255, accuracy: 1e-7)
        do {
            _ = try DownstreamTask.mnist.splits(fashionDirectory: nil, digitsFile: nil, mnistDirectory: dir + "/absent")
            XCTFail("a missing MNIST folder was accepted")
        } catch { XCTAssertTrue("\(error)".contains("scripts/setup-mnist.sh"), "\(error)") }
    }

    func testBadInputGivesClearErrors() throws {
        func message(_ body: () throws -> Void) -> String { do { try body(); return "no error" } catch { return "\(error)" } }
        XCTAssertTrue(message { _ = try FeatureMatrix(rows: 2, columns: 2, values: [1, .nan, 3, 4]) }.contains("feature 1 of sample 0"))
        XCTAssertTrue(message { _ = try FeatureMatrix(rows: 2, columns: 2, values: [1, 2, 3]) }.contains("3 values"))
        let f = try FeatureMatrix(rows: 3, columns: 2, values: [1, 1, 1, 1, 1, 1])
        XCTAssertTrue(message { _ = try Diversity.pcaScore(f) }.contains("no variance"))
        XCTAssertTrue(message { _ = try Diversity.scores(f, samples: 10) }.contains("samples must be in 2...3"))
        XCTAssertTrue(message { _ = try Diversity.clusterScore(f, threshold: 1.5) }.contains("threshold"))
        var p = LinearProbe()
        XCTAssertTrue(message { try p.fit(f, labels: [0, 1, 5], classes: 2) }.contains("label 5 of sample 2"))
        XCTAssertTrue(message { _ = try p.predict(f) }.contains("not fitted"))
        XCTAssertTrue(message { _ = try Digits.load(path: "/nonexistent/digits.csv.gz") }.contains("no such file"))
    }
}
