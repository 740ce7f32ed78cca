/// Errors a user can cause: bad files, wrong shapes, invalid options. Each message says what is
/// wrong and where.
public enum AmalgamError: Error, CustomStringConvertible, Equatable {
    /// A tensor had the wrong shape for the operation or layer named in the message.
    case shape(String)
    /// An argument or option had an invalid value.
    case invalidArgument(String)
    /// A file is malformed; `path` names it and `message` says what is wrong and where.
    case format(path: String, message: String)
    /// A required file or dataset is missing; the message says how to get it.
    case missing(String)
    /// Input values contain NaN or infinity.
    case nonFinite(String)
    /// Data have the wrong size, range or content for the method (the message says which and where).
    case invalidData(String)
    /// A run stopped early (for example on SIGINT).
    case interrupted

    public var description: String {
        switch self {
        case .shape(let m): return "shape error: \(m)"
        case .invalidArgument(let m): return "invalid argument: \(m)"
        case .format(let path, let m): return "\(path): \(m)"
        case .missing(let m): return m
        case .nonFinite(let m): return "non-finite values: \(m)"
        case .invalidData(let m): return "invalid data: \(m)"
        case .interrupted: return "interrupted"
        }
    }

    /// The message without its kind ("invalid argument: " and the like): what a caller that
    /// already says where the error came from (an option parser) shows.
    public var message: String {
        switch self {
        case .shape(let m), .invalidArgument(let m), .missing(let m), .nonFinite(let m), .invalidData(let m): return m
        case .format, .interrupted: return description
        }
    }
}
