/// Upper bounds on sizes read from files and options, checked before anything is allocated.
///
/// Every reader validates the sizes, counts, indices and offsets it reads with overflow-safe
/// arithmetic (``checkedProduct(_:)``) and against these bounds, then allocates; a value outside
/// them is an ``AmalgamError`` naming the file and the field. (The GLM target, which stands on
/// no other, keeps its LIBSVM bounds beside its reader: `GLMTable.maxImplicitFeatures`.) The bounds are far above every
/// model and dataset the toolkit is meant for, and far below what would exhaust a machine;
/// `docs/reliability.md` lists them with the reason for each.
public enum Limits {
    /// Most bytes a gzip stream may inflate to when its contents declare no size (2 GiB). A
    /// reader that knows the size from the decompressed header (IDX) stops at that size.
    public static let maxInflatedBytes = 1 << 31
    /// Largest hidden size of a BERT `config.json` (16,384; BERT-large is 1,024).
    public static let maxHiddenSize = 16_384
    /// Largest feed-forward size of a BERT `config.json` (65,536 = 4 × the largest hidden size).
    public static let maxIntermediateSize = 65_536
    /// Most layers of a BERT `config.json` (256).
    public static let maxLayers = 256
    /// Largest vocabulary of a BERT `config.json` (1,048,576 = 2^20; BERT's is 30,522).
    public static let maxVocabulary = 1 << 20
    /// Most positions of a BERT `config.json` (65,536).
    public static let maxPositions = 65_536
    /// Most token types of a BERT `config.json` (1,024).
    public static let maxTokenTypes = 1_024
    /// Most elements one tensor read from a file may have (2^34 = 64 GiB of `Float`s) — in
    /// practice a file must also hold every byte it declares, so its size bounds what it gets.
    public static let maxTensorElements = 1 << 34
}

/// The product of `factors`, or nil when a factor is negative or the product overflows `Int`.
///
/// Sizes read from files are multiplied with this before any allocation: `[2^61]` F32 gives
/// nil here where `shape.reduce(1, *) * 4` would trap.
public func checkedProduct(_ factors: [Int]) -> Int? {
    var p = 1
    for f in factors {
        guard f >= 0 else { return nil }
        let (r, overflow) = p.multipliedReportingOverflow(by: f)
        if overflow { return nil }
        p = r
    }
    return p
}
