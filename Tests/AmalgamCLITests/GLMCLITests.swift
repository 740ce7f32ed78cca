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
