import AmalgamCore
import AmalgamData
import AmalgamDiversity
import AmalgamFormats
import AmalgamNN
import ArgumentParser
import Foundation

/// `amalgam diversity-study`: the table, rank correlations and scatter plots of a directory of
/// models measured by `scripts/experiments/diversity_study.sh` (``DiversityStudy``).
struct DiversityStudyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diversity-study",
        abstract: "Correlate source accuracy and accuracy × diversity with downstream accuracy over a family of measured models.")

    @Option(help: "Directory with one folder per model (results.md, study.json and the charts are written there).") var dir: String
    @OptionGroup var common: RunOptions

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            let study = try DiversityStudy(directory: dir)
            let md = study.markdown()
            console.line(md)
            try writeAtomically(Data(md.utf8), to: dir + "/results.md")
            try writeAtomically(study.json(), to: dir + "/study.json")
            for (file, svg) in study.scatterPlots() { try writeAtomically(Data(svg.utf8), to: dir + "/" + file) }
            try common.emitFile(dir + "/study.json")
        }
    }
}
