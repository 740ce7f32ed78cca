import AmalgamGLM
import ArgumentParser
import Foundation

/// `amalgam glm fit`: one model at α, at α_max × ratio, or at the α K-fold cross-validation picks.
struct GLMFitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "fit", abstract: "Fit one model; writes coef, intercept, objective, stop_crit, n_iter, seconds.")
    @OptionGroup var options: GLMOptions
    @Option(help: "Regularisation strength α.") var alpha: Double?
    @Option(help: "α as a fraction of α_max (instead of --alpha).") var alphaRatio: Double?
    @Option(help: "Choose α by K-fold cross-validation over 100 values from α_max to α_max/1000 (instead of --alpha).") var cv: Int?

    func validate() throws {
        guard [alpha != nil, alphaRatio != nil, cv != nil].filter({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --alpha, --alpha-ratio and --cv")
        }
        if let cv, cv < 2 { throw ValidationError("--cv needs at least 2 folds") }
        if let alpha, !(alpha >= 0 && alpha.isFinite) { throw ValidationError("--alpha must be ≥ 0, got \(alpha)") }
        if let alphaRatio, !(alphaRatio > 0 && alphaRatio.isFinite) { throw ValidationError("--alpha-ratio must be positive") }
    }

    func run() throws {
        try runReportingErrors(options.common.start()) {
            let (spec, problem, shape, names, classes) = try options.problem()
            let amax = try problem.alphaMax()
            let a: Double
            var cvResult: CrossValidation? = nil
            if let cv {
                guard let crossValidate = problem.crossValidate else {
                    throw GLMError.invalidArgument("--cv is not available for --datafit \(spec.datafit.rawValue) --penalty \(spec.penalty.rawValue); give --alpha or --alpha-ratio")
                }
                guard amax != nil else { throw GLMError.invalidArgument("--cv needs α_max, which --penalty \(spec.penalty.rawValue) does not define; use `glm path --alphas`") }
                cvResult = try crossValidate(cv, 100, 1e-3)
                a = cvResult!.bestAlpha
            } else if let alpha { a = alpha } else {
                guard let amax else { throw GLMError.invalidArgument("--alpha-ratio: --penalty \(spec.penalty.rawValue) has no α_max here; give --alpha") }
                a = amax * alphaRatio!
            }
            let start = DispatchTime.now().uptimeNanoseconds
            let s = try problem.fit(a)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            try options.write(GLMFitReport(s, alpha: a, alphaMax: amax, seconds: seconds, shape: shape, specification: spec, crossValidation: cvResult, folds: cv, featureNames: names, classes: classes))
        }
    }
}
