import AmalgamCore
import AmalgamNN
@testable import AmalgamMoE
import XCTest

/// Task-aware routing (Gupta et al. 2022) on synthetic tokens (unit tests only): one task is
/// Switch exactly, tasks' routers are independent, gradients are right, relatedness picks the
/// closer task.
final class TaskRoutingTests: XCTestCase {
    func experts(_ e: Int, d: Int, rng: inout RandomGenerator) -> [FeedForward] { (0..<e).map { _ in FeedForward(d, 7, using: &rng) } }

    func testOneTaskIsSwitchExactly() throws {
        for k in [1, 2] {
            var rng = RandomGenerator(seed: 3)
            let task = try TaskRouter(mode: .perTask, tasks: 1, dimension: 6, experts: 4, using: &rng)
            task.routers[0].weight.value = Tensor.normal([4, 6], using: &rng)
            let ex = experts(4, d: 6, rng: &rng)
            var rng2 = RandomGenerator(seed: 3)
            let sw = SwitchRouter(dimension: 6, experts: 4, using: &rng2)
            sw.weight.value = task.routers[0].weight.value
            let a = try MoELayer(router: task, experts: ex, topK: k, capacityFactor: 1.0)
            let b = try MoELayer(router: sw, experts: ex, topK: k, capacityFactor: 1.0)
            let x = Tensor.normal([20, 6], using: &rng)
            XCTAssertEqual(try a(x, tokens: nil, tasks: [Int](repeating: 0, count: 20)).scalars, try b(x).scalars)
            XCTAssertEqual(a.auxiliaryLoss!.item, b.auxiliaryLoss!.item)
            XCTAssertEqual(a.lastRouting!.firstChoice, b.lastRouting!.firstChoice)
            XCTAssertEqual(try a(x).scalars, try b(x).scalars, "without task ids one task is assumed")
        }
    }

    func testTasksRoutersGetNoGradientFromEachOthersTokens() throws {
        var rng = RandomGenerator(seed: 5)
        let router = try TaskRouter(mode: .perTask, tasks: 3, dimension: 6, experts: 4, using: &rng)
        for r in router.routers { r.weight.value = Tensor.normal([4, 6], using: &rng) }
        let layer = try MoELayer(router: router, experts: experts(4, d: 6, rng: &rng), capacityFactor: nil)
        let x = Tensor.normal([12, 6], using: &rng)
        let tasks = [0, 2, 0, 0, 2, 2, 0, 2, 0, 2, 2, 0]            // no token of task 1
        func grads(_ x: Tensor, _ tasks: [Int]) throws -> [String: Tensor] {
            try valueAndGrad(layer) { l in try l(x, tokens: nil, tasks: tasks).squared().sum() + l.auxiliaryLoss! }.1
        }
        let g = try grads(x, tasks)
        XCTAssertTrue(g["router.routers.1.weight"].map { $0.scalars.allSatisfy { $0 == 0 } } ?? true, "task 1's router moved without a task-1 token")
        // Task 0's router gets the same gradient whether task 2's tokens are in the batch or not.
        let rows0 = tasks.indices.filter { tasks[$0] == 0 }
        let alone = try grads(x.indexSelect(axis: 0, indices: rows0), rows0.map { _ in 0 })
        let a = g["router.routers.0.weight"]!.scalars, b = alone["router.routers.0.weight"]!.scalars
        for (u, v) in zip(a, b) { XCTAssertEqual(u, v, accuracy: 1e-5) }
        XCTAssertFalse(a.allSatisfy { $0 == 0 })
    }

    func testGradientsThroughTaskRoutingMatchFiniteDifferences() throws {
        for mode in TaskRouter.Mode.allCases {
            var rng = RandomGenerator(seed: 9)
            let router = try TaskRouter(mode: mode, tasks: 2, dimension: 4, experts: 3, taskEmbeddingDimension: 3, using: &rng)
            for r in router.routers { r.weight.value = Tensor.normal([3, 4], using: &rng) }
            router.shared?.weight.value = Tensor.normal([3, 7], using: &rng)
            let layer = try MoELayer(router: router, experts: experts(3, d: 4, rng: &rng), topK: 2, capacityFactor: nil)
            let x = Tensor.normal([6, 4], using: &rng)
            let tasks = [0, 1, 1, 0, 1, 0]
            let params = layer.namedParameters().filter { $0.1.requiresGrad }.map(\.1)
            let originals = params.map(\.value)
            defer { for (p, v) in zip(params, originals) { p.value = v } }
            let r = gradientCheck([x] + params.map(\.value), step: 1e-3) { xs in
                for (p, v) in zip(params, xs.dropFirst()) { p.value = v }
                return try! layer(xs[0], tokens: nil, tasks: tasks) + layer.auxiliaryLoss!
            }
            XCTAssertLessThan(r.maxError, 2e-2, "\(mode): \(r)")
        }
    }

    func testAnUnseenTaskIsServedByTheRouteOfTheTaskItIsMappedTo() throws {
        var rng = RandomGenerator(seed: 2)
        let router = try TaskRouter(mode: .perTask, tasks: 3, dimension: 5, experts: 4, using: &rng)
        for r in router.routers { r.weight.value = Tensor.normal([4, 5], using: &rng) }
        let layer = try MoELayer(router: router, experts: experts(4, d: 5, rng: &rng), capacityFactor: nil)
        let x = Tensor.normal([10, 5], using: &rng)
        let asOne = try layer(x, tokens: nil, tasks: [Int](repeating: 1, count: 10)).scalars
        try router.serve(task: 2, by: 1)
        XCTAssertEqual(try layer(x, tokens: nil, tasks: [Int](repeating: 2, count: 10)).scalars, asOne)
        XCTAssertThrowsError(try router.serve(task: 3, by: 0))
        XCTAssertThrowsError(try layer(x, tokens: nil, tasks: [Int](repeating: 7, count: 10))) { XCTAssertTrue("\($0)".contains("task id 7"), "\($0)") }
        XCTAssertThrowsError(try layer(x)) { XCTAssertTrue("\($0)".contains("task"), "\($0)") }
        // Relatedness: a task drawn around the same centre is closer than one around another.
        let centre = Tensor.normal([1, 5], using: &rng), other = Tensor.normal([1, 5], using: &rng)
        let unseen = Tensor.normal([40, 5], std: 0.3, using: &rng) + centre
        let near = Tensor.normal([40, 5], std: 0.3, using: &rng) + centre, far = Tensor.normal([40, 5], std: 0.3, using: &rng) + other
        XCTAssertEqual(TaskRelatedness.closest(unseen: unseen, seen: [far, near]), 1)
    }
}
