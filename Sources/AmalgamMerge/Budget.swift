import Foundation

/// The equal-budget accounting of Pašen & Boža (2022). A total of `total` epochs (one "long"
/// model's budget) is split into teachers 2T/3 (each of K teachers 2T/(3K), T/3 for K = 2),
/// gate training T/6 and fine-tuning T/6. Budgets may be fractional; a phase trains
/// round(epochs × batches per epoch) steps.
public struct MergeBudget: Codable, Sendable, Equatable {
    public var total: Double
    public var teachers: Int
    public init(total: Double, teachers: Int) { self.total = total; self.teachers = teachers }
    public var teacherEpochs: Double { 2 * total / (3 * Double(teachers)) }
    public var gateEpochs: Double { total / 6 }
    public var fineTuneEpochs: Double { total / 6 }
    public var bestOfThreeEpochs: Double { total / 3 }
    /// Teacher, gate and fine-tune epochs together (= `total`).
    public var mergedEpochs: Double { Double(teachers) * teacherEpochs + gateEpochs + fineTuneEpochs }
}

/// How the penalty weight α grows during the gate phase (see ``AlphaSchedule``).
public enum AlphaGrowth: Codable, Sendable, Equatable {
    /// α ← α + c√α at the start of every epoch (the reference code).
    case perEpoch(growth: Double)
    /// α ← α + c√α before every step, c chosen so that α reaches `final` at the last step.
    case perStep(final: Double)
}

/// Optimisation settings of every phase. Defaults: the Fashion-MNIST recipe of the spec's
/// PyTorch run (SGD momentum 0.9, weight decay 5e-4, batch 128, random crop with padding 2;
/// teachers and baselines lr 0.05 cosine; gate phase weights lr 0.01 constant, gates lr 0.2
/// without weight decay; α from 0.01 to 5 over the gate phase; fine-tuning lr 0.01 cosine).
public struct MergeRecipe: Codable, Sendable, Equatable {
    public var batchSize = 128
    public var momentum: Float = 0.9
    public var weightDecay: Float = 5e-4
    public var augment = true
    public var learningRate: Float = 0.05
    public var gateWeightLearningRate: Float = 0.01
    public var gateLearningRate: Float = 0.2
    public var alphaStart = 0.01
    public var alphaGrowth = AlphaGrowth.perStep(final: 5)
    public var gateInitMean: Float = 1
    public var fineTuneLearningRate: Float = 0.01
    public var perTeacherQuota = false
    public init() {}
}

/// The strategies compared under one budget.
public enum MergeStrategy: String, CaseIterable, Codable, Sendable {
    /// K teachers → wide student → gates → prune → fine-tune.
    case merged
    /// One model trained for the whole budget T.
    case long
    /// Three models trained T/3 each; the best on the test set (an optimistic upper bound of
    /// what selecting by a validation set would give, which only favours this baseline).
    case bestOf3 = "best_of_3"
    /// A single teacher (the mean of the K teachers' accuracies: the expected single teacher).
    case teacher
    /// The mean of the K teachers' logits (K× inference cost; a reference, not a baseline).
    case teacherEnsemble = "teacher_ensemble"
    /// One model given the training FLOPs of the whole merge pipeline (equal compute).
    case longEqualCompute = "long_equal_compute"
}
