import AmalgamGLM
import Foundation
import XCTest

final class CoxTests: XCTestCase {
    struct Golden: Decodable {
        struct Case: Decodable {
            var ties: String, source: String, alpha: Double, l1Ratio: Double, coef: [Double], objective: Double
            var alphaMax: Double?
        }
        var cases: [Case]
    }

    /// lung (R survival, complete cases), standardised features: X, times, events.
    func lung() throws -> (DenseMatrix, [Double], [Double]) {
        let path = Bundle.module.path(forResource: "lung_std", ofType: "csv", inDirectory: "Fixtures")!
        let t = try GLMTable.readCSV(path, targetColumn: 0)
        let (X, events) = t.X.removingColumn(0)
        return (X, t.y, events)
    }

    func value(_ f: Cox, _ z: [Double]) -> Double { z.withUnsafeBufferPointer { f.value($0) } }
    func gradient(_ f: Cox, _ z: [Double]) -> [Double] {
        var g = [Double](repeating: 0, count: z.count)
        z.withUnsafeBufferPointer { zb in g.withUnsafeMutableBufferPointer { f.gradient(zb, into: $0) } }
        return g
    }
    func hessianDiagonal(_ f: Cox, _ z: [Double]) -> [Double] {
        var h = [Double](repeating: 0, count: z.count)
        z.withUnsafeBufferPointer { zb in h.withUnsafeMutableBufferPointer { f.hessianDiagonal(zb, into: $0) } }
        return h
    }

    /// Synthetic (for the unit test only): 12 samples with tie groups of 2 and 3 events, a
    /// censored sample tied with events, and a censored last time.
    let toyTimes: [Double] = [5, 1, 3, 3, 8, 3, 5, 2, 9, 8, 3, 10]
    let toyEvents: [Double] = [1, 1, 1, 1, 0, 1, 1, 0, 1, 1, 0, 0]

    func testGradientMatchesFiniteDifferencesAndHessianDiagonalMajorisesTheHessian() throws {
        let (X, times, events) = try lung()
        let w = [0.1, -0.3, 0.5, 0.2, -0.2, 0.05, -0.1]
        let zLung = X.multiply(w)
        let zToy = (0..<toyTimes.count).map { 0.7 * sin(Double($0) * 1.3) }
        for ties in Cox.Ties.allCases {
            for (t, s, z) in [(times, events, zLung), (toyTimes, toyEvents, zToy)] {
                var f = Cox(events: s, ties: ties)
                try f.prepare(targets: t)
                let g = gradient(f, z), h = hessianDiagonal(f, z)
                let eps = 1e-5
                for i in 0..<z.count {
                    var zp = z, zm = z
                    zp[i] += eps; zm[i] -= eps
                    XCTAssertEqual(g[i], (value(f, zp) - value(f, zm)) / (2 * eps), accuracy: 1e-9, "\(ties) ∂F/∂z_\(i)")
                    // The true curvature along e_i is ≤ the majorant's.
                    let hii = (gradient(f, zp)[i] - gradient(f, zm)[i]) / (2 * eps)
                    XCTAssertLessThanOrEqual(hii, h[i] + 1e-9, "\(ties) H_ii ≤ majorant at \(i)")
                    XCTAssertGreaterThan(hii, 0)
                }
                // dᵀ∇²F d ≤ dᵀ diag(h) d for arbitrary directions, with a strict gap (the bound drops a
                // positive term), so the test would notice a majorant that is the exact diagonal of
                // a different matrix.
                for k in 0..<5 {
                    let d = (0..<z.count).map { cos(Double($0 * (k + 2)) + Double(k)) }
                    let zp = zip(z, d).map { $0 + eps * $1 }, zm = zip(z, d).map { $0 - eps * $1 }
                    let hd = zip(gradient(f, zp), gradient(f, zm)).map { ($0 - $1) / (2 * eps) }
                    let curvature = zip(d, hd).reduce(0) { $0 + $1.0 * $1.1 }
                    let bound = zip(d, h).reduce(0) { $0 + $1.0 * $1.0 * $1.1 }
                    XCTAssertLessThan(curvature, bound, "\(ties) majorant, direction \(k)")
                }
                // Invariance to a shift of z, and Σ ∇F = 0 (why there is no intercept).
                XCTAssertEqual(value(f, z.map { $0 + 3 }), value(f, z), accuracy: 1e-12)
                XCTAssertEqual(g.reduce(0, +), 0, accuracy: 1e-14)
            }
        }
        // Without ties Breslow and Efron coincide; with ties they differ.
        let distinct = (0..<toyTimes.count).map { Double($0 * 7 % 12) }
        var b = Cox(events: toyEvents, ties: .breslow), e = Cox(events: toyEvents, ties: .efron)
        try b.prepare(targets: distinct); try e.prepare(targets: distinct)
        XCTAssertEqual(value(b, zToy), value(e, zToy), accuracy: 1e-15)
        try b.prepare(targets: toyTimes); try e.prepare(targets: toyTimes)
        XCTAssertGreaterThan(abs(value(b, zToy) - value(e, zToy)), 1e-3)
    }

    func testSolutionsMatchRCoxphAndSkglm() throws {
        let (X, times, events) = try lung()
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        let url = Bundle.module.url(forResource: "cox_golden", withExtension: "json", subdirectory: "Fixtures")!
        let cases = try d.decode(Golden.self, from: Data(contentsOf: url)).cases
        XCTAssertEqual(cases.count, 10)
        // The same table as CSC.
        let sparse = SparseMatrix(X)
        for c in cases {
            let ties = Cox.Ties(rawValue: c.ties)!
            if let amax = c.alphaMax {
                XCTAssertEqual(try CoxEstimator.alphaMax(X, times: times, events: events, ties: ties, l1Ratio: c.l1Ratio), amax, accuracy: 1e-12 * amax)
            }
            for (name, m) in [("dense", try CoxEstimator(alpha: c.alpha, l1Ratio: c.l1Ratio, ties: ties, tol: 1e-11).fit(X, times: times, events: events)),
                              ("sparse", try CoxEstimator(alpha: c.alpha, l1Ratio: c.l1Ratio, ties: ties, tol: 1e-11).fit(sparse, times: times, events: events))] {
                let label = "\(c.ties) α=\(c.alpha) ρ=\(c.l1Ratio) \(name) vs \(c.source)"
                XCTAssertTrue(m.converged, label + " stop \(m.stopCrit) iters \(m.nIter)")
                for (a, b) in zip(m.coef, c.coef) { XCTAssertEqual(a, b, accuracy: 1e-6, label) }
                XCTAssertEqual(m.objective, c.objective, accuracy: 1e-8 * c.objective, label)
                XCTAssertEqual(m.coef.filter { $0 == 0 }.count, c.coef.filter { $0 == 0 }.count, label)
            }
        }
        // α ≥ α_max: all zero.
        let amax = try CoxEstimator.alphaMax(X, times: times, events: events)
        XCTAssertEqual(try CoxEstimator(alpha: amax * 1.0001).fit(X, times: times, events: events).coef, [Double](repeating: 0, count: 7))
        XCTAssertNotEqual(try CoxEstimator(alpha: amax * 0.9).fit(X, times: times, events: events).coef.filter { $0 != 0 }.count, 0)
    }

    func testProxNewtonWithAPerFeaturePenaltyAgreesWithAndersonCD() throws {
        // ProxNewton's line search evaluates the penalty on the whole coefficient vector, so a
        // per-feature penalty (WeightedL1, weights varying by feature and one 0) is measured at
        // the right features.
        let path = Bundle.module.path(forResource: "breast_cancer_std", ofType: "csv", inDirectory: "Fixtures")!
        let t = try GLMTable.readCSV(path)
        let y = try SparseLogisticRegression.signedLabels(t.y).labels
        let weights = (0..<t.X.columnCount).map { $0 == 3 ? 0 : 0.5 + Double($0 % 4) }
        let pen = WeightedL1(alpha: 0.01, weights: weights)
        let a = try AndersonCD(tol: 1e-10, maxIter: 1000).solve(t.X, y, datafit: Logistic(), penalty: pen)
        let b = try ProxNewton(tol: 1e-10, maxIter: 100).solve(t.X, y, datafit: Logistic(), penalty: pen)
        XCTAssertTrue(a.converged && b.converged)
        for (u, v) in zip(a.coef, b.coef) { XCTAssertEqual(u, v, accuracy: 1e-6) }
        XCTAssertEqual(a.objective, b.objective, accuracy: 1e-10)
    }

    func testBadInputGivesClearErrors() throws {
        let (X, times, events) = try lung()
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "no error" } catch { return "\(error)" }
        }
        XCTAssertTrue(message { try CoxEstimator().fit(X, times: times, events: events.map { $0 * 2 }) }.contains("must be 0 (censored) or 1"))
        XCTAssertTrue(message { try CoxEstimator().fit(X, times: times, events: events.map { _ in 0 }) }.contains("every observation is censored"))
        XCTAssertTrue(message { try CoxEstimator().fit(X, times: times, events: Array(events.dropLast())) }.contains("event indicators for"))
        var badTimes = times; badTimes[3] = .nan
        XCTAssertTrue(message { try CoxEstimator().fit(X, times: badTimes, events: events) }.contains("target 3"))
        XCTAssertTrue(message { try CoxEstimator(alpha: -1).fit(X, times: times, events: events) }.contains("alpha"))
        XCTAssertTrue(message { _ = try ProxNewton(fitIntercept: true).solve(X, times, datafit: Cox(events: events), penalty: L1(alpha: 0.01)) }.contains("without an intercept"))
    }
}
