import CAmalgamDNNL
import Foundation

/// Geometry of a 2-D convolution or pooling window.
public struct Conv2dGeometry: Equatable, Sendable {
    public var kernel: (Int, Int)
    public var stride: (Int, Int)
    public var padding: (Int, Int)
    public var dilation: (Int, Int)

    public init(kernel: (Int, Int), stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1)) {
        self.kernel = kernel; self.stride = stride; self.padding = padding; self.dilation = dilation
    }

    /// Output size along one axis: ⌊(in + 2p − d(k−1) − 1)/s⌋ + 1.
    public func outputSize(_ h: Int, _ w: Int) -> (Int, Int) {
        ((h + 2 * padding.0 - dilation.0 * (kernel.0 - 1) - 1) / stride.0 + 1,
         (w + 2 * padding.1 - dilation.1 * (kernel.1 - 1) - 1) / stride.1 + 1)
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.kernel == b.kernel && a.stride == b.stride && a.padding == b.padding && a.dilation == b.dilation
    }
}

/// im2col for one image of `c` channels: col[(ci·kh + i)·kw + j, oh·OW + ow] = x[ci, oh·sh − ph + i·dh, ow·sw − pw + j·dw].
func im2col(_ x: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>, c: Int, h: Int, w: Int,
            oh: Int, ow: Int, g: Conv2dGeometry) {
    let (kh, kw) = g.kernel, (sh, sw) = g.stride, (ph, pw) = g.padding, (dh, dw) = g.dilation
    var row = 0
    for ci in 0..<c {
        let plane = x + ci * h * w
        for i in 0..<kh {
            for j in 0..<kw {
                let dst = col + row * oh * ow
                for y in 0..<oh {
                    let iy = y * sh - ph + i * dh
                    let d = dst + y * ow
                    if iy < 0 || iy >= h { d.update(repeating: 0, count: ow); continue }
                    let src = plane + iy * w
                    let x0 = j * dw - pw
                    if sw == 1 {
                        // valid ow range: 0 <= ow + x0 < w
                        let lo = Swift.max(0, -x0), hi = Swift.min(ow, w - x0)
                        if lo > 0 { d.update(repeating: 0, count: Swift.min(lo, ow)) }
                        if hi > lo { (d + lo).update(from: src + lo + x0, count: hi - lo) }
                        if hi < ow { (d + Swift.max(hi, 0)).update(repeating: 0, count: ow - Swift.max(hi, 0)) }
                    } else {
                        for xo in 0..<ow {
                            let ix = xo * sw + x0
                            d[xo] = ix >= 0 && ix < w ? src[ix] : 0
                        }
                    }
                }
                row += 1
            }
        }
    }
}

/// col2im: the adjoint of ``im2col`` (adds each column entry back into its input pixel).
func col2im(_ col: UnsafePointer<Float>, _ x: UnsafeMutablePointer<Float>, c: Int, h: Int, w: Int,
            oh: Int, ow: Int, g: Conv2dGeometry) {
    let (kh, kw) = g.kernel, (sh, sw) = g.stride, (ph, pw) = g.padding, (dh, dw) = g.dilation
    var row = 0
    for ci in 0..<c {
        let plane = x + ci * h * w
        for i in 0..<kh {
            for j in 0..<kw {
                let src = col + row * oh * ow
                for y in 0..<oh {
                    let iy = y * sh - ph + i * dh
                    if iy < 0 || iy >= h { continue }
                    let d = plane + iy * w, s = src + y * ow
                    let x0 = j * dw - pw
                    if sw == 1 {
                        let lo = Swift.max(0, -x0), hi = Swift.min(ow, w - x0)
                        if hi > lo { for xo in lo..<hi { d[xo + x0] += s[xo] } }
                    } else {
                        for xo in 0..<ow {
                            let ix = xo * sw + x0
                            if ix >= 0 && ix < w { d[ix] += s[xo] }
                        }
                    }
                }
                row += 1
            }
        }
    }
}

extension Tensor {
    /// 2-D convolution (cross-correlation, as in PyTorch) by im2col + GEMM.
    ///
    /// input `[N, C, H, W]`, weight `[OC, C/groups, kh, kw]`, bias `[OC]` → `[N, OC, OH, OW]`.
    /// Pullbacks: dW = Σₙ dY·colᵀ, dX = col2im(Wᵀ·dY), db = Σ dY; the input gradient is skipped
    /// when the input is not tracked (the first layer).
    ///
    /// Runs on ``Backend/current``: oneDNN's convolution primitives (cached by shape; see
    /// ``Backend``) or im2col + OpenBLAS. The shape checks come first and are the same for both.
    ///
    /// `fusedReLU` returns max(conv(x) + b, 0): on oneDNN the ReLU is a post-op of the
    /// convolution (applied to each output block while it is still in cache, one pass over memory
    /// fewer, forward and backward); on OpenBLAS it is the separate ``relu()``. Its gradient masks
    /// the incoming gradient by y > 0, as ``relu()``'s does.
    public static func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil,
                              stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                              dilation: (Int, Int) = (1, 1), groups: Int = 1, fusedReLU: Bool = false) -> Tensor {
        precondition(input.rank == 4 && weight.rank == 4, "conv2d needs input [N, C, H, W] and weight [OC, C/g, kh, kw], got \(input.shape) and \(weight.shape)")
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let (oc, cg, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
        precondition(groups >= 1 && c % groups == 0 && oc % groups == 0 && cg == c / groups,
                     "conv2d: input has \(c) channels, weight \(weight.shape) with groups \(groups)")
        precondition(stride.0 >= 1 && stride.1 >= 1 && dilation.0 >= 1 && dilation.1 >= 1 && padding.0 >= 0 && padding.1 >= 0,
                     "conv2d: stride \(stride) and dilation \(dilation) must be ≥ 1, padding \(padding) ≥ 0")
        let geo = Conv2dGeometry(kernel: (kh, kw), stride: stride, padding: padding, dilation: dilation)
        let (oh, ow) = geo.outputSize(h, w)
        precondition(oh > 0 && ow > 0, "conv2d: input \(h)×\(w) is smaller than the kernel \(kh)×\(kw) (dilation \(dilation), padding \(padding))")
        if let bias { precondition(bias.shape == [oc], "conv2d: bias \(bias.shape) for \(oc) output channels") }
        MACCounter.add(n * oc * oh * ow * cg * kh * kw)
        if Backend.usesOneDNN && n > 0 {
            let key = OneDNNConvolutions.Key(n: n, c: c, h: h, w: w, oc: oc, kh: kh, kw: kw, sh: stride.0, sw: stride.1,
                                             ph: padding.0, pw: padding.1, dh: dilation.0, dw: dilation.1, groups: groups,
                                             bias: bias != nil, relu: fusedReLU)
            if let out = conv2dOneDNN(input, weight: weight, bias: bias, key: key, outShape: [n, oc, oh, ow]) { return out }
        }
        let out = conv2dOpenBLAS(input, weight: weight, bias: bias, geo: geo, groups: groups, outShape: [n, oc, oh, ow])
        return fusedReLU ? out.relu() : out
    }

    /// The oneDNN path of ``conv2d(_:weight:bias:stride:padding:dilation:groups:)``; nil when
    /// oneDNN refuses the configuration (it then runs on OpenBLAS).
    static func conv2dOneDNN(_ input: Tensor, weight: Tensor, bias: Tensor?, key: OneDNNConvolutions.Key, outShape: [Int]) -> Tensor? {
        var out = Tensor(uninitializedShape: outShape)
        let ok: Bool = OneDNNConvolutions.lock.withLock {
            guard let prim = OneDNNConvolutions.primitive(key) else { return false }
            return Threading.withOneDNNThreads {
                amalgam_conv_forward(prim.handle, input.storage.pointer, weight.storage.pointer, bias?.storage.pointer, out.storage.pointer) == 0
            }
        }
        guard ok else { return nil }
        var inputs = [input, weight]
        if let bias { inputs.append(bias) }
        let y = out
        record(&out, inputs) { gOut, needs in
            // The ReLU post-op's gradient first: keep g where the output is positive.
            let g = key.relu ? reluGradient(gOut, output: y) : gOut
            var dx: Tensor? = needs[0] ? Tensor(uninitializedShape: input.shape) : nil
            var dW: Tensor? = needs[1] || (bias != nil && needs[2]) ? Tensor(uninitializedShape: weight.shape) : nil
            var db: Tensor? = bias != nil && needs[2] ? Tensor(uninitializedShape: [key.oc]) : nil
            OneDNNConvolutions.lock.withLock {
                // The primitive was created by the forward call; it is recreated if the cache was
                // emptied in between.
                guard let prim = OneDNNConvolutions.primitive(key) else { preconditionFailure("oneDNN convolution vanished: \(key)") }
                Threading.withOneDNNThreads {
                    if let dW {
                        let rc = amalgam_conv_backward_weights(prim.handle, input.storage.pointer, g.storage.pointer, dW.storage.pointer, db?.storage.pointer)
                        precondition(rc == 0, "oneDNN convolution backward-weights failed: \(String(cString: amalgam_dnnl_message()))")
                    }
                    if let dx {
                        let rc = amalgam_conv_backward_data(prim.handle, g.storage.pointer, weight.storage.pointer, dx.storage.pointer)
                        precondition(rc == 0, "oneDNN convolution backward-data failed: \(String(cString: amalgam_dnnl_message()))")
                    }
                }
            }
            if !needs[1] { dW = nil }
            dx?.node = nil; dW?.node = nil; db?.node = nil
            var result: [Tensor?] = [dx, dW]
            if bias != nil { result.append(db) }
            return result
        }
        return out
    }

    /// The OpenBLAS path: im2col + SGEMM per image (split over the kernel workers), col2im back.
    static func conv2dOpenBLAS(_ input: Tensor, weight: Tensor, bias: Tensor?, geo: Conv2dGeometry, groups: Int, outShape: [Int]) -> Tensor {
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let (oc, cg, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
        let (oh, ow) = (outShape[2], outShape[3])
        let (stride, padding) = (geo.stride, geo.padding)
        let ocg = oc / groups, kc = cg * kh * kw, p = oh * ow
        let direct = kh == 1 && kw == 1 && stride == (1, 1) && padding == (0, 0)
        var out = Tensor(uninitializedShape: [n, oc, oh, ow])
        let px = input.storage.pointer, pw = weight.storage.pointer, po = out.storage.pointer
        let work = 2.0 * Double(n * oc * p * kc)
        // Ungrouped im2col convolutions take the transposed product outᵀ = colᵀ·Wᵀ ([P, OC]) and
        // transpose it back while adding the bias: OpenBLAS runs that shape markedly faster than
        // W·col when OC is much smaller than P (the usual case).
        let transposed = groups == 1 && !direct && oc < p
        parallelChunks(count: n, work: work) { _, range in
            let col = direct ? nil : UnsafeMutablePointer<Float>.allocate(capacity: kc * p)
            let tmp = transposed ? UnsafeMutablePointer<Float>.allocate(capacity: p * oc) : nil
            defer { col?.deallocate(); tmp?.deallocate() }
            for s in range {
                if let tmp, let col {
                    im2col(px + s * c * h * w, col, c: c, h: h, w: w, oh: oh, ow: ow, g: geo)
                    sgemm(UnsafePointer(col), pw, tmp, m: p, n: oc, k: kc, transposeA: true, transposeB: true)
                    let pb = bias?.storage.pointer
                    for o in 0..<oc {
                        let d = po + (s * oc + o) * p, v = pb?[o] ?? 0
                        for i in 0..<p { d[i] = tmp[i * oc + o] + v }
                    }
                    continue
                }
                for gi in 0..<groups {
                    let xg = px + (s * c + gi * cg) * h * w
                    let src: UnsafePointer<Float>
                    if let col { im2col(xg, col, c: cg, h: h, w: w, oh: oh, ow: ow, g: geo); src = UnsafePointer(col) } else { src = UnsafePointer(xg) }
                    sgemm(pw + gi * ocg * kc, src, po + (s * oc + gi * ocg) * p, m: ocg, n: p, k: kc, transposeA: false, transposeB: false)
                }
                if let bias {
                    let pb = bias.storage.pointer
                    for o in 0..<oc { let d = po + (s * oc + o) * p; let v = pb[o]; for i in 0..<p { d[i] += v } }
                }
            }
        }
        var inputs = [input, weight]
        if let bias { inputs.append(bias) }
        record(&out, inputs) { g, needs in
            let pg = g.storage.pointer
            var dx: Tensor? = needs[0] ? Tensor.zeros(input.shape) : nil
            let workers = Swift.min(Threading.kernelWorkers, n)
            let partials = needs[1] ? (0..<workers).map { _ in TensorStorage(repeating: 0, count: weight.count) } : []
            let pdx = dx?.storage.pointer
            parallelChunks(count: n, work: 2 * work) { wi, range in
                let col = UnsafeMutablePointer<Float>.allocate(capacity: kc * p)
                defer { col.deallocate() }
                let dw = needs[1] ? partials[wi].pointer : nil
                for s in range {
                    for gi in 0..<groups {
                        let gy = pg + (s * oc + gi * ocg) * p
                        let xg = px + (s * c + gi * cg) * h * w
                        if needs[1] {
                            let src: UnsafePointer<Float>
                            if direct { src = UnsafePointer(xg) } else { im2col(xg, col, c: cg, h: h, w: w, oh: oh, ow: ow, g: geo); src = UnsafePointer(col) }
                            sgemm(gy, src, dw! + gi * ocg * kc, m: ocg, n: kc, k: p, transposeA: false, transposeB: true, beta: 1)
                        }
                        if let pdx {
                            let dxg = pdx + (s * c + gi * cg) * h * w
                            if direct {
                                sgemm(pw + gi * ocg * kc, gy, dxg, m: kc, n: p, k: ocg, transposeA: true, transposeB: false, beta: 1)
                            } else {
                                sgemm(pw + gi * ocg * kc, gy, col, m: kc, n: p, k: ocg, transposeA: true, transposeB: false)
                                col2im(col, dxg, c: cg, h: h, w: w, oh: oh, ow: ow, g: geo)
                            }
                        }
                    }
                }
            }
            var dW: Tensor? = nil
            if needs[1] {
                var t = Tensor(shape: weight.shape, storage: partials[0])
                for k in 1..<partials.count { let q = partials[k].pointer, d = t.storage.pointer; for i in 0..<t.count { d[i] += q[i] } }
                t.node = nil
                dW = t
            }
            var result: [Tensor?] = [dx, dW]
            if bias != nil {
                if needs[2] {
                    var db = Tensor.zeros([oc])
                    let pdb = db.storage.pointer
                    for s in 0..<n { for o in 0..<oc { var acc: Float = 0; let r = pg + (s * oc + o) * p; for i in 0..<p { acc += r[i] }; pdb[o] += acc } }
                    db.node = nil
                    result.append(db)
                } else { result.append(nil) }
            }
            if dx != nil { dx!.node = nil }
            return result
        }
        return out
    }

    /// 2-D max pooling over `[N, C, H, W]` (padding counts as −∞); the gradient goes to the first
    /// maximal element of each window.
    public static func maxPool2d(_ input: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil,
                                 padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1)) -> Tensor {
        precondition(input.rank == 4, "maxPool2d needs [N, C, H, W], got \(input.shape)")
        let geo = Conv2dGeometry(kernel: kernel, stride: stride ?? kernel, padding: padding, dilation: dilation)
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let (oh, ow) = geo.outputSize(h, w)
        precondition(oh > 0 && ow > 0, "maxPool2d: input \(h)×\(w) too small for kernel \(kernel)")
        var out = Tensor(uninitializedShape: [n, c, oh, ow])
        var argmax = [Int32](repeating: 0, count: out.count)
        let px = input.storage.pointer, po = out.storage.pointer
        // Planes are independent: split them over the kernel workers when the work pays.
        let work = Double(out.count * geo.kernel.0 * geo.kernel.1) * 2
        argmax.withUnsafeMutableBufferPointer { amb in
          let am = amb.baseAddress!
          parallelChunks(count: n * c, work: work) { _, planes in
            if geo.kernel == (2, 2) && geo.stride == (2, 2) && padding == (0, 0) && dilation == (1, 1) {
                // The common case (every CNN here): four candidates per window, no bounds checks.
                for plane in planes {
                    let src = px + plane * h * w
                    for y in 0..<oh {
                        let r0 = src + 2 * y * w, r1 = r0 + w
                        let o = (plane * oh + y) * ow
                        for x in 0..<ow {
                            let a = r0[2 * x], b1 = r0[2 * x + 1], b2 = r1[2 * x], b3 = r1[2 * x + 1]
                            let i0 = Int32(truncatingIfNeeded: 2 * y * w + 2 * x), w32 = Int32(truncatingIfNeeded: w)
                            var best = a, bi = i0
                            if a.isNaN || b1.isNaN || b2.isNaN || b3.isNaN {
                                // A NaN wins and stays (as in PyTorch and the general path below).
                                if !a.isNaN { best = b1.isNaN ? b1 : (b2.isNaN ? b2 : b3); bi = b1.isNaN ? i0 &+ 1 : (b2.isNaN ? i0 &+ w32 : i0 &+ w32 &+ 1) }
                            } else {
                                // No NaN (the usual case): plain comparisons, which compile to selects.
                                if b1 > best { best = b1; bi = i0 &+ 1 }
                                if b2 > best { best = b2; bi = i0 &+ w32 }
                                if b3 > best { best = b3; bi = i0 &+ w32 &+ 1 }
                            }
                            po[o + x] = best
                            am[o + x] = bi
                        }
                    }
                }
                return
            }
            for plane in planes {
                let src = px + plane * h * w
                for y in 0..<oh {
                    for x in 0..<ow {
                        var best = -Float.infinity, bi = -1
                        for i in 0..<geo.kernel.0 {
                            let iy = y * geo.stride.0 - geo.padding.0 + i * geo.dilation.0
                            if iy < 0 || iy >= h { continue }
                            for j in 0..<geo.kernel.1 {
                                let ix = x * geo.stride.1 - geo.padding.1 + j * geo.dilation.1
                                if ix < 0 || ix >= w { continue }
                                let v = src[iy * w + ix]
                                if v > best || bi < 0 || v.isNaN { best = v; bi = iy * w + ix; if v.isNaN { break } }
                            }
                        }
                        let o = (plane * oh + y) * ow + x
                        po[o] = best
                        am[o] = Int32(bi)
                    }
                }
            }
          }
        }
        let inShape = input.shape
        record(&out, [input]) { g, _ in
            var dx = Tensor.zeros(inShape)
            let pg = g.storage.pointer, pd = dx.storage.pointer
            argmax.withUnsafeBufferPointer { am in
                parallelChunks(count: n * c, work: Double(oh * ow * n * c) * 4) { _, planes in
                    for plane in planes {
                        for k in 0..<(oh * ow) {
                            let o = plane * oh * ow + k
                            if am[o] >= 0 { pd[plane * h * w + Int(am[o])] += pg[o] }
                        }
                    }
                }
            }
            return [dx]
        }
        return out
    }

    /// 2-D average pooling over `[N, C, H, W]`; padded positions count in the divisor
    /// (`count_include_pad=True`, PyTorch's default).
    public static func avgPool2d(_ input: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) -> Tensor {
        precondition(input.rank == 4, "avgPool2d needs [N, C, H, W], got \(input.shape)")
        let geo = Conv2dGeometry(kernel: kernel, stride: stride ?? kernel, padding: padding)
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let (oh, ow) = geo.outputSize(h, w)
        precondition(oh > 0 && ow > 0, "avgPool2d: input \(h)×\(w) too small for kernel \(kernel)")
        let bins = (0..<oh).map { y in (y * geo.stride.0 - padding.0, y * geo.stride.0 - padding.0 + kernel.0) }
        let binsW = (0..<ow).map { x in (x * geo.stride.1 - padding.1, x * geo.stride.1 - padding.1 + kernel.1) }
        // With padding counted, the divisor is the window clipped to the padded input.
        let divisor: (Int, Int, Int, Int) -> Float = { y0, y1, x0, x1 in
            Float((Swift.min(y1, h + padding.0) - Swift.max(y0, -padding.0)) * (Swift.min(x1, w + padding.1) - Swift.max(x0, -padding.1)))
        }
        return windowAverage(input, bins: bins, binsW: binsW, divisor: divisor)
    }

    /// Adaptive average pooling to `[N, C, outH, outW]`: bin i spans ⌊i·H/outH⌋ ..< ⌈(i+1)·H/outH⌉ (as in PyTorch).
    public static func adaptiveAvgPool2d(_ input: Tensor, outputSize: (Int, Int)) -> Tensor {
        precondition(input.rank == 4, "adaptiveAvgPool2d needs [N, C, H, W], got \(input.shape)")
        let (h, w) = (input.shape[2], input.shape[3])
        let bins = (0..<outputSize.0).map { i in (i * h / outputSize.0, ((i + 1) * h + outputSize.0 - 1) / outputSize.0) }
        let binsW = (0..<outputSize.1).map { i in (i * w / outputSize.1, ((i + 1) * w + outputSize.1 - 1) / outputSize.1) }
        return windowAverage(input, bins: bins, binsW: binsW) { y0, y1, x0, x1 in Float((y1 - y0) * (x1 - x0)) }
    }

    /// Averages windows [y0, y1) × [x0, x1) (clipped to the input) with a given divisor.
    static func windowAverage(_ input: Tensor, bins: [(Int, Int)], binsW: [(Int, Int)], divisor: (Int, Int, Int, Int) -> Float) -> Tensor {
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let oh = bins.count, ow = binsW.count
        var scale = [Float](repeating: 0, count: oh * ow)
        for (y, b) in bins.enumerated() { for (x, bw) in binsW.enumerated() { scale[y * ow + x] = 1 / divisor(b.0, b.1, bw.0, bw.1) } }
        var out = Tensor(uninitializedShape: [n, c, oh, ow])
        let px = input.storage.pointer, po = out.storage.pointer
        for plane in 0..<(n * c) {
            let src = px + plane * h * w
            for (y, b) in bins.enumerated() {
                for (x, bw) in binsW.enumerated() {
                    var acc: Float = 0
                    for iy in Swift.max(b.0, 0)..<Swift.min(b.1, h) { for ix in Swift.max(bw.0, 0)..<Swift.min(bw.1, w) { acc += src[iy * w + ix] } }
                    po[(plane * oh + y) * ow + x] = acc * scale[y * ow + x]
                }
            }
        }
        let inShape = input.shape
        record(&out, [input]) { g, _ in
            var dx = Tensor.zeros(inShape)
            let pg = g.storage.pointer, pd = dx.storage.pointer
            for plane in 0..<(n * c) {
                let dst = pd + plane * h * w
                for (y, b) in bins.enumerated() {
                    for (x, bw) in binsW.enumerated() {
                        let v = pg[(plane * oh + y) * ow + x] * scale[y * ow + x]
                        for iy in Swift.max(b.0, 0)..<Swift.min(b.1, h) { for ix in Swift.max(bw.0, 0)..<Swift.min(bw.1, w) { dst[iy * w + ix] += v } }
                    }
                }
            }
            return [dx]
        }
        return out
    }
}
