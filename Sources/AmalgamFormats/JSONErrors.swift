import Foundation

/// One line saying why a JSON document did not decode: the field's dotted path and what was
/// wrong with it for a `DecodingError` ("'hidden_size': Expected to decode Int but found a
/// string"), the system's reason otherwise — never Swift's multi-line `DecodingError` dump.
/// Readers put it after the file's path in their `AmalgamError`.
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

/// `text` made safe to quote in a one-line error message: control characters (newlines, tabs,
/// escapes, NUL) written as `\n`, `\t` or `\u{…}`, and at most `limit` characters kept (an
/// ellipsis marks a cut). Readers quote file contents through it, so a crafted file cannot
/// break a message over lines or flood a terminal.
public func printable<S: StringProtocol>(_ text: S, limit: Int = 80) -> String {
    var out = ""
    var kept = 0
    for scalar in text.unicodeScalars {
        if kept == limit { out += "…"; break }
        switch scalar {
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            let category = scalar.properties.generalCategory
            if category == .control || category == .format || category == .lineSeparator || category == .paragraphSeparator || category == .unassigned {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        kept += 1
    }
    return out
}
