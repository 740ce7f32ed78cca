// amalgam-bench: the Amalgam side of the side-by-side benchmark (scripts/bench/run.py).
//
//   amalgam-bench WORKLOAD [--threads N] [--seconds S]
//
// Prints one JSON line: {"side", "workload", "threads", "value", "unit", "peak_rss_mb"}.
// Training workloads report optimisation steps per second (forward, backward, SGD step) on random
// inputs of the real shapes; `cnn-epoch` reports the wall time of one Fashion-MNIST epoch.
import AmalgamCore
import AmalgamDiffusion
import AmalgamData
import AmalgamFormats
import AmalgamGLM
import AmalgamNN
import AmalgamMoE
import COpenBLAS
import Foundation

var args = Array(CommandLine.arguments.dropFirst())
guard let workload = args.first else {
    FileHandle.standardError.write(Data("usage: amalgam-bench WORKLOAD [--threads N] [--seconds S]\n".utf8))
    exit(2)
}
func option(_ name: String, _ fallback: Double) -> Double {
    if let i = args.firstIndex(of: name), i + 1 < args.count, let v = Double(args[i + 1]) { return v }
    return fallback
}
let threads = Int(option("--threads", 2))
let seconds = option("--seconds", 3)
Threading.setThreads(threads)
Threading.kernelWorkers = threads
if ProcessInfo.processInfo.environment["AMALGAM_BENCH_NO_FUSION"] != nil { Sequential.fusesConvolutionReLU = false }

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

/// Runs `body` repeatedly for about `seconds` after `warmup` calls; returns calls per second.
func rate(warmup: Int = 3, _ body: () throws -> Void) rethrows -> Double {
    for _ in 0..<warmup { try body() }
    var n = 0
    let start = now()
    while now() - start < seconds || n < 3 { try body(); n += 1 }
    return Double(n) / (now() - start)
}

func trainStepRate(_ model: Module, input: [Int], classes: Int, batch: Int) throws -> Double {
    var rng = RandomGenerator(seed: 1)
    let x = Tensor.normal([batch] + input, using: &rng)
    let labels = (0..<batch).map { $0 % classes }
    let opt = SGD(learningRate: 0.01)
    return try rate {
        let (_, grads) = try valueAndGrad(model) { m in try Loss.crossEntropy(logits: m(x), labels: labels) }
        opt.update(model, gradients: grads)
    }
}

func gemmRate(_ n: Int, direct: Bool) -> Double {
    var rng = RandomGenerator(seed: 1)
    let a = Tensor.normal([n, n], using: &rng), b = Tensor.normal([n, n], using: &rng)
    var c = [Float](repeating: 0, count: n * n)
    let calls = rate {
        if direct {
            a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, pa.baseAddress, Int32(n), pb.baseAddress, Int32(n), 0, &c, Int32(n))
            } }
        } else {
            _ = a.matmul(b)
        }
    }
    return calls * 2 * Double(n * n * n) / 1e9
}

var rng = RandomGenerator(seed: 0)
let value: Double, unit: String
switch workload {
case "sgemm512": (value, unit) = (gemmRate(512, direct: false), "GFLOP/s")
case "sgemm1024": (value, unit) = (gemmRate(1024, direct: false), "GFLOP/s")
case "blas512": (value, unit) = (gemmRate(512, direct: true), "GFLOP/s")
case "blas1024": (value, unit) = (gemmRate(1024, direct: true), "GFLOP/s")
case "mlp": (value, unit) = (try trainStepRate(MLP(inputFeatures: 784, classes: 10, using: &rng), input: [784], classes: 10, batch: 128), "steps/s")
case "cnn": (value, unit) = (try trainStepRate(SmallCNN(dropout: false, using: &rng), input: [1, 28, 28], classes: 10, batch: 128), "steps/s")
case "resnet20": (value, unit) = (try trainStepRate(ResNet(using: &rng), input: [1, 28, 28], classes: 10, batch: 128), "steps/s")
case "tiny": (value, unit) = (try trainStepRate(MLP(inputFeatures: 2, hidden: [16], classes: 1, using: &rng), input: [2], classes: 1, batch: 8), "steps/s")
case "se-resnet20": (value, unit) = (try trainStepRate(SEResNet20(using: &rng), input: [1, 28, 28], classes: 10, batch: 128), "steps/s")
case "dw-separable": (value, unit) = (try trainStepRate(DepthwiseSeparable(using: &rng), input: [64, 28, 28], classes: 10, batch: 64), "steps/s")
case "conv1d-stack": (value, unit) = (try trainStepRate(ConvStack1d(using: &rng), input: [64, 1, 4096], classes: 10, batch: 8), "steps/s")
case "fastdiff-step", "fastdiff-train":
    // FastDiff's denoiser at the paper's size (32 channels, 15.3 M parameters). fastdiff-step:
    // one denoising step (inference, no tape) on 1 s of 22,050 Hz audio (86 mel frames);
    // a 4-step vocoding of 1 s costs 4 of these plus nothing else. fastdiff-train: one AdamW
    // step on 4 segments of 32 frames (the study's batch), ε-prediction MSE.
    let model = try FastDiffModel(config: FastDiffConfig(), seed: 0)
    let train = workload == "fastdiff-train"
    let (b, frames) = train ? (4, 32) : (1, 86)
    let x = Tensor.normal([b, 1, frames * 256], using: &rng), mel = Tensor.normal([b, 80, frames], using: &rng)
    let steps = Tensor((0..<b).map { Float(100 + 200 * $0) })
    let inputs = Inputs(x, ["mel": mel, "step": steps])
    if train {
        let opt = Adam(learningRate: 2e-4, decoupled: true)
        value = try rate {
            let (_, grads) = try valueAndGrad(model) { m in try (m(inputs) - x).squared().mean() }
            opt.update(model, gradients: grads)
        }
    } else {
        model.eval()
        value = try rate { _ = try withoutGradients { try model(inputs) } }
    }
    unit = "steps/s"
case "moe":
    // 2,048 tokens through the MoE layer, loss = mean square of the output: forward + backward + SGD.
    let layer = SwitchMoEProxy(using: &rng)
    let x = Tensor.normal([2048, 256], using: &rng)
    let opt = SGD(learningRate: 0.01)
    value = try rate {
        let (_, grads) = try valueAndGrad(layer) { l in try l(x).squared().mean() }
        opt.update(layer, gradients: grads)
    }
    unit = "steps/s"
case "moe-layer", "ffn":
    // AmalgamMoE's layer (Switch router, 8 experts 256 → 1,024 → 256, no capacity limit, its
    // balance loss added) against one dense FFN of the same width — equal active parameters per
    // token — on 2,048 tokens: forward + backward + SGD.
    let x = Tensor.normal([2048, 256], using: &rng)
    let opt = SGD(learningRate: 0.01)
    if workload == "ffn" {
        let ffn = FeedForward(256, 1024, using: &rng)
        value = try rate {
            let (_, grads) = try valueAndGrad(ffn) { l in try l(x).squared().mean() }
            opt.update(ffn, gradients: grads)
        }
    } else {
        let layer = try AmalgamMoE.MoELayer(router: SwitchRouter(dimension: 256, experts: 8, using: &rng),
                                            experts: (0..<8).map { _ in FeedForward(256, 1024, using: &rng) }, capacityFactor: nil)
        value = try rate {
            let (_, grads) = try valueAndGrad(layer) { l in try l(x).squared().mean() + l.auxiliaryLoss! }
            opt.update(layer, gradients: grads)
        }
    }
    unit = "steps/s"
case "cnn-epoch", "resnet20-epoch":
    var train = try FashionMNIST.load(split: .train)
    let (mean, std) = train.channelStatistics()
    train = train.normalized(mean: mean, std: std)
    let model: Module = workload == "cnn-epoch" ? SmallCNN(dropout: false, using: &rng) : ResNet(using: &rng)
    let trainer = Trainer(model: model, optimizer: SGD(learningRate: 0.01, momentum: 0.9))
    let loader = DataLoader(train, batchSize: 128, shuffle: true, seed: 0)
    let start = now()
    _ = try trainer.fit(steps: loader.batchCount, batchesPerEpoch: loader.batchCount, train: { loader.batches(epoch: $0) }, test: { [Batch]() }, evaluation: .never)
    (value, unit) = (now() - start, "s")
case "embed":
    // Sentences per second of SentenceEncoder.embed (batch 32) on the lines of --input.
    guard let i = args.firstIndex(of: "--input"), i + 1 < args.count,
          let text = try? String(contentsOfFile: args[i + 1], encoding: .utf8) else {
        FileHandle.standardError.write(Data("embed needs --input FILE (one sentence per line)\n".utf8)); exit(2)
    }
    let sentences = text.split(separator: "\n").map(String.init)
    let encoder = try SentenceEncoder()
    _ = try encoder.embed(Array(sentences.prefix(64)))
    let start = now()
    _ = try encoder.embed(sentences, batchSize: 32)
    (value, unit) = (Double(sentences.count) / (now() - start), "sentences/s")
case "bert-layer":
    // One BERT encoder layer (hidden 384, 12 heads, FFN 1536), sequence 128, batch 8: forward + backward + SGD.
    var c = BertConfig()
    c.hiddenSize = 384; c.numAttentionHeads = 12; c.intermediateSize = 1536; c.hiddenDropoutProb = 0; c.attentionProbsDropoutProb = 0
    let layer = BertLayer(c, using: &rng)
    let x = Tensor.normal([8, 128, 384], using: &rng)
    let opt = SGD(learningRate: 0.01)
    value = try rate {
        let (_, grads) = try valueAndGrad(layer) { l in try l(x, maskBias: nil).squared().mean() }
        opt.update(layer, gradients: grads)
    }
    unit = "steps/s"
case "glm":
    // amalgam-bench glm --data FILE (.csv or .svm) --estimator lasso|enet|mcp|logreg --alpha-ratio R [--tol T] [--repeat N] [--coef FILE]
    // Prints the first call's and the median warm call's seconds, the reached violation and the support size;
    // --coef writes the solution ({"coef": [...], "intercept": b}, every digit) for the caller to check.
    func text(_ name: String) -> String? { args.firstIndex(of: name).flatMap { $0 + 1 < args.count ? args[$0 + 1] : nil } }
    guard let path = text("--data"), let est = text("--estimator") else {
        FileHandle.standardError.write(Data("glm needs --data FILE --estimator lasso|enet|mcp|logreg\n".utf8)); exit(2)
    }
    let ratio = option("--alpha-ratio", 0.1), tol = option("--tol", 1e-6), repeats = Int(option("--repeat", 5))
    // --precompute auto|always|never: the least-squares estimators' choice of GramCD (default auto, as Lasso() makes it).
    guard let precompute = Precompute(rawValue: text("--precompute") ?? "auto") else {
        FileHandle.standardError.write(Data("--precompute must be auto, always or never\n".utf8)); exit(2)
    }
    var usedGram = false
    func bench<X: DesignMatrix>(_ X: X, _ y: [Double]) throws -> (first: Double, median: Double, stop: Double, nnz: Int, objective: Double, solution: GLMSolution) {
        let options = FitOptions(tol: tol, maxIter: 1000, precompute: precompute)   // what Lasso(options:) solves with
        func leastSquares<P: Penalty>(_ penalty: P) throws -> GLMSolution {
            let fitted = try options.solveLeastSquares(X, y, penalty: penalty)
            usedGram = fitted.usedGram
            return fitted.solution
        }
        // α_max is computed once, outside the timed fits (as the Python side does).
        let amax = try Lasso.alphaMax(X, y)
        let labels = est == "logreg" ? try SparseLogisticRegression.signedLabels(y).labels : y
        let amaxLog = est == "logreg" ? L1(alpha: 0).alphaMax(gradientAtZero: try gradientAtZero(X, labels, datafit: Logistic(), fitIntercept: true))! : 0
        func once() throws -> (Double, GLMSolution) {
            let start = now()
            let sol: GLMSolution
            switch est {
            case "lasso": sol = try leastSquares(L1(alpha: amax * ratio))
            case "enet": sol = try leastSquares(L1L2(alpha: amax / 0.5 * ratio, l1Ratio: 0.5))
            case "mcp": sol = try leastSquares(MCP(alpha: amax * ratio, gamma: 3))
            case "logreg": sol = try ProxNewton(tol: tol, maxIter: 1000).solve(X, labels, datafit: Logistic(), penalty: L1(alpha: amaxLog * ratio))
            default: FileHandle.standardError.write(Data("unknown estimator \(est)\n".utf8)); exit(2)
            }
            return (now() - start, sol)
        }
        let (first, sol) = try once()
        var times: [Double] = []
        for _ in 0..<repeats { times.append(try once().0) }
        times.sort()
        return (first, times.isEmpty ? first : times[times.count / 2], sol.stopCrit, sol.coef.filter { $0 != 0 }.count, sol.objective, sol)
    }
    let r: (first: Double, median: Double, stop: Double, nnz: Int, objective: Double, solution: GLMSolution)
    if path.hasSuffix(".svm") || path.hasSuffix(".libsvm") { let t = try GLMTable.readLIBSVM(path); r = try bench(t.X, t.y) } else { let t = try GLMTable.readCSV(path); r = try bench(t.X, t.y) }
    if let coefPath = text("--coef") {
        let digits = { (v: Double) in String(format: "%.17g", v) }
        let json = "{\"coef\": [" + r.solution.coef.map(digits).joined(separator: ", ") + "], \"intercept\": " + digits(r.solution.intercept) + "}\n"
        try json.write(toFile: coefPath, atomically: true, encoding: .utf8)
    }
    print(String(format: "{\"side\": \"amalgam\", \"workload\": \"glm\", \"estimator\": \"%@\", \"solver\": \"%@\", \"alpha_ratio\": %g, \"first_seconds\": %.6g, \"seconds\": %.6g, \"stop_crit\": %.3g, \"nnz\": %d, \"objective\": %.17g, \"converged\": %@, \"outer_iterations\": %d, \"epochs\": %d}",
                 est, est == "logreg" ? "prox-newton" : (usedGram ? "gram-cd" : "anderson-cd"), ratio, r.first, r.median, r.stop, r.nnz, r.objective, r.solution.converged ? "true" : "false", r.solution.nIter, r.solution.epochs))
    exit(0)
default:
    FileHandle.standardError.write(Data("unknown workload \(workload)\n".utf8))
    exit(2)
}
var usage = rusage()
getrusage(RUSAGE_SELF.rawValue, &usage)
print(String(format: "{\"side\": \"amalgam\", \"backend\": \"%@\", \"workload\": \"%@\", \"threads\": %d, \"value\": %.6g, \"unit\": \"%@\", \"peak_rss_mb\": %.1f}",
             Backend.current.rawValue, workload, threads, value, unit, Double(usage.ru_maxrss) / 1024))
