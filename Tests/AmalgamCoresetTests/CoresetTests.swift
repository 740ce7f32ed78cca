import AmalgamCore
import AmalgamCoreset
import AmalgamLinalg
import AmalgamNN
import Foundation
import XCTest

/// Synthetic data (unit tests only).
final class CoresetTests: XCTestCase {
    func gaussian(_ n: Int, _ d: Int, seed: UInt64, shift: Double = 0) throws -> FeatureMatrix {
        var rng = RandomGenerator(seed: seed)
        func g() -> Double { (-2 * Foundation.log(1 - rng.nextDouble())).squareRoot() * cos(2 * .pi * rng.nextDouble()) }
        return try FeatureMatrix(rows: n, columns: d, values: (0..<(n * d)).map { _ in g() + shift })
    }

    func testBudgetAndClassBalanceAreExact() throws {
        let labels = (0..<1_000).map { $0 < 600 ? 0 : ($0 < 900 ? 1 : 2) }   // 600 / 300 / 100
        let c = try select(Uniform(), labels: labels, classes: 3, budget: Budget(fraction: 0.1), seed: 1)
        XCTAssertEqual(c.indices.count, 100)
        XCTAssertEqual(c.indices.filter { labels[$0] == 0 }.count, 60)
        XCTAssertEqual(c.indices.filter { labels[$0] == 1 }.count, 30)
        XCTAssertEqual(c.indices.filter { labels[$0] == 2 }.count, 10)
        XCTAssertEqual(Set(c.indices).count, 100)
        XCTAssertEqual(try select(Uniform(), labels: labels, classes: 3, budget: Budget(fraction: 0.1), seed: 1).indices, c.indices)   // seeded
        XCTAssertNotEqual(try select(Uniform(), labels: labels, classes: 3, budget: Budget(fraction: 0.1), seed: 2).indices, c.indices)
        XCTAssertEqual(try select(Uniform(), labels: labels, classes: 3, budget: Budget(fraction: 0.123, balanced: false), seed: 1).indices.count, 123)
        XCTAssertEqual(try select(Uniform(), labels: labels, classes: 3, budget: Budget(fraction: 1), seed: 1).indices, Array(0..<1_000))
        // Bad input: fraction outside (0, 1]; a budget below one example per class with balance on.
        for f in [0.0, -0.1, 1.5, .nan] { XCTAssertThrowsError(try Budget(fraction: f)) { XCTAssertTrue("\($0)".contains("(0, 1]")) } }
        XCTAssertThrowsError(try select(Uniform(), labels: labels, classes: 3, budget: Budget(fraction: 0.004), seed: 0)) {
            XCTAssertTrue("\($0)".contains("at least one example per class"), "\($0)")
        }
        XCTAssertThrowsError(try select(Uniform(), labels: [0, 5], classes: 3, budget: Budget(fraction: 0.5), seed: 0))
    }

    func testHerdingTracksTheMeanFasterThanRandom() throws {
        let e = try gaussian(400, 5, seed: 3, shift: 1)
        let members = Array(0..<400)
        var rng = RandomGenerator(seed: 0)
        let herd = try Herding(embeddings: e).choose(members, size: 40, rng: &rng).indices
        // Herding returns sorted indices; rerun the greedy order to measure the running mean.
        var mu = [Double](repeating: 0, count: 5)
        for i in members { for k in 0..<5 { mu[k] += e[i, k] / 400 } }
        func error(_ set: [Int]) -> Double {
            var m = [Double](repeating: 0, count: 5)
            for i in set { for k in 0..<5 { m[k] += e[i, k] / Double(set.count) } }
            return zip(m, mu).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
        }
        let herdError = error(herd)
        var randomErrors: [Double] = []
        for s in 0..<20 { var r = RandomGenerator(seed: UInt64(100 + s)); randomErrors.append(error(try Uniform().choose(members, size: 40, rng: &r).indices)) }
        XCTAssertLessThan(herdError, randomErrors.min()!)
        XCTAssertLessThan(herdError, 0.1 * randomErrors.reduce(0, +) / 20)
        // The running-mean error after t picks is O(1/t): at t = 10 and 40 it is below random's.
        let h10 = try Herding(embeddings: e).choose(members, size: 10, rng: &rng).indices
        XCTAssertLessThan(error(h10), randomErrors.reduce(0, +) / 20)
    }

    func testKCenterIsWithinTwiceTheOptimalCoveringRadius() throws {
        let f = try gaussian(14, 2, seed: 4)
        let members = Array(0..<14)
        let kc = KCenterGreedy(features: f)
        for k in 2...4 {
            var rng = RandomGenerator(seed: UInt64(k))
            let centres = try kc.choose(members, size: k, rng: &rng).indices
            // Brute force over all k-subsets.
            var best = Double.infinity
            func combos(_ start: Int, _ current: [Int]) {
                if current.count == k { best = min(best, kc.coveringRadius(members, centres: current)); return }
                guard start < members.count else { return }
                for i in start..<members.count { combos(i + 1, current + [i]) }
            }
            combos(0, [])
            XCTAssertLessThanOrEqual(kc.coveringRadius(members, centres: centres), 2 * best + 1e-12, "k = \(k)")
            XCTAssertEqual(centres.count, k)
        }
        // Contextual diversity uses the symmetric KL: identical distributions are at distance 0.
        let p = try FeatureMatrix(rows: 3, columns: 2, values: [0.5, 0.5, 0.5, 0.5, 0.9, 0.1])
        let cd = KCenterGreedy(contextualDiversity: p)
        XCTAssertEqual(cd.distance(p, 0, 1), 0, accuracy: 1e-15)
        XCTAssertEqual(cd.distance(p, 0, 2), 0.5 * (0.5 * log(0.5 / 0.9) + 0.5 * log(0.5 / 0.1)) + 0.5 * (0.9 * log(0.9 / 0.5) + 0.1 * log(0.1 / 0.5)), accuracy: 1e-12)
    }

    func testFacilityLocationGreedyIsWithinOneMinusOneOverEOfTheOptimum() throws {
        let g = try gaussian(12, 3, seed: 5)
        let n = 12, s = cosineSimilarity(g, rows: Array(0..<n))
        for k in 2...4 {
            var best = 0.0
            func combos(_ start: Int, _ current: [Int]) {
                if current.count == k { best = max(best, FacilityLocation.value(s, n, current)); return }
                guard start < n else { return }
                for i in start..<n { combos(i + 1, current + [i]) }
            }
            combos(0, [])
            var rng = RandomGenerator(seed: 0)
            let naive = GreedyOptimizer.naive.maximize(FacilityLocation(similarity: s, size: n), k: k, rng: &rng)
            let lazy = GreedyOptimizer.lazy.maximize(FacilityLocation(similarity: s, size: n), k: k, rng: &rng)
            XCTAssertEqual(naive, lazy, "lazy = naive")
            XCTAssertGreaterThanOrEqual(FacilityLocation.value(s, n, naive), (1 - 1 / M_E) * best)
            for opt in [GreedyOptimizer.stochastic, .approximateLazy] {
                let r = opt.maximize(FacilityLocation(similarity: s, size: n), k: k, rng: &rng)
                XCTAssertEqual(Set(r).count, k, "\(opt)")
            }
        }
    }

    func testGraphCutAndLogDeterminantGainsEqualTheirDefinitions() throws {
        let g = try gaussian(10, 4, seed: 6)
        let n = 10, s = cosineSimilarity(g, rows: Array(0..<n))
        var gc = GraphCut(similarity: s, size: n, lambda: 1.5)
        var ld = LogDeterminant(similarity: s, size: n, epsilon: 1e-2)
        var set: [Int] = []
        for x in [3, 7, 1, 8] {
            for y in 0..<n where !set.contains(y) {
                XCTAssertEqual(gc.gain(y), GraphCut.value(s, n, set + [y], lambda: 1.5) - GraphCut.value(s, n, set, lambda: 1.5), accuracy: 1e-10)
                XCTAssertEqual(ld.gain(y), LogDeterminant.value(s, n, set + [y], epsilon: 1e-2) - LogDeterminant.value(s, n, set, epsilon: 1e-2), accuracy: 1e-8)
            }
            gc.add(x); ld.add(x); set.append(x)
        }
        // The log-det gain prefers the element least similar to the selection (DeepCore's coded
        // gain, s_Axᵀ S_A⁺ s_Ax maximised, prefers the most similar).
        let dup = try FeatureMatrix(rows: 3, columns: 2, values: [1, 0, 0.99, 0.01, 0, 1])
        let sd = cosineSimilarity(dup, rows: [0, 1, 2])
        var l = LogDeterminant(similarity: sd, size: 3)
        l.add(0)
        XCTAssertGreaterThan(l.gain(2), l.gain(1))
    }

    func testUncertaintyPicksTheMostUncertainAndForgettingCounts() throws {
        // Rows: confident, uniform (most uncertain), two-way tie, mildly confident.
        let p = try FeatureMatrix(rows: 4, columns: 3, values: [0.98, 0.01, 0.01, 1.0 / 3, 1.0 / 3, 1.0 / 3, 0.5, 0.5, 0, 0.7, 0.2, 0.1])
        var rng = RandomGenerator(seed: 0)
        for kind in ExampleScores.Uncertainty.allCases {
            let s = ExampleScores.uncertainty(p, kind)
            let top = try TopScores(scores: s).choose(Array(0..<4), size: 1, rng: &rng).indices
            XCTAssertEqual(top, [1], "\(kind): the uniform row (ties broken by index)")
            XCTAssertEqual(s.indices.min { s[$0] < s[$1] }, 0, "\(kind): the confident row is least uncertain")
        }
        XCTAssertEqual(ExampleScores.uncertainty(p, .margin)[2], 0, accuracy: 1e-15)   // a tie has margin 0
        // Forgetting on a scripted sequence: example 0 learnt then forgotten twice; 1 learnt once and
        // kept; 2 never learnt (+∞).
        var f = ForgettingCounter(examples: 3)
        for correct in [[true, false, false], [false, true, false], [true, true, false], [false, true, false], [true, true, false]] {
            f.record([0, 1, 2], correct: correct)
        }
        XCTAssertEqual(f.forgotten, [2, 0, 0])
        XCTAssertEqual(f.scores, [2, 0, .infinity])
        XCTAssertEqual(try TopScores(scores: f.scores).choose([0, 1, 2], size: 2, rng: &rng).indices, [0, 2])
    }

    func testLastLayerGradientsMatchTheirDefinitionAndCraigWeightsCoverTheGroup() throws {
        let probs = try FeatureMatrix(rows: 2, columns: 3, values: [0.7, 0.2, 0.1, 0.1, 0.3, 0.6])
        let emb = try FeatureMatrix(rows: 2, columns: 2, values: [1, -2, 0.5, 3])
        let g = try ExampleScores.lastLayerGradients(probs, embeddings: emb, labels: [0, 2])
        XCTAssertEqual(g.columns, 9)
        // Row 0: q = (−0.3, 0.2, 0.1); then q ⊗ e = (−0.3, 0.6, 0.2, −0.4, 0.1, −0.2).
        let expected = [-0.3, 0.2, 0.1, -0.3, 0.6, 0.2, -0.4, 0.1, -0.2]
        for k in 0..<9 { XCTAssertEqual(g[0, k], expected[k], accuracy: 1e-12) }
        let grand = ExampleScores.grand(probs, embeddings: emb, labels: [0, 2])
        XCTAssertEqual(grand[0], (0..<9).reduce(0) { $0 + g[0, $1] * g[0, $1] }.squareRoot(), accuracy: 1e-12)
        // Craig: weights are the sizes of the groups each selected element represents.
        let grads = try gaussian(30, 4, seed: 8)
        let labels = (0..<30).map { $0 % 2 }
        let c = try select(Craig(gradients: grads), labels: labels, classes: 2, budget: Budget(fraction: 0.2), seed: 0)
        XCTAssertEqual(c.indices.count, 6)
        XCTAssertEqual(c.weights!.reduce(0, +), 30)
        XCTAssertTrue(c.weights!.allSatisfy { $0 >= 1 })
        let sub = try select(SubmodularSelection(gradients: grads, function: .logDeterminant), labels: labels, classes: 2, budget: Budget(fraction: 0.2), seed: 0)
        XCTAssertEqual(sub.indices.count, 6)
    }
}

/// `--deepcore-rules`: each rule equals a direct transcription of DeepCore's code (its loops and
/// argsorts, written out here) on synthetic features, and differs from the corrected rule.
final class DeepCoreRulesTests: XCTestCase {
    func gaussian(_ n: Int, _ d: Int, seed: UInt64) throws -> FeatureMatrix {
        var rng = RandomGenerator(seed: seed)
        func g() -> Double { (-2 * Foundation.log(1 - rng.nextDouble())).squareRoot() * cos(2 * .pi * rng.nextDouble()) }
        return try FeatureMatrix(rows: n, columns: d, values: (0..<(n * d)).map { _ in g() })
    }

    func testHerdingTakesTheFarthestExampleAsDeepCoresLoopDoes() throws {
        let e = try gaussian(30, 3, seed: 2), members = Array(0..<30), size = 8
        // DeepCore: dist = ‖(i+1)μ − Σ_selected − e_x‖ over the unselected, p = argmax.
        var mu = [Double](repeating: 0, count: 3)
        for i in members { for k in 0..<3 { mu[k] += e[i, k] / 30 } }
        var selected: [Int] = [], sum = [Double](repeating: 0, count: 3)
        for i in 0..<size {
            let c = (0..<3).map { Double(i + 1) * mu[$0] - sum[$0] }
            let p = members.filter { !selected.contains($0) }.max { a, b in
                (0..<3).reduce(0) { $0 + pow(c[$1] - e[a, $1], 2) } < (0..<3).reduce(0) { $0 + pow(c[$1] - e[b, $1], 2) }
            }!
            selected.append(p); for k in 0..<3 { sum[k] += e[p, k] }
        }
        var rng = RandomGenerator(seed: 0)
        let ours = try Herding(embeddings: e, farthest: true).choose(members, size: size, rng: &rng).indices
        XCTAssertEqual(ours, selected.sorted())
        XCTAssertNotEqual(ours, try Herding(embeddings: e).choose(members, size: size, rng: &rng).indices)
    }

    func testCalKeepsTheLowestScoresAndCraigAddsOneToEveryWeight() throws {
        let emb = try gaussian(20, 4, seed: 3)
        var rng = RandomGenerator(seed: 4)
        var probs: [Double] = []
        for _ in 0..<20 { let r = (0..<3).map { _ in rng.nextDouble() + 0.05 }; let s = r.reduce(0, +); probs += r.map { $0 / s } }
        let p = try FeatureMatrix(rows: 20, columns: 3, values: probs)
        let members = Array(0..<20)
        let scores = try Cal(embeddings: emb, probabilities: p).groupScores(members)
        let lowest = members.sorted { scores[$0] < scores[$1] }.prefix(5).sorted()   // np.argsort(scores)[:5]
        XCTAssertEqual(try Cal(embeddings: emb, probabilities: p, keepLowest: true).choose(members, size: 5, rng: &rng).indices, Array(lowest))
        let highest = members.sorted { scores[$0] > scores[$1] }.prefix(5).sorted()
        XCTAssertEqual(try Cal(embeddings: emb, probabilities: p).choose(members, size: 5, rng: &rng).indices, Array(highest))
        // Craig: the same picks; DeepCore's weights are ours + 1 (np.ones, then +1 per member).
        let grads = try gaussian(24, 4, seed: 9)
        let ours = try Craig(gradients: grads).choose(Array(0..<24), size: 5, rng: &rng)
        let deep = try Craig(gradients: grads, deepCoreWeights: true).choose(Array(0..<24), size: 5, rng: &rng)
        XCTAssertEqual(deep.indices, ours.indices)
        XCTAssertEqual(deep.weights!, ours.weights!.map { $0 + 1 })
        XCTAssertEqual(deep.weights!.reduce(0, +), 24 + 5)
    }

    func testGlisterWithoutItsUpdateIsTopKOfTheInitialGains() throws {
        let emb = try gaussian(15, 3, seed: 5)
        var rng = RandomGenerator(seed: 6)
        var probs: [Double] = []
        for _ in 0..<15 { let r = (0..<4).map { _ in rng.nextDouble() + 0.1 }; let s = r.reduce(0, +); probs += r.map { $0 / s } }
        let p = try FeatureMatrix(rows: 15, columns: 4, values: probs), labels = (0..<15).map { $0 % 4 }, members = Array(0..<15)
        let frozen = Glister(probabilities: p, embeddings: emb, labels: labels, learningRate: 2, updatesState: false)
        let g = frozen.gains(members, logits: frozen.initialLogits(members))
        let top = members.sorted { g[$0] > g[$1] }.prefix(6).sorted()
        XCTAssertEqual(try frozen.choose(members, size: 6, rng: &rng).indices, Array(top))
    }

    func testLogDeterminantTakesDeepCoresGain() throws {
        // Gain s_xAᵀ (S_A + εI)⁻¹ s_xA, maximised greedily (0 for all while A is empty: the first
        // index goes first), by a naive transcription with an explicit inverse.
        let x = try gaussian(9, 3, seed: 7), n = 9, eps = 1e-3
        var s = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n {
            let dot = (0..<3).reduce(0) { $0 + x[i, $1] * x[j, $1] }
            let ni = (0..<3).reduce(0) { $0 + x[i, $1] * x[i, $1] }.squareRoot(), nj = (0..<3).reduce(0) { $0 + x[j, $1] * x[j, $1] }.squareRoot()
            s[i * n + j] = 0.5 + 0.5 * dot / (ni * nj)
        } }
        func inverse(_ a: [Double], _ m: Int) -> [Double] {   // Gauss–Jordan, small and well conditioned
            var w = a, inv = (0..<(m * m)).map { $0 / m == $0 % m ? 1.0 : 0 }
            for c in 0..<m {
                let piv = w[c * m + c]
                for j in 0..<m { w[c * m + j] /= piv; inv[c * m + j] /= piv }
                for r in 0..<m where r != c {
                    let f = w[r * m + c]
                    for j in 0..<m { w[r * m + j] -= f * w[c * m + j]; inv[r * m + j] -= f * inv[c * m + j] }
                }
            }
            return inv
        }
        var chosen: [Int] = []
        for _ in 0..<4 {
            let m = chosen.count
            let sa = (0..<(m * m)).map { s[chosen[$0 / m] * n + chosen[$0 % m]] + ($0 / m == $0 % m ? eps : 0) }
            let ia = m > 0 ? inverse(sa, m) : []
            var best = -1, bestGain = -Double.infinity
            for c in 0..<n where !chosen.contains(c) {
                let v = chosen.map { s[c * n + $0] }
                var gain = 0.0
                for a in 0..<m { for b in 0..<m { gain += v[a] * ia[a * m + b] * v[b] } }
                if gain > bestGain + 1e-12 { bestGain = gain; best = c }
            }
            chosen.append(best)
        }
        var rng = RandomGenerator(seed: 0)
        let ours = GreedyOptimizer.naive.maximize(LogDeterminant(similarity: s, size: n, deepCoreGain: true), k: 4, rng: &rng)
        XCTAssertEqual(ours, chosen)
        XCTAssertNotEqual(GreedyOptimizer.naive.maximize(LogDeterminant(similarity: s, size: n), k: 4, rng: &rng), chosen)
    }

    func testUncertaintyReadsLogitsAndForgettingScoresNeverLearntExamplesZero() throws {
        // Two rows with the same softmax but different logits (shifted by 5): DeepCore's least
        // confidence (−max logit) tells them apart; ours (1 − max p) does not.
        let z = try FeatureMatrix(rows: 3, columns: 3, values: [2, 1, 0, 7, 6, 5, 0, 0, 3])
        var probs: [Double] = []
        for i in 0..<3 { let e = (0..<3).map { Foundation.exp(z[i, $0]) }; let s = e.reduce(0, +); probs += e.map { $0 / s } }
        let p = try FeatureMatrix(rows: 3, columns: 3, values: probs)
        XCTAssertEqual(ExampleScores.deepCoreUncertainty(logits: z, probabilities: p, .leastConfidence), [-2, -7, -3])
        let ent = ExampleScores.deepCoreUncertainty(logits: z, probabilities: p, .entropy)
        XCTAssertEqual(ent[0], -(0..<3).reduce(0) { $0 + p[0, $1] * Foundation.log(p[0, $1] + 1e-6) }, accuracy: 1e-15)
        XCTAssertEqual(ExampleScores.deepCoreUncertainty(logits: z, probabilities: p, .margin), ExampleScores.uncertainty(p, .margin))
        // Forgetting: DeepCore's counter starts at 0 and never-learnt examples stay there.
        XCTAssertEqual(ForgettingCounter.deepCoreScores([2, 0, .infinity]), [2, 0, 0])
    }
}

final class GlisterTests: XCTestCase {
    func testGainIsTheFirstOrderLossDecreaseAndTheStateUpdates() throws {
        var rng = RandomGenerator(seed: 11)
        let n = 12, k = 3, d = 4
        let emb = try FeatureMatrix(rows: n, columns: d, values: (0..<(n * d)).map { _ in rng.nextDouble() * 2 - 1 })
        var probs: [Double] = []
        for _ in 0..<n { let r = (0..<k).map { _ in rng.nextDouble() + 0.1 }; let s = r.reduce(0, +); probs += r.map { $0 / s } }
        let p = try FeatureMatrix(rows: n, columns: k, values: probs)
        let labels = (0..<n).map { $0 % k }
        let members = Array(0..<n)
        func loss(_ z: [Double]) -> Double {   // mean cross-entropy of the group
            (0..<n).reduce(0) { acc, a in
                let row = (0..<k).map { z[a * k + $0] }, m = row.max()!
                return acc + (m + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - m) }) - row[labels[a]]) / Double(n)
            }
        }
        let tiny = Glister(probabilities: p, embeddings: emb, labels: labels, learningRate: 1e-6)
        let z0 = tiny.initialLogits(members)
        let g = tiny.gains(members, logits: z0)
        for x in 0..<n {
            let decrease = (loss(z0) - loss(tiny.step(members, logits: z0, picked: x))) / 1e-6
            XCTAssertEqual(g[x], decrease, accuracy: 1e-4 * max(1, abs(g[x])), "gain of \(x)")
        }
        // With a real step the gains after a pick are those of the updated model, and the second
        // pick can differ from plain top-2 of the initial gains.
        let glister = Glister(probabilities: p, embeddings: emb, labels: labels, learningRate: 2)
        let first = g.indices.max { g[$0] < g[$1] }!
        let z1 = glister.step(members, logits: z0, picked: first)
        let g1 = glister.gains(members, logits: z1)
        XCTAssertNotEqual(g1, glister.gains(members, logits: z0))
        var r = RandomGenerator(seed: 0)
        let two = try glister.choose(members, size: 2, rng: &r).indices
        let second = g1.indices.filter { $0 != first }.max { g1[$0] < g1[$1] }!
        XCTAssertEqual(two, [first, second].sorted())
    }
}

final class GradMatchTests: XCTestCase {
    func testOMPRecoversAPlantedNonNegativeCombination() throws {
        // Synthetic gradients (unit test only): 3 "anchor" rows and 9 rows made of small noise; the
        // group's total gradient is dominated by the anchors, so OMP must pick them first, the NNLS
        // weights are non-negative, and the weighted sum matches the total closely.
        var rng = RandomGenerator(seed: 21)
        let d = 6
        var rows: [[Double]] = [[3, 0, 0, 1, 0, 0], [0, 4, 0, 0, 1, 0], [0, 0, 5, 0, 0, 1]]
        for _ in 0..<9 { rows.append((0..<d).map { _ in (rng.nextDouble() - 0.5) * 0.01 }) }
        let g = try FeatureMatrix(rows: rows.count, columns: d, values: rows.flatMap { $0 })
        let gm = GradMatch(gradients: g, lambda: 1e-6)
        var r = RandomGenerator(seed: 0)
        let (idx, w) = try gm.choose(Array(0..<12), size: 3, rng: &r)
        XCTAssertEqual(idx, [0, 1, 2])
        XCTAssertTrue(w!.allSatisfy { $0 > 0 })
        var b = [Double](repeating: 0, count: d), approx = b
        for i in 0..<12 { for k in 0..<d { b[k] += rows[i][k] } }
        for (a, i) in idx.enumerated() { for k in 0..<d { approx[k] += w![a] * rows[i][k] } }
        let err = zip(b, approx).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
        XCTAssertLessThan(err, 0.05 * b.reduce(0) { $0 + $1 * $1 }.squareRoot())
        // NNLS: a target outside the cone of two rows gets a zero weight, never a negative one.
        let two = try FeatureMatrix(rows: 2, columns: 2, values: [1, 0, 1, 1])
        let x = GradMatch(gradients: two, lambda: 1e-9).solve([0, 1], [2, -1], nonNegative: true)
        XCTAssertTrue(x.allSatisfy { $0 >= 0 })
        XCTAssertEqual(x[0], 2, accuracy: 1e-6); XCTAssertEqual(x[1], 0)
        let free = GradMatch(gradients: two, lambda: 1e-9).solve([0, 1], [2, -1], nonNegative: false)
        XCTAssertEqual(free[0], 3, accuracy: 1e-6); XCTAssertEqual(free[1], -1, accuracy: 1e-6)
    }
}

extension GradMatchTests {
    /// The incremental-Cholesky OMP picks the same examples, in the same order, and gives the same
    /// NNLS weights as OMP refitted from scratch at every step (random synthetic rows; members a
    /// non-contiguous subset, so the index mapping is exercised).
    func testIncrementalOMPEqualsTheNaiveOne() throws {
        var rng = RandomGenerator(seed: 33)
        let n = 40, d = 8
        let g = try FeatureMatrix(rows: n, columns: d, values: (0..<(n * d)).map { _ in rng.nextDouble() - 0.3 })
        let gm = GradMatch(gradients: g, lambda: 0.5)
        let members = (0..<n).filter { $0 % 3 != 1 }
        func dot(_ i: Int, _ v: [Double]) -> Double { (0..<d).reduce(0) { $0 + g[i, $1] * v[$1] } }
        var b = [Double](repeating: 0, count: d)
        for i in members { for k in 0..<d { b[k] += g[i, k] } }
        var r = b, chosen: [Int] = []
        for _ in 0..<10 {
            chosen.append(members.filter { !chosen.contains($0) }.max { dot($0, r) < dot($1, r) }!)
            let x = gm.solve(chosen, b, nonNegative: false)
            r = b
            for (a, i) in chosen.enumerated() { for k in 0..<d { r[k] -= x[a] * g[i, k] } }
        }
        let w = gm.solve(chosen, b, nonNegative: true)
        let expected = chosen.indices.filter { w[$0] > 0 }.sorted { chosen[$0] < chosen[$1] }
        var rr = RandomGenerator(seed: 0)
        let (idx, weights) = try gm.choose(members, size: 10, rng: &rr)
        XCTAssertEqual(idx, expected.map { chosen[$0] })
        XCTAssertEqual(weights!.count, expected.count)
        for (a, e) in zip(weights!, expected.map { w[$0] }) { XCTAssertEqual(a, e, accuracy: 1e-6 * max(1, abs(e))) }
    }
}

final class WeightedLossTests: XCTestCase {
    func testUnitWeightsGiveTheUnweightedLossAndWeightsActAsRepetition() throws {
        var rng = RandomGenerator(seed: 5)
        let logits = Tensor.normal([6, 4], using: &rng)
        let labels = [0, 3, 1, 2, 2, 0]
        let plain = try AmalgamNN.Loss.crossEntropy(logits: logits, labels: labels).item
        XCTAssertEqual(try AmalgamNN.Loss.crossEntropy(logits: logits, labels: labels, weights: Tensor.ones([6])).item, plain, accuracy: 1e-6)
        // Weight 2 on the first example = that example twice.
        let w = try AmalgamNN.Loss.crossEntropy(logits: logits, labels: labels, weights: Tensor([2, 1, 1, 1, 1, 1])).item
        let rows = logits.scalars
        let twice = Tensor(Array(rows[0..<4]) + rows, shape: [7, 4])
        XCTAssertEqual(w, try AmalgamNN.Loss.crossEntropy(logits: twice, labels: [0] + labels).item, accuracy: 1e-6)
    }
}

extension CoresetTests {
    func testDeepFoolOnALinearClassifierIsTheExactDistanceToTheNearestBoundary() throws {
        var rng = RandomGenerator(seed: 11)
        let model = MLP(inputFeatures: 4, hidden: [], classes: 3, using: &rng)
        let images = Tensor.normal([20, 1, 2, 2], using: &rng)
        let got = try DeepFool.distances(model: model, images: images, batchSize: 7)
        let state = model.stateDict()
        let w = state["layers.1.weight"]!.scalars.map(Double.init), b = state["layers.1.bias"]!.scalars.map(Double.init)
        let x = images.scalars.map(Double.init)
        for i in 0..<20 {
            let f = (0..<3).map { k in (0..<4).reduce(b[k]) { $0 + w[k * 4 + $1] * x[i * 4 + $1] } }
            let kh = f.indices.max { f[$0] < f[$1] }!
            // One DeepFool step crosses the nearest boundary of a linear classifier: ‖r‖ = (|Δf| + 1e-4)/‖Δw‖.
            let expected = (0..<3).filter { $0 != kh }.map { k -> Double in
                let dw2 = (0..<4).reduce(0.0) { $0 + pow(w[k * 4 + $1] - w[kh * 4 + $1], 2) }
                return pow(abs(f[k] - f[kh]) + 1e-4, 2) / dw2
            }.min()!
            XCTAssertEqual(got[i], expected, accuracy: 1e-4 * expected + 1e-7, "example \(i)")
        }
        // A non-linear net: after the attack the prediction has changed for every example.
        let net = MLP(inputFeatures: 4, hidden: [16, 16], classes: 4, using: &rng)
        let d = try DeepFool.distances(model: net, images: images)
        XCTAssertTrue(d.allSatisfy { $0 > 0 && $0.isFinite })
        // Selection keeps the smallest distances (closest to the boundary), per group.
        var r2 = RandomGenerator(seed: 0)
        XCTAssertEqual(try DeepFoolSelection(distances: [3, 1, 2, 0.5, 9]).choose([0, 1, 2, 3, 4], size: 2, rng: &r2).indices, [1, 3])
    }

    func testCalScoresAreTheMeanSymmetricKLToTheNearestNeighboursWithinTheGroup() throws {
        var rng = RandomGenerator(seed: 4)
        let n = 30, k = 4
        let e = try gaussian(n, 3, seed: 8)
        var p: [Double] = []
        for _ in 0..<n { let raw = (0..<k).map { _ in rng.nextDouble() + 0.05 }; let s = raw.reduce(0, +); p += raw.map { $0 / s } }
        let probs = try FeatureMatrix(rows: n, columns: k, values: p)
        let cal = try Cal(embeddings: e, probabilities: probs, neighbours: 3)
        let members = Array(stride(from: 0, to: n, by: 2))   // a group: neighbours only from it
        let chosen = try cal.choose(members, size: 5, rng: &rng).indices
        var brute: [Int: Double] = [:]
        for i in members {
            var dist: [(Double, Int)] = []
            for j in members where j != i {
                var s = 0.0
                for c in 0..<3 { s += (e[i, c] - e[j, c]) * (e[i, c] - e[j, c]) }
                dist.append((s, j))
            }
            dist.sort { $0.0 < $1.0 }
            var total = 0.0
            for (_, j) in dist.prefix(3) {
                for c in 0..<k {
                    let a = probs[i, c], q = probs[j, c]
                    total += 0.5 * a * Foundation.log(a / q) + 0.5 * q * Foundation.log(q / a)
                }
            }
            brute[i] = total / 3
            XCTAssertEqual(cal.scores![i], brute[i]!, accuracy: 1e-9)
        }
        XCTAssertTrue(cal.scores![1].isNaN)   // not in the group
        XCTAssertEqual(chosen, Array(members.sorted { brute[$0]! > brute[$1]! }.prefix(5)).sorted())   // highest = most contrastive
    }

    func testFactorisedLastLayerGramEqualsTheMaterialisedGradients() throws {
        var rng = RandomGenerator(seed: 6)
        let n = 12, k = 4, d = 5
        var p: [Double] = []
        for _ in 0..<n { let raw = (0..<k).map { _ in rng.nextDouble() + 0.1 }; let s = raw.reduce(0, +); p += raw.map { $0 / s } }
        let probs = try FeatureMatrix(rows: n, columns: k, values: p), emb = try gaussian(n, d, seed: 2)
        let labels = (0..<n).map { $0 % k }
        let full = try ExampleScores.lastLayerGradients(probs, embeddings: emb, labels: labels)
        let fact = try LastLayerGradients(probabilities: probs, embeddings: emb, labels: labels)
        let rows = [0, 3, 4, 7, 11]
        for (a, b) in zip(fact.gram(rows: rows), full.gram(rows: rows)) { XCTAssertEqual(a, b, accuracy: 1e-12 * max(1, abs(b))) }
        // Craig on either gives the same selection and weights.
        var r1 = RandomGenerator(seed: 0), r2 = RandomGenerator(seed: 0)
        let c1 = try Craig(gradients: full).choose(Array(0..<n), size: 4, rng: &r1), c2 = try Craig(gradients: fact).choose(Array(0..<n), size: 4, rng: &r2)
        XCTAssertEqual(c1.indices, c2.indices); XCTAssertEqual(c1.weights!, c2.weights!)
    }
}
