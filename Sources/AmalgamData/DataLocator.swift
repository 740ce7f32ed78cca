import Foundation

/// Where a data set or a pretrained model is found, the same way for every one of them: the
/// path the user gave (an option such as `--data-dir`), else the environment variable, else the
/// first of the default places that exists, else the first default (whose absence the loader
/// then reports with how to install the data).
public struct DataLocator: Sendable {
    /// `AMALGAM_DATA`, `AMALGAM_AUSTEN`, …
    public let environmentVariable: String
    /// Candidate places, most preferred first.
    public let defaults: @Sendable () -> [String]
    /// Maps the environment variable's value to the place to read (e.g. a subfolder it holds).
    public let refine: @Sendable (String) -> String

    public init(environmentVariable: String, defaults: @escaping @Sendable () -> [String], refine: @escaping @Sendable (String) -> String = { $0 }) {
        self.environmentVariable = environmentVariable; self.defaults = defaults; self.refine = refine
    }

    /// The explicit path, else the environment variable's, else a default; nil only when there
    /// are no defaults and neither was given.
    public func locate(_ explicit: String?) -> String? {
        locateExisting(explicit) ?? defaults().first
    }

    /// The explicit path, else the environment variable's, else the first default place that
    /// exists; nil when none of them gives a place (for data with no single install location,
    /// whose loader then says how to get it).
    public func locateExisting(_ explicit: String?) -> String? {
        if let explicit { return explicit }
        if let env = ProcessInfo.processInfo.environment[environmentVariable], !env.isEmpty { return refine(env) }
        return defaults().first { FileManager.default.fileExists(atPath: $0) }
    }

    /// `$XDG_DATA_HOME/amalgam/NAME`, else `~/.local/share/amalgam/NAME`: where the setup scripts
    /// put what they extract from packages.
    public static func userData(_ name: String) -> String {
        let base = ProcessInfo.processInfo.environment["XDG_DATA_HOME"] ?? (NSHomeDirectory() + "/.local/share")
        return base + "/amalgam/" + name
    }
}
