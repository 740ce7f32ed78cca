import Foundation
import PackagePlugin

/// Stamps the `amalgam` executable with the commit it was built from: before every build,
/// `scripts/version-stamp.sh` writes `BuildStamp.swift` (the `git describe` of the package
/// directory, or "unknown" outside a git checkout) into the plugin's work directory, rewriting it
/// only when the commit changes so that an unchanged tree does not recompile the CLI.
///
/// A prebuild command, not a build command: the commit is not a file SwiftPM can track as an
/// input, so the stamp must be checked on every build (it costs one `git` call).
@main
struct VersionStamp: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let out = context.pluginWorkDirectoryURL.appending(path: "stamp")
        let script = context.package.directoryURL.appending(path: "scripts/version-stamp.sh")
        return [.prebuildCommand(
            displayName: "Stamping the build with its commit",
            executable: URL(fileURLWithPath: "/bin/sh"),
            arguments: [script.path, context.package.directoryURL.path, out.appending(path: "BuildStamp.swift").path],
            outputFilesDirectory: out)]
    }
}
