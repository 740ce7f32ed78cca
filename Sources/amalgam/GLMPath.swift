import AmalgamGLM
import ArgumentParser
import Foundation

/// `amalgam glm path`: a warm-started regularisation path.
struct GLMPathCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "path", abstract: "Fit a regularisation path from α_max down, with warm starts.")
    @OptionGroup var options: GLMOptions
    @Option(help: "Number of α values (log-spaced from α_max to eps·α_max).") var nAlphas = 100
    @Option(help: "Smallest α as a fraction of α_max.") var eps = 1e-3
    @Option(help: "Explicit comma-separated α values (instead of the grid).") var alphas: String?

    func run() throws {
        try runReportingErrors(options.common.start()) {
            guard nAlphas >= 1, eps > 0, eps < 1 else { throw GLMError.invalidArgument("--n-alphas must be ≥ 1 and --eps in (0, 1)") }
            let given: [Double]? = try alphas.map { list in
                try list.split(separator: ",").map {
                    guard let v = Double($0.trimmingCharacters(in: .whitespaces)), v >= 0, v.isFinite else { throw GLMError.invalidArgument("--alphas: '\($0)' is not a non-negative number") }
                    return v
                }
            }
            let (spec, problem, _, names, _) = try options.problem()
            let start = DispatchTime.now().uptimeNanoseconds
            let p = try problem.path(given, nAlphas, eps)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            try options.write(GLMPathReport(p, seconds: seconds, specification: spec, featureNames: names))
        }
    }
}
