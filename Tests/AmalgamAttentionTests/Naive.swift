import AmalgamCore
import AmalgamNN
import Foundation

/// Direct loop transcriptions used as references: plain arrays, Double accumulation, no engine
/// kernels. Tensors `[N, C, H, W]` as `Naive4`.
struct Naive4 {
    var n, c, h, w: Int
    var v: [Double]
    init(_ n: Int, _ c: Int, _ h: Int, _ w: Int, _ fill: Double = 0) { self.n = n; self.c = c; self.h = h; self.w = w; v = Array(repeating: fill, count: n * c * h * w) }
    init(_ t: Tensor) { precondition(t.rank == 4); n = t.shape[0]; c = t.shape[1]; h = t.shape[2]; w = t.shape[3]; v = t.scalars.map(Double.init) }
    subscript(_ a: Int, _ b: Int, _ y: Int, _ x: Int) -> Double {
        get { v[((a * c + b) * h + y) * w + x] }
        set { v[((a * c + b) * h + y) * w + x] = newValue }
    }
    var tensor: Tensor { Tensor(v.map(Float.init), shape: [n, c, h, w]) }
}

func sig(_ x: Double) -> Double { 1 / (1 + exp(-x)) }
func relu(_ x: Double) -> Double { max(x, 0) }

/// Direct convolution (cross-correlation), zero padding.
func naiveConv(_ x: Naive4, _ weight: Tensor, _ bias: Tensor?, stride: Int = 1, padding: Int = 0, dilation: Int = 1, groups: Int = 1) -> Naive4 {
    let (oc, cg, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
    let wv = weight.scalars.map(Double.init), bv = bias?.scalars.map(Double.init)
    let oh = (x.h + 2 * padding - dilation * (kh - 1) - 1) / stride + 1, ow = (x.w + 2 * padding - dilation * (kw - 1) - 1) / stride + 1
    var y = Naive4(x.n, oc, oh, ow)
    let og = oc / groups
    for a in 0..<x.n { for o in 0..<oc { for i in 0..<oh { for j in 0..<ow {
        var s = bv?[o] ?? 0
        let g = o / og
        for ci in 0..<cg { for p in 0..<kh { for q in 0..<kw {
            let yy = i * stride - padding + p * dilation, xx = j * stride - padding + q * dilation
            if yy >= 0 && yy < x.h && xx >= 0 && xx < x.w { s += wv[((o * cg + ci) * kh + p) * kw + q] * x[a, g * cg + ci, yy, xx] }
        } } }
        y[a, o, i, j] = s
    } } } }
    return y
}

func naiveConv(_ x: Naive4, _ conv: Conv2d) -> Naive4 {
    naiveConv(x, conv.weight.value, conv.bias?.value, stride: conv.stride.0, padding: conv.padding.0, dilation: conv.dilation.0, groups: conv.groups)
}

/// Batch norm in training mode (batch statistics, biased variance) per channel.
func naiveBN(_ x: Naive4, _ bn: BatchNorm) -> Naive4 {
    let g = bn.weight.value.scalars, b = bn.bias.value.scalars
    var y = x
    let m = Double(x.n * x.h * x.w)
    for ch in 0..<x.c {
        var mean = 0.0, sq = 0.0
        for a in 0..<x.n { for i in 0..<x.h { for j in 0..<x.w { mean += x[a, ch, i, j] } } }
        mean /= m
        for a in 0..<x.n { for i in 0..<x.h { for j in 0..<x.w { sq += (x[a, ch, i, j] - mean) * (x[a, ch, i, j] - mean) } } }
        let inv = 1 / (sq / m + Double(bn.epsilon)).squareRoot()
        for a in 0..<x.n { for i in 0..<x.h { for j in 0..<x.w { y[a, ch, i, j] = (x[a, ch, i, j] - mean) * inv * Double(g[ch]) + Double(b[ch]) } } }
    }
    return y
}

/// Batch norm over [N, F] in training mode.
func naiveBN1(_ x: [[Double]], _ bn: BatchNorm) -> [[Double]] {
    let g = bn.weight.value.scalars, b = bn.bias.value.scalars
    var y = x
    let n = Double(x.count)
    for f in 0..<x[0].count {
        let mean = x.map { $0[f] }.reduce(0, +) / n
        let v = x.map { ($0[f] - mean) * ($0[f] - mean) }.reduce(0, +) / n
        for a in 0..<x.count { y[a][f] = (x[a][f] - mean) / (v + Double(bn.epsilon)).squareRoot() * Double(g[f]) + Double(b[f]) }
    }
    return y
}

func naiveLinear(_ x: [Double], _ l: Linear) -> [Double] {
    let (o, i) = (l.weight.value.shape[0], l.weight.value.shape[1])
    let w = l.weight.value.scalars, b = l.bias?.value.scalars
    return (0..<o).map { r in (0..<i).reduce(Double(b?[r] ?? 0)) { $0 + Double(w[r * i + $1]) * x[$1] } }
}

func channelMean(_ x: Naive4, _ a: Int) -> [Double] {
    (0..<x.c).map { ch in var s = 0.0; for i in 0..<x.h { for j in 0..<x.w { s += x[a, ch, i, j] } }; return s / Double(x.h * x.w) }
}
func channelMax(_ x: Naive4, _ a: Int) -> [Double] {
    (0..<x.c).map { ch in var s = -Double.infinity; for i in 0..<x.h { for j in 0..<x.w { s = max(s, x[a, ch, i, j]) } }; return s }
}
func softmax(_ z: [Double]) -> [Double] { let m = z.max()!; let e = z.map { exp($0 - m) }; let s = e.reduce(0, +); return e.map { $0 / s } }

func maxDiff(_ a: Tensor, _ b: Naive4) -> Double {
    precondition(a.shape == [b.n, b.c, b.h, b.w], "shape \(a.shape) vs \([b.n, b.c, b.h, b.w])")
    return zip(a.scalars, b.v).map { abs(Double($0) - $1) }.max() ?? 0
}
