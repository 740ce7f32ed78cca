import ArgumentParser

@main
struct Amalgam: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "amalgam",
        abstract: "Efficient deep-learning methods on a Swift tensor engine.",
        version: AmalgamVersion.text,
        subcommands: [TrainCommand.self, EvaluateCommand.self, PredictCommand.self, ExportCommand.self, MergeCommand.self, GLMCommand.self, DiversityCommand.self, TransferCommand.self, DiversityStudyCommand.self, CoresetCommand.self, FinetuneCommand.self, PruneCommand.self, EmbedCommand.self, SimilarityCommand.self, MoECommand.self, LayersCommand.self, DASHCommand.self, NASCommand.self, DiffusionCommand.self, VocodeCommand.self])
}
