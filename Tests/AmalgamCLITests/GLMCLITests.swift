import Foundation
import XCTest

/// `amalgam glm` end to end on the committed real tables.
final class GLMCLITests: XCTestCase {
    let cli = CLIRunner()
    var fixtures: String { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path + "/AmalgamGLMTests/Fixtures" }

    func json(_ s: String) throws -> [String: Any] { try JSONSerialization.jsonObject(with: Data(s.utf8)) as! [String: Any] }

    func testFitMatchesScikitLearnGolden() throws {
        let golden = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixtures + "/glm_golden.json"))) as! [String: Any]
        let c = (golden["cases"] as! [[String: Any]]).first { $0["table"] as? String == "diabetes" && $0["estimator"] as? String == "lasso" && $0["fit_intercept"] as? Bool == true }!
        let r = try cli.run(["glm", "fit", "--data", fixtures + "/diabetes.csv", "--alpha", "\(c["alpha"] as! Double)", "--tol", "1e-12", "--max-iter", "1000"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = try json(r.stdout)
        for (a, b) in zip(out["coef"] as! [Double], c["coef"] as! [Double]) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        XCTAssertEqual(out["intercept"] as! Double, c["intercept"] as! Double, accuracy: 1e-6)
        XCTAssertLessThanOrEqual(out["stop_crit"] as! Double, 1e-12)
        for key in ["objective", "n_iter", "seconds", "alpha_max"] { XCTAssertNotNil(out[key], key) }

        let l = try cli.run(["glm", "fit", "--data", fixtures + "/heart_scale.libsvm", "--datafit", "logistic", "--alpha-ratio", "0.1", "--no-intercept"])
        XCTAssertEqual(l.status, 0, l.stderr)
        XCTAssertEqual(try json(l.stdout)["intercept"] as! Double, 0)

        let cv = try cli.run(["glm", "fit", "--data", fixtures + "/diabetes.csv", "--cv", "5", "--tol", "1e-10", "--max-iter", "1000"])
        XCTAssertEqual(cv.status, 0, cv.stderr)
        XCTAssertEqual(try json(cv.stdout)["alpha"] as! Double, 0.003753767152691846, accuracy: 1e-12)   // scikit-learn's LassoCV
        let both = try cli.run(["glm", "fit", "--data", fixtures + "/diabetes.csv", "--cv", "5", "--alpha", "1"])
        XCTAssertNotEqual(both.status, 0); XCTAssertTrue(both.stderr.contains("exactly one"), both.stderr)

        // The group lasso (skglm's GroupLasso value, see SolverTests.testGroupLassoMatchesSkglm).
        let g = try cli.run(["glm", "fit", "--data", fixtures + "/diabetes.csv", "--penalty", "group-lasso", "--groups", "0,1;2,3,4;5,6,7;8,9",
                             "--alpha", "0.17690113034551785", "--tol", "1e-12"])
        XCTAssertEqual(g.status, 0, g.stderr)
        XCTAssertEqual((try json(g.stdout)["coef"] as! [Double])[2], 502.03546410094134, accuracy: 1e-6)
        let ng = try cli.run(["glm", "fit", "--data", fixtures + "/diabetes.csv", "--penalty", "group-lasso", "--alpha", "1"])
        XCTAssertEqual(ng.status, 1); XCTAssertTrue(ng.stderr.contains("--groups"), ng.stderr)
        let bg = try cli.run(["glm", "fit", "--data", fixtures + "/diabetes.csv", "--penalty", "sparse-group", "--groups", "0,1;2,99", "--alpha", "1"])
        XCTAssertEqual(bg.status, 1); XCTAssertTrue(bg.stderr.contains("'99'"), bg.stderr)

        let p = try cli.run(["glm", "path", "--data", fixtures + "/prostate.csv", "--penalty", "mcp", "--n-alphas", "4"])
        XCTAssertEqual(p.status, 0, p.stderr)
        let path = try json(p.stdout)
        XCTAssertEqual((path["alphas"] as! [Double]).count, 4)
        XCTAssertTrue((path["coefs"] as! [[Double]])[0].allSatisfy { $0 == 0 })
    }

    func testCoxSlopeLogSumAndGroupPathsAndCrossValidation() throws {
        // Cox on lung (time column 0, event column 1): the golden R coxph fit at α = 0 (Efron).
        let golden = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixtures + "/cox_golden.json"))) as! [String: Any]
        let cases = golden["cases"] as! [[String: Any]]
        let efron0 = cases.first { $0["ties"] as! String == "efron" && $0["alpha"] as! Double == 0 }!
        let c = try cli.run(["glm", "fit", "--data", fixtures + "/lung_std.csv", "--target-column", "0", "--event-column", "1",
                             "--datafit", "cox", "--alpha", "0", "--tol", "1e-10"])
        XCTAssertEqual(c.status, 0, c.stderr)
        let cj = try json(c.stdout)
        for (a, b) in zip(cj["coef"] as! [Double], efron0["coef"] as! [Double]) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        XCTAssertEqual(cj["intercept"] as! Double, 0)
        XCTAssertEqual((cj["coef"] as! [Double]).count, 7)
        // Breslow, L1 at the golden α, and the path from α_max.
        let bres = cases.first { $0["ties"] as! String == "breslow" && $0["l1_ratio"] as! Double == 1 && $0["alpha"] as! Double > 0 }!
        let cb = try cli.run(["glm", "fit", "--data", fixtures + "/lung_std.csv", "--target-column", "0", "--event-column", "1", "--datafit", "cox",
                              "--ties", "breslow", "--alpha", "\(bres["alpha"] as! Double)", "--tol", "1e-10"])
        XCTAssertEqual(cb.status, 0, cb.stderr)
        for (a, b) in zip(try json(cb.stdout)["coef"] as! [Double], bres["coef"] as! [Double]) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        let cp = try cli.run(["glm", "path", "--data", fixtures + "/lung_std.csv", "--target-column", "0", "--event-column", "1", "--datafit", "cox", "--n-alphas", "5"])
        XCTAssertEqual(cp.status, 0, cp.stderr)
        XCTAssertLessThan((try json(cp.stdout)["coefs"] as! [[Double]])[0].map(abs).max()!, 1e-9)
        let noEvents = try cli.run(["glm", "fit", "--data", fixtures + "/lung_std.csv", "--target-column", "0", "--datafit", "cox", "--alpha", "0.1"])
        XCTAssertNotEqual(noEvents.status, 0); XCTAssertTrue(noEvents.stderr.contains("--event-column"), noEvents.stderr)
        let sameColumn = try cli.run(["glm", "fit", "--data", fixtures + "/lung_std.csv", "--target-column", "0", "--event-column", "0", "--datafit", "cox", "--alpha", "0.1"])
        XCTAssertEqual(sameColumn.status, 1); XCTAssertTrue(sameColumn.stderr.contains("another column"), sameColumn.stderr)
        let coxCV = try cli.run(["glm", "fit", "--data", fixtures + "/lung_std.csv", "--target-column", "0", "--event-column", "1", "--datafit", "cox", "--cv", "3"])
        XCTAssertEqual(coxCV.status, 1); XCTAssertTrue(coxCV.stderr.contains("--cv is not available"), coxCV.stderr)
        let coxGroup = try cli.run(["glm", "fit", "--data", fixtures + "/lung_std.csv", "--target-column", "0", "--event-column", "1", "--datafit", "cox",
                                    "--penalty", "slope", "--alpha", "0.1"])
        XCTAssertEqual(coxGroup.status, 1); XCTAssertTrue(coxGroup.stderr.contains("not available with --datafit cox"), coxGroup.stderr)

        // SLOPE: α_max gives zeros; the default grid's path and CV run.
        let s0 = try cli.run(["glm", "fit", "--data", fixtures + "/prostate.csv", "--penalty", "slope", "--alpha-ratio", "1.0001", "--tol", "1e-8"])
        XCTAssertEqual(s0.status, 0, s0.stderr)
        XCTAssertEqual(try json(s0.stdout)["n_nonzero"] as! Int, 0)
        let sp = try cli.run(["glm", "path", "--data", fixtures + "/prostate.csv", "--penalty", "slope", "--n-alphas", "4", "--eps", "0.1"])
        XCTAssertEqual(sp.status, 0, sp.stderr)
        XCTAssertGreaterThan((try json(sp.stdout)["coefs"] as! [[Double]])[3].filter { $0 != 0 }.count, 0)
        // LogSum fit equals the skglm value of SolverTests.testLogSumMatchesSkglmAndL2MatchesTheRidgeClosedForm.
        let ls = try cli.run(["glm", "fit", "--data", fixtures + "/prostate.csv", "--penalty", "logsum", "--alpha", "0.08434274356574895", "--tol", "1e-12", "--max-iter", "1000"])
        XCTAssertEqual(ls.status, 0, ls.stderr)
        XCTAssertEqual((try json(ls.stdout)["coef"] as! [Double])[0], 0.6344002271837519, accuracy: 1e-6)
        // Group lasso: cross-validation with singleton groups chooses LassoCV's α on diabetes.
        let gcv = try cli.run(["glm", "fit", "--data", fixtures + "/diabetes.csv", "--penalty", "group-lasso", "--groups", "0;1;2;3;4;5;6;7;8;9",
                               "--cv", "5", "--tol", "1e-10"])
        XCTAssertEqual(gcv.status, 0, gcv.stderr)
        XCTAssertEqual(try json(gcv.stdout)["alpha"] as! Double, 0.003753767152691846, accuracy: 1e-12)   // scikit-learn's LassoCV
        let gp = try cli.run(["glm", "path", "--data", fixtures + "/diabetes.csv", "--penalty", "sparse-group", "--groups", "0,1;2,3,4;5,6,7;8,9",
                              "--alphas", "1,0.3,0.1"])
        XCTAssertEqual(gp.status, 0, gp.stderr)
        XCTAssertEqual((try json(gp.stdout)["coefs"] as! [[Double]]).count, 3)
        // Poisson through ProxNewton with cross-validation.
        let pois = try cli.run(["glm", "fit", "--data", fixtures + "/diabetes.csv", "--datafit", "poisson", "--cv", "3"])
        XCTAssertEqual(pois.status, 0, pois.stderr)
        XCTAssertGreaterThan(try json(pois.stdout)["n_nonzero"] as! Int, 0)
    }

    func testBadInputIsReportedClearly() throws {
        let neg = try cli.run(["glm", "fit", "--data", fixtures + "/diabetes.csv", "--alpha=-1"])
        XCTAssertNotEqual(neg.status, 0); XCTAssertTrue(neg.stderr.contains("--alpha"), neg.stderr)
        let dir = cli.tempDir()
        let bad = dir + "/bad.svm"
        try "1 1:0.5\n-1 2:oops\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let m = try cli.run(["glm", "fit", "--data", bad, "--alpha", "0.1"])
        XCTAssertEqual(m.status, 1); XCTAssertTrue(m.stderr.contains("bad.svm:2"), m.stderr)
        let empty = dir + "/empty.csv"
        try "".write(toFile: empty, atomically: true, encoding: .utf8)
        let e = try cli.run(["glm", "fit", "--data", empty, "--alpha", "0.1"])
        XCTAssertEqual(e.status, 1); XCTAssertTrue(e.stderr.contains("empty"), e.stderr)
        let u = try cli.run(["glm", "fit", "--data", empty, "--penalty", "lasso9", "--alpha", "0.1"])
        XCTAssertNotEqual(u.status, 0); XCTAssertTrue(u.stderr.contains("lasso9") && u.stderr.contains("elastic-net"), u.stderr)
        try? FileManager.default.removeItem(atPath: dir)
    }
}
