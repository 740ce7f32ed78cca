@_spi(Reflection) import Swift
import AmalgamCore
import Foundation

/// A trainable tensor held by a module. Layers read `value` in their forward pass; optimizers
/// write it. `requiresGrad = false` freezes it (no gradient, no update). A non-`persistent`
/// parameter (a pruning mask, say) is left out of state dicts and checkpoints, like a
/// non-persistent buffer in PyTorch.
public final class Parameter {
    public var value: Tensor
    public var requiresGrad: Bool
    public let persistent: Bool
    public init(_ value: Tensor, requiresGrad: Bool = true, persistent: Bool = true) {
        self.value = value
        self.requiresGrad = requiresGrad
        self.persistent = persistent
    }
}

/// A non-trainable tensor that belongs to a module's state (BatchNorm running statistics).
public final class Buffer {
    public var value: Tensor
    public init(_ value: Tensor) { self.value = value }
}

/// The base of every layer and model (reference semantics, as in PyTorch's `nn.Module`).
///
/// Parameters, buffers and child modules are found by reflection over stored properties of type
/// ``Parameter``, ``Buffer``, `Module` (optionals included) and `[Module]`, in declaration order.
/// Their keys are PyTorch-style dotted paths: a property's name in snake_case (`runningMean` →
/// `running_mean`), array elements by index (`layer1.0.conv1.weight`). These names are the
/// interface for gradients, optimizer state, checkpoints, freezing and model surgery.
open class Module {
    /// Training mode (true) or evaluation mode (false); affects BatchNorm and Dropout.
    public private(set) var isTraining = true

    public init() {}

    /// The layer's computation. Subclasses override this; call the module as a function.
    open func forward(_ x: Tensor) throws -> Tensor {
        throw AmalgamError.invalidArgument("\(type(of: self)) does not implement forward(_:)")
    }

    /// Applies the layer: the input hook (when installed) sees `x`, then `forward(x)`, then the
    /// output hook when one is installed.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        if let observe = _inputHook { try observe(x) }
        let y = try forward(x)
        if let hook = _outputHook { return try hook(y) }
        return y
    }

    /// The computation of a module that takes several named inputs (an attention mask, a task
    /// id, a diffusion step beside the primary input). The default runs ``forward(_:)-(Tensor)``
    /// on the primary input, so every single-input layer accepts `Inputs` unchanged;
    /// multi-input models override this one instead.
    open func forward(_ inputs: Inputs) throws -> Tensor {
        try forward(inputs.primary)
    }

    /// Applies the module to named inputs: the input hook (when installed) sees the primary
    /// input, then ``forward(_:)-(Inputs)``, then the output hook — so hooks see multi-input
    /// models exactly as they see single-input ones.
    public func callAsFunction(_ inputs: Inputs) throws -> Tensor {
        if let observe = _inputHook { try observe(inputs.primary) }
        let y = try forward(inputs)
        if let hook = _outputHook { return try hook(y) }
        return y
    }

    /// A function applied to this module's output on every call (nil by default). Model surgery
    /// uses it to insert per-channel gates without changing a model's class or parameter names
    /// (network merging); the hook is not part of the state dict.
    public var outputHook: ((Tensor) throws -> Tensor)? {
        get { _outputHook }
        set { _outputHook = newValue }
    }
    // Underscored so reflection skips it (a nil optional would otherwise keep the layout uncached).
    private var _outputHook: ((Tensor) throws -> Tensor)?
    /// Whether an input or output hook is installed (a fused layer pair must not skip one).
    var hasHooks: Bool { _inputHook != nil || _outputHook != nil }

    /// A function called with this module's input on every call (nil by default), e.g. to read
    /// the penultimate features a classifier layer receives (feature diversity, linear probes).
    public var inputHook: ((Tensor) throws -> Void)? {
        get { _inputHook }
        set { _inputHook = newValue }
    }
    private var _inputHook: ((Tensor) throws -> Void)?

    /// Children named explicitly, for modules whose names do not follow their properties
    /// (`Sequential`'s "0", "1", …; BERT's "self", "LayerNorm"). `nil` (the default) means
    /// reflect over stored properties.
    open var customChildren: [(String, Module)]? { nil }

    /// Direct children with their names.
    public var children: [(String, Module)] { customChildren ?? reflected().modules }

    /// Parameters held directly by this module (not by children).
    public var localParameters: [(String, Parameter)] { reflected().parameters }

    /// Buffers held directly by this module.
    public var localBuffers: [(String, Buffer)] { reflected().buffers }

    /// What this module holds directly, read from its stored properties (base class first).
    ///
    /// The runtime's field records (`_forEachField`) give each stored property's name, declared
    /// type and offset once per class; ``FieldLayout`` keeps, per property that can hold a
    /// parameter, buffer or module, how to read it, and every later pass reads those properties
    /// straight from the instance. Values are always read afresh, so replacing a parameter or a
    /// layer is seen at once. A class whose records cannot be read that way (a `weak` or
    /// `unowned` property) takes ``reflectedByMirror()``, the same classification through
    /// `Mirror`: it was the only path before and cost more than half of a small model's training
    /// step (every child boxed, its type demangled and cast on every pass).
    func reflected() -> Holdings {
        let key = ObjectIdentifier(type(of: self))
        let layout: FieldLayout
        if let cached = ReflectionCache.shared.fields(key) {
            layout = cached
        } else {
            layout = FieldLayout(of: type(of: self))
            ReflectionCache.shared.storeFields(key, layout)
        }
        guard layout.readable else { return reflectedByMirror() }
        var r: Holdings = ([], [], [])
        withExtendedLifetime(self) {
            let base = UnsafeRawPointer(Unmanaged.passUnretained(self).toOpaque())
            for (index, field) in layout.fields.enumerated() {
                let p = base + field.offset
                switch field.read {
                case .parameter: r.parameters.append((field.name, p.load(as: Parameter.self)))
                case .optionalParameter: if let v = p.load(as: Parameter?.self) { r.parameters.append((field.name, v)) }
                case .buffer: r.buffers.append((field.name, p.load(as: Buffer.self)))
                case .optionalBuffer: if let v = p.load(as: Buffer?.self) { r.buffers.append((field.name, v)) }
                case .module: r.modules.append((field.name, p.load(as: Module.self)))
                case .optionalModule: if let v = p.load(as: Module?.self) { r.modules.append((field.name, v)) }
                case .moduleArray(let reader):
                    for (j, c) in reader.modules(at: p).enumerated() { r.modules.append(("\(field.name).\(j)", c)) }
                case .value(let type):
                    // Declared as an existential, or an optional or array that may hold one: the
                    // first value decides what the property holds, as on the Mirror path (a nil
                    // optional decides nothing).
                    let value = loadValue(type, at: p)
                    var kind = layout.kind(index)
                    if kind == nil {
                        kind = ReflectionCache.Kind(of: value)
                        if kind != .unknown { layout.decide(index, kind!) }
                    }
                    Module.collect(value, as: kind!, named: field.name, into: &r)
                }
            }
        }
        return r
    }

    /// What a module holds directly: its parameters, buffers and child modules with their names.
    typealias Holdings = (parameters: [(String, Parameter)], buffers: [(String, Buffer)], modules: [(String, Module)])

    /// Adds `value`, the property `name` found to hold a `kind`, to `r` (both paths' last step). A
    /// value of undecided kind (`.unknown`) is tried as a parameter, a buffer and a module.
    private static func collect(_ value: Any, as kind: ReflectionCache.Kind, named name: String, into r: inout Holdings) {
        switch kind {
        case .other: break
        case .parameter: if let p = value as? Parameter { r.parameters.append((name, p)) }
        case .buffer: if let b = value as? Buffer { r.buffers.append((name, b)) }
        case .module: if let c = value as? Module { r.modules.append((name, c)) }
        case .modules: if let cs = value as? [Module] { for (j, c) in cs.enumerated() { r.modules.append(("\(name).\(j)", c)) } }
        case .unknown:
            if let p = value as? Parameter { r.parameters.append((name, p)) }
            else if let b = value as? Buffer { r.buffers.append((name, b)) }
            else if let c = value as? Module { r.modules.append((name, c)) }
        }
    }

    /// The same as ``reflected()`` through `Mirror` (the fallback for classes whose field records
    /// cannot be read directly; tests compare the two).
    ///
    /// What a property can hold is fixed by its declared type, so the first pass over a class
    /// records, per property, its snake-case name and whether it held a parameter, buffer, module,
    /// module array or something else; later passes skip the others and make one cast for the rest.
    /// Values are always read afresh, so replacing a parameter or a layer is seen at once. (A
    /// property declared `Any` that later holds a module would be missed; layers do not do that.)
    func reflectedByMirror() -> Holdings {
        var r: Holdings = ([], [], [])
        var levels: [Mirror] = []
        var mirror: Mirror? = Mirror(reflecting: self)
        // `Module`'s own stored properties (mode, hooks) hold no parameters: stop above it, so
        // their values (closure types, costly to decode) are never materialised.
        while let m = mirror, m.subjectType != Module.self { levels.append(m); mirror = m.superclassMirror }
        let key = ObjectIdentifier(type(of: self))
        let cached = ReflectionCache.shared.layout(key)
        var layout: [ReflectionCache.Slot] = []
        var i = 0
        for m in levels.reversed() {
            for child in m.children {
                defer { i += 1 }
                let slot: ReflectionCache.Slot
                if let cached, i < cached.count {
                    slot = cached[i]
                } else {
                    guard let label = child.label, !label.hasPrefix("_") else { layout.append(.init(name: "", kind: .other)); continue }
                    slot = .init(name: snakeCase(label), kind: ReflectionCache.Kind(of: child.value))
                    layout.append(slot)
                }
                if slot.kind != .other { Module.collect(child.value, as: slot.kind, named: slot.name, into: &r) }
            }
        }
        // Keep the layout only once no slot is undecided (a nil optional decides nothing).
        if cached == nil && !layout.contains(where: { $0.kind == .unknown }) { ReflectionCache.shared.store(key, layout) }
        return r
    }

    /// Every parameter in the tree, keyed by dotted path.
    public func namedParameters() -> [(String, Parameter)] {
        var result: [(String, Parameter)] = []
        walk(prefix: "") { prefix, _, r in for (n, p) in r.parameters { result.append((prefix + n, p)) } }
        return result
    }

    /// Depth-first over the tree (this module first) with one reflection pass per module; `body`
    /// gets each module's path prefix ("" or "a.b."), the module and what it holds directly.
    private func walk(prefix: String, _ body: (String, Module, Holdings) -> Void) {
        var r = reflected()
        if let custom = customChildren { r.modules = custom }
        body(prefix, self, r)
        for (name, child) in r.modules { child.walk(prefix: prefix + name + ".", body) }
    }

    /// Every buffer in the tree, keyed by dotted path.
    public func namedBuffers() -> [(String, Buffer)] {
        var result: [(String, Buffer)] = []
        walk(prefix: "") { prefix, _, r in for (n, b) in r.buffers { result.append((prefix + n, b)) } }
        return result
    }

    /// Every module in the tree (this one first, with path ""), keyed by dotted path.
    public func namedModules() -> [(String, Module)] {
        var result: [(String, Module)] = []
        walk(prefix: "") { prefix, m, _ in result.append((prefix.isEmpty ? "" : String(prefix.dropLast()), m)) }
        return result
    }

    /// Persistent parameters and buffers by dotted path (like `state_dict()`).
    public func stateDict() -> [String: Tensor] {
        var d: [String: Tensor] = [:]
        for (k, p) in namedParameters() where p.persistent { d[k] = p.value }
        for (k, b) in namedBuffers() { d[k] = b.value }
        return d
    }

    /// Names of parameters and buffers in declaration order.
    public var stateKeys: [String] { namedParameters().filter { $0.1.persistent }.map(\.0) + namedBuffers().map(\.0) }

    /// Loads tensors by dotted path. With `strict`, a missing or unexpected key is an error; a
    /// shape mismatch always is. Errors name the keys.
    public func loadStateDict(_ state: [String: Tensor], strict: Bool = true) throws {
        var targets: [String: (Tensor) -> Void] = [:]
        var shapes: [String: [Int]] = [:]
        for (k, p) in namedParameters() where p.persistent { targets[k] = { p.value = $0 }; shapes[k] = p.value.shape }
        for (k, b) in namedBuffers() { targets[k] = { b.value = $0 }; shapes[k] = b.value.shape }
        if strict {
            let missing = Set(targets.keys).subtracting(state.keys).sorted()
            let unexpected = Set(state.keys).subtracting(targets.keys).sorted()
            if !missing.isEmpty || !unexpected.isEmpty {
                var parts: [String] = []
                if !missing.isEmpty { parts.append("missing keys: \(missing.joined(separator: ", "))") }
                if !unexpected.isEmpty { parts.append("unexpected keys: \(unexpected.joined(separator: ", "))") }
                throw AmalgamError.invalidArgument("state dict does not match \(type(of: self)): " + parts.joined(separator: "; "))
            }
        }
        // Check every entry before changing anything, and report all mismatches in name order.
        var mismatches: [String] = []
        for k in state.keys.sorted() {
            guard let s = shapes[k], let t = state[k] else { continue }
            // A PyTorch scalar buffer (num_batches_tracked) may arrive as shape [] or [1].
            if !(t.shape == s || (t.count == 1 && shapeCount(s) == 1)) { mismatches.append("'\(k)' has shape \(t.shape), expected \(s)") }
        }
        if !mismatches.isEmpty {
            let shown = mismatches.prefix(10).joined(separator: "; ") + (mismatches.count > 10 ? "; … (\(mismatches.count) in all)" : "")
            throw AmalgamError.shape("state dict does not fit \(type(of: self)): \(shown)")
        }
        for (k, t) in state {
            guard let set = targets[k], let s = shapes[k] else { continue }
            set(t.shape == s ? t : t.reshaped(s))
        }
    }

    /// Sets training (true) or evaluation (false) mode on the whole tree.
    public func train(_ on: Bool = true) { walk(prefix: "") { _, m, _ in m.isTraining = on } }
    /// Evaluation mode on the whole tree.
    public func eval() { train(false) }

    /// Freezes (or unfreezes) every parameter whose path starts with `prefix` (all by default).
    public func freeze(_ prefix: String = "", _ frozen: Bool = true) {
        for (k, p) in namedParameters() where prefix.isEmpty || k == prefix || k.hasPrefix(prefix + ".") { p.requiresGrad = !frozen }
    }

    /// Total number of parameter elements.
    public var parameterCount: Int { namedParameters().reduce(0) { $0 + $1.1.value.count } }
}

/// Per-class property layouts for `Module`'s reflection (thread-safe).
final class ReflectionCache: @unchecked Sendable {
    /// What a property holds, judged from a value: the Mirror path's classification, and the
    /// field path's for properties whose declared type does not decide it.
    enum Kind {
        case parameter, buffer, module, modules, unknown, other
        init(of value: Any) {
            switch value {
            case is Parameter: self = .parameter
            case is Buffer: self = .buffer
            case is Module: self = .module
            case is [Module]: self = .modules
            default: self = isNilOptional(value) ? .unknown : .other
            }
        }
    }
    struct Slot { let name: String; let kind: Kind }
    static let shared = ReflectionCache()
    private var layouts: [ObjectIdentifier: [Slot]] = [:]
    private var fieldLayouts: [ObjectIdentifier: FieldLayout] = [:]
    private let lock = NSLock()
    func layout(_ key: ObjectIdentifier) -> [Slot]? { lock.lock(); defer { lock.unlock() }; return layouts[key] }
    func store(_ key: ObjectIdentifier, _ slots: [Slot]) { lock.lock(); layouts[key] = slots; lock.unlock() }
    func fields(_ key: ObjectIdentifier) -> FieldLayout? { lock.lock(); defer { lock.unlock() }; return fieldLayouts[key] }
    func storeFields(_ key: ObjectIdentifier, _ layout: FieldLayout) { lock.lock(); fieldLayouts[key] = layout; lock.unlock() }
}

/// How `Module` reads the stored properties of one class that can hold a parameter, a buffer or
/// a module, from the runtime's field records (`_forEachField`: name, declared type and offset
/// of every stored property, base class first).
///
/// The declared type decides almost every property: `Parameter`, `Buffer` or a `Module`
/// subclass, an optional of one, or an array of a `Module` subclass are read at their offset as
/// that type; a property whose type can hold none of them (numbers, tensors, closures, other
/// classes, arrays of those) is never read. Only a property declared as an existential (`Any`, a
/// protocol), or an optional or array that may hold one, is read as a value and classified by the
/// first value seen, as the Mirror path classifies every property. `Module`'s own properties
/// (mode, hooks) and names starting with `_` are skipped on both paths. `readable` is false when
/// the runtime cannot list a class's fields this way (a `weak` or `unowned` property): that class
/// takes the Mirror path.
final class FieldLayout: @unchecked Sendable {
    enum Read {
        case parameter, optionalParameter, buffer, optionalBuffer, module, optionalModule
        case moduleArray(any ModuleArrayField.Type)
        case value(Any.Type)
    }
    struct Field { let name: String; let offset: Int; let read: Read }
    let fields: [Field]
    let readable: Bool
    private var kinds: [Int: ReflectionCache.Kind] = [:]
    private let lock = NSLock()

    /// The offsets of `Module`'s own stored properties, which every subclass starts with.
    private static let moduleOffsets: Set<Int>? = {
        var offsets = Set<Int>()
        let ok = _forEachField(of: Module.self, options: .classType) { _, offset, _, _ in offsets.insert(offset); return true }
        return ok ? offsets : nil
    }()

    init(of type: Module.Type) {
        var fields: [Field] = []
        var ok = false
        if let skip = FieldLayout.moduleOffsets, FieldLayout.allStrong(type) {
            ok = _forEachField(of: type, options: .classType) { name, offset, fieldType, kind in
                guard !skip.contains(offset) else { return true }
                let label = String(cString: name)
                if !label.hasPrefix("_"), let read = FieldLayout.read(fieldType, kind) {
                    fields.append(Field(name: snakeCase(label), offset: offset, read: read))
                }
                return true
            }
        }
        self.fields = ok ? fields : []
        readable = ok
    }

    /// Whether every stored property of `type` (base classes included) is a strong reference or
    /// a value: a `weak` or `unowned` property is stored differently from its declared type, so
    /// it cannot be read at its offset as that type. `_forEachField` does not say; the runtime
    /// entry point it is built on (the same the standard library declares) does.
    static func allStrong(_ type: Any.Type) -> Bool {
        for i in 0..<reflectionFieldCount(type) {
            var record = RuntimeFieldRecord()
            _ = reflectionFieldMetadata(type, index: i, record: &record)
            record.freeName?(record.name)
            if !record.isStrong { return false }
        }
        return true
    }

    /// The kind a `.value` property was found to hold (nil while undecided).
    func kind(_ index: Int) -> ReflectionCache.Kind? { lock.lock(); defer { lock.unlock() }; return kinds[index] }
    func decide(_ index: Int, _ kind: ReflectionCache.Kind) { lock.lock(); kinds[index] = kind; lock.unlock() }

    /// How to read a property of declared type `type`, or nil when it can hold nothing of interest.
    static func read(_ type: Any.Type, _ kind: _MetadataKind) -> Read? {
        if type is Parameter.Type { return .parameter }
        if type is Buffer.Type { return .buffer }
        if type is Module.Type { return .module }
        if let optional = type as? any OptionalField.Type {
            let wrapped = optional.wrappedType
            if wrapped is Parameter.Type { return .optionalParameter }
            if wrapped is Buffer.Type { return .optionalBuffer }
            if wrapped is Module.Type { return .optionalModule }
            return mayHold(wrapped) ? .value(type) : nil
        }
        if let array = type as? any ModuleArrayField.Type { return .moduleArray(array) }
        if let array = type as? any ArrayField.Type { return mayHold(array.elementType) ? .value(type) : nil }
        return kind == .existential ? .value(type) : nil
    }

    /// Whether a value of static type `type` can be a parameter, a buffer, a module or an array of
    /// modules: an existential, one of those classes, or an optional or array of such a type.
    static func mayHold(_ type: Any.Type) -> Bool {
        if type is Parameter.Type || type is Buffer.Type || type is Module.Type { return true }
        if let optional = type as? any OptionalField.Type { return mayHold(optional.wrappedType) }
        if let array = type as? any ArrayField.Type { return mayHold(array.elementType) }
        return metadataKind(type) == .existential
    }

    /// The runtime's kind of `type` (`_MetadataKind` has no public initializer): the kind of the
    /// one field of a box of that type.
    static func metadataKind(_ type: Any.Type) -> _MetadataKind? {
        func probe<T>(_: T.Type) -> _MetadataKind? {
            var found: _MetadataKind?
            _ = _forEachField(of: FieldBox<T>.self) { _, _, _, kind in found = kind; return false }
            return found
        }
        return _openExistential(type, do: probe)
    }
}

private struct FieldBox<T> { var value: T }

/// The runtime's description of one stored property (`_FieldReflectionMetadata` in the standard
/// library's ReflectionMirror.swift; the layout of the runtime's `FieldReflectionMetadata`).
private struct RuntimeFieldRecord {
    var name: UnsafePointer<CChar>? = nil
    var freeName: (@convention(c) (UnsafePointer<CChar>?) -> Void)? = nil
    var isStrong = false
    var isVar = false
}

@_silgen_name("swift_reflectionMirror_recursiveCount")
private func reflectionFieldCount(_ type: Any.Type) -> Int

@_silgen_name("swift_reflectionMirror_recursiveChildMetadata")
private func reflectionFieldMetadata(_ type: Any.Type, index: Int, record: UnsafeMutablePointer<RuntimeFieldRecord>) -> Any.Type

/// Optionals, to read the wrapped type of an optional property's declared type.
protocol OptionalField { static var wrappedType: Any.Type { get } }
extension Optional: OptionalField { static var wrappedType: Any.Type { Wrapped.self } }

/// Arrays, to read the element type of an array property's declared type.
protocol ArrayField { static var elementType: Any.Type { get } }
extension Array: ArrayField { static var elementType: Any.Type { Element.self } }

/// Arrays of a `Module` subclass, read at a property's address with their exact type.
protocol ModuleArrayField { static func modules(at address: UnsafeRawPointer) -> [Module] }
extension Array: ModuleArrayField where Element: Module {
    static func modules(at address: UnsafeRawPointer) -> [Module] { address.load(as: [Element].self) }
}

/// A copy of the value of type `type` stored at `address`.
private func loadValue(_ type: Any.Type, at address: UnsafeRawPointer) -> Any {
    func read<T>(_: T.Type) -> Any { address.load(as: T.self) }
    return _openExistential(type, do: read)
}

/// Whether `value` is an `Optional` holding nothing.
func isNilOptional(_ value: Any) -> Bool {
    let m = Mirror(reflecting: value)
    return m.displayStyle == .optional && m.children.isEmpty
}

/// `runningMean` → `running_mean`; digits and lower-case names are unchanged. Works on ASCII
/// bytes (property names are Swift identifiers; non-ASCII names take the Unicode path): this
/// runs for every property on every parameter walk, so it must be cheap.
func snakeCase(_ s: String) -> String {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(s.utf8.count + 4)
    for b in s.utf8 {
        if b >= 0x80 { return snakeCaseUnicode(s) }
        if b >= 0x41 && b <= 0x5A {            // A–Z
            if !bytes.isEmpty { bytes.append(0x5F) }
            bytes.append(b + 0x20)
        } else {
            bytes.append(b)
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

private func snakeCaseUnicode(_ s: String) -> String {
    var out = ""
    for ch in s {
        if ch.isUppercase { if !out.isEmpty { out.append("_") }; out.append(contentsOf: ch.lowercased()) } else { out.append(ch) }
    }
    return out
}

/// Modules applied in order; children are named "0", "1", … as in `nn.Sequential`.
public final class Sequential: Module {
    /// Whether `Conv2d` → ReLU pairs run as one fused convolution (default true).
    nonisolated(unsafe) public static var fusesConvolutionReLU = true
    public var layers: [Module]
    public init(_ layers: [Module]) { self.layers = layers }
    public convenience init(_ layers: Module...) { self.init(layers) }
    public override var customChildren: [(String, Module)]? { layers.enumerated().map { ("\($0.offset)", $0.element) } }
    /// Runs the layers in order. A `Conv2d` directly followed by a ReLU runs as one fused
    /// convolution + ReLU (`Tensor.conv2d(_:weight:bias:stride:padding:dilation:groups:fusedReLU:)`;
    /// the same values and gradients, one pass over memory fewer on oneDNN) unless either module
    /// has a hook installed, which must see the convolution's own output.
    public override func forward(_ x: Tensor) throws -> Tensor {
        var h = x
        var i = 0
        while i < layers.count {
            if Sequential.fusesConvolutionReLU, i + 1 < layers.count, let conv = layers[i] as? Conv2d, let act = layers[i + 1] as? Activation, act.kind == .relu,
               !conv.hasHooks, !act.hasHooks {
                h = try conv.forward(h, fusedReLU: true)
                i += 2
                continue
            }
            h = try layers[i](h)
            i += 1
        }
        return h
    }
}

/// The value of `f(model)` and its gradients with respect to every trainable parameter of
/// `model`, keyed by dotted path (`features.0.weight`). The tape exists only inside this call.
public func valueAndGrad<M: Module>(_ model: M, _ f: (M) throws -> Tensor) rethrows -> (value: Tensor, gradients: [String: Tensor]) {
    let params = model.namedParameters().filter { $0.1.requiresGrad }
    let originals = params.map { $0.1.value }
    let (value, grads) = try valueAndGrad(at: originals) { tracked in
        for (p, t) in zip(params, tracked) { p.1.value = t }
        defer { for (p, t) in zip(params, originals) { p.1.value = t } }
        return try f(model)
    }
    var result: [String: Tensor] = [:]
    for (p, g) in zip(params, grads) { result[p.0] = g }
    return (value, result)
}

/// A module that draws random numbers while training (dropout, stochastic gates). Its generator
/// belongs to the state a resumable training checkpoint saves (`TrainingCheckpoint`), so a
/// resumed run draws the same numbers as one that was never interrupted.
public protocol RandomizedModule: Module {
    var generator: RandomGenerator { get set }
}
