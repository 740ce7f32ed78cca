import AmalgamCore
@testable import AmalgamNN
import XCTest

/// A module declaring a property of every kind `Module` discovers, and of kinds it must ignore.
private class ReflectionZoo: Module {
    var weight = Parameter(Tensor([1, 2]))
    var maybeWeight: Parameter?
    var stats = Buffer(Tensor([3]))
    var maybeStats: Buffer? = Buffer(Tensor([4]))
    var child: Linear
    var maybeChild: Module?
    var list: [Linear]
    var mixed: [Module]
    var anything: Any
    var anyList: [Any]?
    var numbers: [Int] = [1, 2]
    var tensor = Tensor([5])
    var closure: (() -> Void)?
    var name = "zoo"
    var _hidden = Parameter(Tensor([6]))
    lazy var lazyChild: Linear = { var r = RandomGenerator(seed: 9); return Linear(1, 1, using: &r) }()
    init(using rng: inout RandomGenerator) {
        child = Linear(2, 3, using: &rng)
        list = [Linear(3, 3, using: &rng), Linear(3, 2, using: &rng)]
        mixed = [ReLU(), Linear(2, 2, using: &rng)]
        anything = Linear(1, 2, using: &rng)
    }
}

/// A subclass adding its own properties after the base class's.
private final class ReflectionZooChild: ReflectionZoo {
    var extra = Parameter(Tensor([7]))
    var moreChildren: [Module] = []
}

/// A class with a weak property: its field records cannot be read directly (Mirror path).
private final class WeakHolder: Module {
    var weight = Parameter(Tensor([8]))
    weak var peer: Module?
}

final class ReflectionTests: XCTestCase {
    private func assertSameDiscovery(_ m: Module, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        let fast = m.reflected(), slow = m.reflectedByMirror()
        XCTAssertEqual(fast.parameters.map(\.0), slow.parameters.map(\.0), "parameters: \(message)", file: file, line: line)
        XCTAssertEqual(fast.buffers.map(\.0), slow.buffers.map(\.0), "buffers: \(message)", file: file, line: line)
        XCTAssertEqual(fast.modules.map(\.0), slow.modules.map(\.0), "modules: \(message)", file: file, line: line)
        XCTAssertTrue(zip(fast.parameters, slow.parameters).allSatisfy { $0.1 === $1.1 }, "parameter objects: \(message)", file: file, line: line)
        XCTAssertTrue(zip(fast.buffers, slow.buffers).allSatisfy { $0.1 === $1.1 }, "buffer objects: \(message)", file: file, line: line)
        XCTAssertTrue(zip(fast.modules, slow.modules).allSatisfy { $0.1 === $1.1 }, "module objects: \(message)", file: file, line: line)
    }

    /// The field-record path finds exactly what the Mirror path finds, in the same order, on
    /// every kind of property, and sees every later replacement.
    func testFieldRecordsFindWhatMirrorFinds() {
        var r = RandomGenerator(seed: 1)
        let zoo = ReflectionZoo(using: &r)
        XCTAssertTrue(FieldLayout(of: ReflectionZoo.self).readable)
        assertSameDiscovery(zoo, "fresh")
        XCTAssertEqual(zoo.reflected().parameters.map(\.0), ["weight"])
        XCTAssertEqual(zoo.reflected().buffers.map(\.0), ["stats", "maybe_stats"])
        XCTAssertEqual(zoo.reflected().modules.map(\.0), ["child", "list.0", "list.1", "mixed.0", "mixed.1", "anything"])
        zoo.maybeWeight = Parameter(Tensor([0]))
        zoo.maybeStats = nil
        zoo.maybeChild = ReLU()
        zoo.child = Linear(1, 1, using: &r)
        zoo.list.append(Linear(2, 2, using: &r))
        zoo.anyList = [Linear(1, 1, using: &r)]
        _ = zoo.lazyChild
        assertSameDiscovery(zoo, "after replacements")
        XCTAssertEqual(zoo.reflected().parameters.map(\.0), ["weight", "maybe_weight"])
        XCTAssertTrue(zoo.reflected().modules.contains { $0.0 == "maybe_child" })
        XCTAssertTrue(zoo.reflected().modules.contains { $0.0 == "child" && $0.1 === zoo.child })

        let sub = ReflectionZooChild(using: &r)
        sub.moreChildren = [Linear(1, 1, using: &r)]
        assertSameDiscovery(sub, "subclass")
        XCTAssertEqual(sub.reflected().parameters.map(\.0), ["weight", "extra"])
        XCTAssertEqual(sub.namedParameters().map(\.0).suffix(2), ["more_children.0.weight", "more_children.0.bias"])
    }

    /// A class the field records cannot describe falls back to Mirror and still finds everything.
    func testWeakPropertyFallsBackToMirror() {
        var r = RandomGenerator(seed: 3)
        let holder = WeakHolder(), peer = Linear(1, 1, bias: false, using: &r)
        XCTAssertFalse(FieldLayout(of: WeakHolder.self).readable)
        XCTAssertEqual(holder.namedParameters().map(\.0), ["weight"])
        holder.peer = peer
        XCTAssertEqual(holder.namedParameters().map(\.0), ["weight", "peer.weight"])
        assertSameDiscovery(holder, "weak")
        withExtendedLifetime(peer) {}
    }

    /// Every model class of the library is described by its field records, and each model's
    /// names are the Mirror path's.
    func testLibraryModelsDiscoverTheSameStateBothWays() {
        var r = RandomGenerator(seed: 2)
        let models: [Module] = [MLP(inputFeatures: 4, hidden: [3], classes: 2, using: &r), SmallCNN(using: &r),
                                SmallCNN(batchNorm: true, using: &r), ResNet(using: &r)]
        for model in models {
            for (path, m) in model.namedModules() {
                XCTAssertTrue(FieldLayout(of: type(of: m)).readable, "\(type(of: m)) at '\(path)'")
                assertSameDiscovery(m, "\(type(of: m)) at '\(path)'")
            }
        }
    }
}
