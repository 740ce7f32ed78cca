import ArgumentParser

@main
struct Amalgam: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "amalgam",
        abstract: "Efficient deep-learning methods on a Swift tensor engine.",
        subcommands: [Train.self, Evaluate.self, Merge.self, GLM.self, DiversityCommand.self, TransferCommand.self, DiversityStudyCommand.self, CoresetCommand.self, Finetune.self, Prune.self, Embed.self, Similarity.self])
}
