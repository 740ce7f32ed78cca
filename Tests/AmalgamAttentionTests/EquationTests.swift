import AmalgamCore
import AmalgamNN
@testable import AmalgamAttention
import XCTest

/// Each module's output against a loop transcription of its paper's equation (`Naive.swift`),
/// on a small non-square input, in training mode (batch statistics in the BNs).
final class EquationTests: XCTestCase {
    let (n, c, h, w) = (2, 8, 5, 6)
    func input(_ seed: UInt64 = 1) -> Tensor { var r = RandomGenerator(seed: seed); return Tensor.normal([n, c, h, w], using: &r) }
    /// Randomises every parameter (so zero-initialised layers are exercised too).
    func randomise(_ m: Module, seed: UInt64 = 9) {
        var r = RandomGenerator(seed: seed)
        for (_, p) in m.namedParameters() { p.value = Tensor.normal(p.value.shape, std: 0.5, using: &r) }
    }

    func testSqueezeExcitationMatchesEquation() throws {
        var rng = RandomGenerator(seed: 2)
        let m = try SqueezeExcitation(channels: c, reduction: 2, using: &rng)
        let x = input(), X = Naive4(x)
        var Y = X
        for a in 0..<n {
            let s = naiveLinear(naiveLinear(channelMean(X, a), m.fc1).map(relu), m.fc2).map(sig)
            for ch in 0..<c { for i in 0..<h { for j in 0..<w { Y[a, ch, i, j] = X[a, ch, i, j] * s[ch] } } }
        }
        XCTAssertLessThan(maxDiff(try m(x), Y), 1e-5)
    }

    func testECAMatchesEquation() throws {
        var rng = RandomGenerator(seed: 2)
        let m = try EfficientChannelAttention(channels: c, kernelSize: 3, using: &rng)
        let x = input(), X = Naive4(x)
        let k = m.conv.weight.value.scalars.map(Double.init)
        var Y = X
        for a in 0..<n {
            let z = channelMean(X, a)
            for ch in 0..<c {
                var s = 0.0
                for t in 0..<3 where ch + t - 1 >= 0 && ch + t - 1 < c { s += k[t] * z[ch + t - 1] }
                for i in 0..<h { for j in 0..<w { Y[a, ch, i, j] = X[a, ch, i, j] * sig(s) } }
            }
        }
        XCTAssertLessThan(maxDiff(try m(x), Y), 1e-5)
    }

    func testCBAMMatchesEquation() throws {
        var rng = RandomGenerator(seed: 3)
        let m = try CBAM(channels: c, reduction: 2, using: &rng)
        randomise(m)
        let x = input(), X = Naive4(x)
        var X1 = X
        for a in 0..<n {
            let mlp: ([Double]) -> [Double] = { naiveLinear(naiveLinear($0, m.fc1).map(relu), m.fc2) }
            let g = zip(mlp(channelMean(X, a)), mlp(channelMax(X, a))).map { sig($0 + $1) }
            for ch in 0..<c { for i in 0..<h { for j in 0..<w { X1[a, ch, i, j] = X[a, ch, i, j] * g[ch] } } }
        }
        var D = Naive4(n, 2, h, w)
        for a in 0..<n { for i in 0..<h { for j in 0..<w {
            let col = (0..<c).map { X1[a, $0, i, j] }
            D[a, 0, i, j] = col.reduce(0, +) / Double(c); D[a, 1, i, j] = col.max()!
        } } }
        let M = naiveBN(naiveConv(D, m.spatial), m.spatialBn)
        var Y = X1
        for a in 0..<n { for ch in 0..<c { for i in 0..<h { for j in 0..<w { Y[a, ch, i, j] = X1[a, ch, i, j] * sig(M[a, 0, i, j]) } } } }
        XCTAssertLessThan(maxDiff(try m(x), Y), 1e-4)
    }

    func testBAMMatchesEquation() throws {
        var rng = RandomGenerator(seed: 4)
        let m = try BAM(channels: c, reduction: 2, dilation: 2, using: &rng)
        randomise(m)
        let x = input(), X = Naive4(x)
        let z = (0..<n).map { channelMean(X, $0) }
        let mc = naiveBN1(naiveBN1(z.map { naiveLinear($0, m.channelFc1) }, m.channelBn1 as BatchNorm).map { $0.map(relu) }.map { naiveLinear($0, m.channelFc2) }, m.channelBn2)
        var s = X
        for (i, layer) in m.spatial.layers.enumerated() {
            if let conv = layer as? Conv2d { s = naiveConv(s, conv) }
            else if let bn = layer as? BatchNorm { s = naiveBN(s, bn) }
            else { s.v = s.v.map(relu); _ = i }
        }
        var Y = X
        for a in 0..<n { for ch in 0..<c { for i in 0..<h { for j in 0..<w { Y[a, ch, i, j] = X[a, ch, i, j] * (1 + sig(mc[a][ch] + s[a, 0, i, j])) } } } }
        XCTAssertLessThan(maxDiff(try m(x), Y), 1e-4)
    }

    func testSCSEMatchesEquation() throws {
        var rng = RandomGenerator(seed: 5)
        let m = try SCSE(channels: c, reduction: 2, using: &rng)
        let x = input(), X = Naive4(x)
        let sp = naiveConv(X, m.spatial)
        var Y = X
        for a in 0..<n {
            let g = naiveLinear(naiveLinear(channelMean(X, a), m.channel.fc1).map(relu), m.channel.fc2).map(sig)
            for ch in 0..<c { for i in 0..<h { for j in 0..<w { Y[a, ch, i, j] = X[a, ch, i, j] * g[ch] + X[a, ch, i, j] * sig(sp[a, 0, i, j]) } } }
        }
        XCTAssertLessThan(maxDiff(try m(x), Y), 1e-5)
    }

    func testCoordinateAttentionMatchesEquation() throws {
        var rng = RandomGenerator(seed: 6)
        let m = try CoordinateAttention(channels: c, reduction: 2, using: &rng)
        randomise(m)
        let x = input(), X = Naive4(x)
        var Z = Naive4(n, c, h + w, 1)
        for a in 0..<n { for ch in 0..<c {
            for i in 0..<h { Z[a, ch, i, 0] = (0..<w).map { X[a, ch, i, $0] }.reduce(0, +) / Double(w) }
            for j in 0..<w { Z[a, ch, h + j, 0] = (0..<h).map { X[a, ch, $0, j] }.reduce(0, +) / Double(h) }
        } }
        var F = naiveBN(naiveConv(Z, m.conv1), m.bn1)
        F.v = F.v.map { $0 * min(max($0 + 3, 0), 6) / 6 }
        var Fh = Naive4(n, F.c, h, 1), Fw = Naive4(n, F.c, w, 1)
        for a in 0..<n { for ch in 0..<F.c { for i in 0..<h { Fh[a, ch, i, 0] = F[a, ch, i, 0] }; for j in 0..<w { Fw[a, ch, j, 0] = F[a, ch, h + j, 0] } } }
        let Gh = naiveConv(Fh, m.convH), Gw = naiveConv(Fw, m.convW)
        var Y = X
        for a in 0..<n { for ch in 0..<c { for i in 0..<h { for j in 0..<w { Y[a, ch, i, j] = X[a, ch, i, j] * sig(Gh[a, ch, i, 0]) * sig(Gw[a, ch, j, 0]) } } } }
        XCTAssertLessThan(maxDiff(try m(x), Y), 1e-4)
    }

    func testTripletAttentionMatchesEquation() throws {
        var rng = RandomGenerator(seed: 7)
        let m = try TripletAttention(channels: c, using: &rng)
        randomise(m)
        let x = input(), X = Naive4(x)
        // One branch: the pair (p, q) of axes kept, r pooled; returns the gate per (a, p, q).
        func branch(_ dims: (Int, Int, Int), _ get: (Int, Int, Int, Int) -> Double, _ conv: Conv2d, _ bn: BatchNorm) -> Naive4 {
            let (r, p, q) = dims
            var D = Naive4(n, 2, p, q)
            for a in 0..<n { for i in 0..<p { for j in 0..<q {
                let col = (0..<r).map { get(a, $0, i, j) }
                D[a, 0, i, j] = col.max()!; D[a, 1, i, j] = col.reduce(0, +) / Double(r)
            } } }
            return naiveBN(naiveConv(D, conv), bn)
        }
        let g1 = branch((h, c, w), { X[$0, $2, $1, $3] }, m.cw, m.cwBn)   // X as [N, H, C, W]: pool over H
        let g2 = branch((w, h, c), { X[$0, $3, $2, $1] }, m.hc, m.hcBn)   // X as [N, W, H, C]: pool over W
        let g3 = branch((c, h, w), { X[$0, $1, $2, $3] }, m.hw, m.hwBn)
        var Y = X
        for a in 0..<n { for ch in 0..<c { for i in 0..<h { for j in 0..<w {
            Y[a, ch, i, j] = X[a, ch, i, j] * (sig(g1[a, 0, ch, j]) + sig(g2[a, 0, i, ch]) + sig(g3[a, 0, i, j])) / 3
        } } } }
        XCTAssertLessThan(maxDiff(try m(x), Y), 1e-4)
    }

    func testGatherExciteMatchesEquation() throws {
        var rng = RandomGenerator(seed: 8)
        let m = try GatherExcite(channels: c, extent: 2, using: &rng)
        let x = input(), X = Naive4(x)
        let G = naiveBN(naiveConv(X, m.gather!.layers[0] as! Conv2d), m.gather!.layers[1] as! BatchNorm)
        var Y = X
        for a in 0..<n { for ch in 0..<c { for i in 0..<h { for j in 0..<w {
            Y[a, ch, i, j] = X[a, ch, i, j] * sig(G[a, ch, i * G.h / h, j * G.w / w])
        } } } }
        XCTAssertLessThan(maxDiff(try m(x), Y), 1e-5)
        // Global extent: X ⊙ σ(GAP X), no parameters.
        let g = try GatherExcite(channels: c, extent: 0, using: &rng)
        XCTAssertEqual(g.parameterCount, 0)
        var Yg = X
        for a in 0..<n { let z = channelMean(X, a); for ch in 0..<c { for i in 0..<h { for j in 0..<w { Yg[a, ch, i, j] = X[a, ch, i, j] * sig(z[ch]) } } } }
        XCTAssertLessThan(maxDiff(try g(x), Yg), 1e-5)
    }

    func testSelectiveKernelMatchesEquation() throws {
        var rng = RandomGenerator(seed: 10)
        let m = try SelectiveKernel(channels: c, reduction: 2, minimumUnits: 4, using: &rng)
        let x = input(), X = Naive4(x)
        func br(_ s: Sequential) -> Naive4 { var u = naiveBN(naiveConv(X, s.layers[0] as! Conv2d), s.layers[1] as! BatchNorm); u.v = u.v.map(relu); return u }
        let u0 = br(m.branch0), u1 = br(m.branch1)
        var sum = u0; sum.v = zip(u0.v, u1.v).map(+)
        let z = naiveBN1((0..<n).map { naiveLinear(channelMean(sum, $0), m.fc) }, m.fcBn).map { $0.map(relu) }
        var Y = X
        for a in 0..<n {
            let l0 = naiveLinear(z[a], m.select0), l1 = naiveLinear(z[a], m.select1)
            for ch in 0..<c {
                let p = softmax([l0[ch], l1[ch]])
                for i in 0..<h { for j in 0..<w { Y[a, ch, i, j] = p[0] * u0[a, ch, i, j] + p[1] * u1[a, ch, i, j] } }
            }
        }
        XCTAssertLessThan(maxDiff(try m(x), Y), 1e-4)
    }

    func testSplitAttentionMatchesEquation() throws {
        var rng = RandomGenerator(seed: 11)
        let m = try SplitAttention(channels: c, radix: 2, reductionFactor: 4, using: &rng)
        let x = input(), X = Naive4(x)
        var U = naiveBN(naiveConv(X, m.conv), m.bn0); U.v = U.v.map(relu)
        var S = Naive4(n, c, 1, 1)
        for a in 0..<n { let mu = channelMean(U, a); for ch in 0..<c { S[a, ch, 0, 0] = mu[ch] + mu[c + ch] } }
        var Z = naiveBN(naiveConv(S, m.fc1), m.bn1); Z.v = Z.v.map(relu)
        let L = naiveConv(Z, m.fc2)
        var Y = X
        for a in 0..<n { for ch in 0..<c {
            let p = softmax([L[a, ch, 0, 0], L[a, c + ch, 0, 0]])
            for i in 0..<h { for j in 0..<w { Y[a, ch, i, j] = p[0] * U[a, ch, i, j] + p[1] * U[a, c + ch, i, j] } }
        } }
        XCTAssertLessThan(maxDiff(try m(x), Y), 1e-4)
    }

    func testNonLocalMatchesEquation() throws {
        var rng = RandomGenerator(seed: 12)
        let m = try NonLocal(channels: c, using: &rng)
        randomise(m)
        let x = input(), X = Naive4(x)
        let T = naiveConv(X, m.theta), P = naiveConv(X, m.phi), G = naiveConv(X, m.g)
        let ci = T.c, hw = h * w
        var Yi = Naive4(n, ci, h, w)
        for a in 0..<n { for p in 0..<hw {
            let f = softmax((0..<hw).map { q in (0..<ci).reduce(0.0) { $0 + T[a, $1, p / w, p % w] * P[a, $1, q / w, q % w] } })
            for k in 0..<ci { Yi[a, k, p / w, p % w] = (0..<hw).reduce(0.0) { $0 + f[$1] * G[a, k, $1 / w, $1 % w] } }
        } }
        var Z = naiveBN(naiveConv(Yi, m.wZ), m.bn)
        Z.v = zip(Z.v, X.v).map(+)
        XCTAssertLessThan(maxDiff(try m(x), Z), 1e-4)
    }

    func testGlobalContextMatchesEquation() throws {
        var rng = RandomGenerator(seed: 13)
        let m = try GlobalContext(channels: c, reduction: 2, using: &rng)
        randomise(m)
        let x = input(), X = Naive4(x)
        let K = naiveConv(X, m.mask)
        var C = Naive4(n, c, 1, 1)
        for a in 0..<n {
            let p = softmax((0..<(h * w)).map { K[a, 0, $0 / w, $0 % w] })
            for ch in 0..<c { C[a, ch, 0, 0] = (0..<(h * w)).reduce(0.0) { $0 + p[$1] * X[a, ch, $1 / w, $1 % w] } }
        }
        var T = naiveConv(C, m.transform1)
        let g = m.norm.weight.value.scalars, b = m.norm.bias.value.scalars
        for a in 0..<n {
            let vals = (0..<T.c).map { T[a, $0, 0, 0] }
            let mean = vals.reduce(0, +) / Double(T.c), v = vals.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(T.c)
            for k in 0..<T.c { T[a, k, 0, 0] = relu((vals[k] - mean) / (v + 1e-5).squareRoot() * Double(g[k]) + Double(b[k])) }
        }
        let U = naiveConv(T, m.transform2)
        var Y = X
        for a in 0..<n { for ch in 0..<c { for i in 0..<h { for j in 0..<w { Y[a, ch, i, j] = X[a, ch, i, j] + U[a, ch, 0, 0] } } } }
        XCTAssertLessThan(maxDiff(try m(x), Y), 1e-4)
    }

    /// Windowed self-attention: a 5×6 map with window 3 is padded to 6×6 (four windows), padded
    /// keys masked; the reference loops over windows directly.
    func testWindowSelfAttentionMatchesEquation() throws {
        var rng = RandomGenerator(seed: 14)
        let (heads, ws) = (2, 3)
        let m = try WindowSelfAttention(channels: c, heads: heads, window: ws, using: &rng)
        randomise(m)
        let x = input(), X = Naive4(x)
        let d = c / heads
        let table = m.relativePositionBiasTable.value.scalars.map(Double.init)
        var Y = Naive4(n, c, h, w)
        for a in 0..<n { for wy in stride(from: 0, to: h, by: ws) { for wx in stride(from: 0, to: w, by: ws) {
            let pos = (0..<(ws * ws)).map { (wy + $0 / ws, wx + $0 % ws) }
            let inside = pos.map { $0.0 < h && $0.1 < w }
            let qkv = pos.enumerated().map { (idx, p) in inside[idx] ? naiveLinear((0..<c).map { X[a, $0, p.0, p.1] }, m.qkv) : naiveLinear([Double](repeating: 0, count: c), m.qkv) }
            for (i, p) in pos.enumerated() where inside[i] {
                var ctx = [Double](repeating: 0, count: c)
                for hd in 0..<heads {
                    let scores = (0..<(ws * ws)).map { j -> Double in
                        guard inside[j] else { return -1e30 }
                        let dot = (0..<d).reduce(0.0) { $0 + qkv[i][hd * d + $1] * qkv[j][c + hd * d + $1] } / Double(d).squareRoot()
                        let rel = (i / ws - j / ws + ws - 1) * (2 * ws - 1) + (i % ws - j % ws + ws - 1)
                        return dot + table[rel * heads + hd]
                    }
                    let p = softmax(scores)
                    for k in 0..<d { ctx[hd * d + k] = (0..<(ws * ws)).reduce(0.0) { $0 + p[$1] * qkv[$1][2 * c + hd * d + k] } }
                }
                let o = naiveLinear(ctx, m.proj)
                for ch in 0..<c { Y[a, ch, p.0, p.1] = o[ch] }
            }
        } } }
        XCTAssertLessThan(maxDiff(try m(x), Y), 1e-4)
    }

    func testLocalSelfAttentionMatchesEquation() throws {
        var rng = RandomGenerator(seed: 15)
        let (heads, k) = (2, 3)
        let m = try LocalSelfAttention(channels: c, heads: heads, window: k, using: &rng)
        randomise(m)
        let x = input(), X = Naive4(x)
        let Q = naiveConv(X, m.query), K = naiveConv(X, m.key), V = naiveConv(X, m.value)
        let d = c / heads, r = k / 2
        let b = m.relativeBias.value.scalars.map(Double.init)
        var O = Naive4(n, c, h, w)
        for a in 0..<n { for i in 0..<h { for j in 0..<w { for hd in 0..<heads {
            var scores: [Double] = [], offsets: [(Int, Int)] = []
            for t in 0..<(k * k) {
                let (yy, xx) = (i + t / k - r, j + t % k - r)
                guard yy >= 0 && yy < h && xx >= 0 && xx < w else { continue }
                scores.append((0..<d).reduce(0.0) { $0 + Q[a, hd * d + $1, i, j] * K[a, hd * d + $1, yy, xx] } / Double(d).squareRoot() + b[hd * k * k + t])
                offsets.append((yy, xx))
            }
            let p = softmax(scores)
            for e in 0..<d { O[a, hd * d + e, i, j] = zip(p, offsets).reduce(0.0) { $0 + $1.0 * V[a, hd * d + e, $1.1.0, $1.1.1] } }
        } } } }
        XCTAssertLessThan(maxDiff(try m(x), naiveConv(O, m.out)), 1e-4)
    }
}
