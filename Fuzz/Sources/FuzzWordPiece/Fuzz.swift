import AmalgamFormats
import Foundation
import FuzzSupport

/// WordPiece: a vocabulary file (before the first zero byte) and a text to encode with it,
/// alone and as a pair, at a short and a long maximum length.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ input: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = input ?? UnsafePointer(bitPattern: 1)!
    let (vocab, text) = split(Data(bytes: bytes, count: count))
    do {
        let path = "fuzz/vocab.txt"
        expectCleanOutcome(path: path) {
            let tok = try WordPieceTokenizer(vocabulary: vocab, path: path)
            let s = String(decoding: text, as: UTF8.self)
            for maxLength in [0, 5, 512] {
                let e = tok.encode(s, maxLength: maxLength)
                precondition(e.ids.count <= max(maxLength, 2) && e.ids.allSatisfy { $0 >= 0 && $0 < tok.tokens.count })
                let p = tok.encode(s, pair: String(s.reversed()), maxLength: maxLength)
                precondition(p.ids.count <= max(maxLength, 3) && p.typeIDs.count == p.ids.count)
            }
        }
    }
    return 0
}

@_cdecl("FuzzWordPiece_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt { runFuzzer(argc, argv, fuzz) }
