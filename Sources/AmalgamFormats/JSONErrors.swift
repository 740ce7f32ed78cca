import Foundation

/// One line saying why a JSON document did not decode: the field's dotted path and what was
/// wrong with it for a `DecodingError` ("'hidden_size': Expected to decode Int but found a
/// string"), the system's reason otherwise — never Swift's multi-line `DecodingError` dump.
/// Readers put it after the file's path in their ``AmalgamCore/AmalgamError``.
public func jsonErrorDescription(_ error: Error) -> String {
    func path(_ c: DecodingError.Context) -> String { c.codingPath.map(\.stringValue).joined(separator: ".") }
    let text: String
    if let e = error as? DecodingError {
        switch e {
        case .keyNotFound(let k, let c): text = path(c).isEmpty ? "no '\(k.stringValue)'" : "no '\(k.stringValue)' in '\(path(c))'"
        case .typeMismatch(_, let c), .valueNotFound(_, let c): text = "'\(path(c))': \(c.debugDescription)"
        case .dataCorrupted(let c): text = (path(c).isEmpty ? "" : "'\(path(c))': ") + c.debugDescription
        @unknown default: text = "\(e)"
        }
    } else {
        text = (error as NSError).localizedDescription
    }
    return text.split(whereSeparator: \.isNewline).joined(separator: " ")
}
