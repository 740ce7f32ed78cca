import AmalgamCore

/// What `amalgam --version` prints: the release, the commit the binary was built from (stamped
/// by the VersionStamp plugin; "-modified" when tracked files differed from it), the build
/// configuration and the backend the engine runs convolutions and matrix products on here.
enum AmalgamVersion {
    static let release = "0.1.0"

    static var configuration: String {
        #if DEBUG
        return "debug"
        #else
        return "release"
        #endif
    }

    static var backend: String {
        Backend.current == .oneDNN ? "onednn \(Backend.oneDNNVersion)" : "openblas" + (Backend.available ? "" : " (oneDNN unavailable: \(Backend.unavailableReason))")
    }

    static var text: String {
        "amalgam \(release) (commit \(BuildStamp.commit), \(BuildStamp.commitDate); \(configuration) build; backend \(backend))"
    }
}
