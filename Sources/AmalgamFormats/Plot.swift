import Foundation

/// Minimal SVG charts for result pages (no dependencies; opens in any browser).
public enum SVGChart {
    /// A bar chart of `bars` (label, mean, standard deviation) with error bars and value labels.
    /// The value axis spans the data (±std) with a margin, so small differences stay visible;
    /// the axis range is printed on the chart.
    public static func bars(title: String, yLabel: String, bars: [(label: String, mean: Double, std: Double)],
                            width: Int = 640, height: Int = 360) -> String {
        let left = 70.0, right = 20.0, top = 40.0, bottom = 70.0
        let plotW = Double(width) - left - right, plotH = Double(height) - top - bottom
        let lows = bars.map { $0.mean - $0.std }, highs = bars.map { $0.mean + $0.std }
        var lo = lows.min() ?? 0, hi = highs.max() ?? 1
        let pad = max((hi - lo) * 0.15, 1e-3)
        lo -= pad; hi += pad
        func y(_ v: Double) -> Double { top + plotH * (1 - (v - lo) / (hi - lo)) }
        var s = header(width, height, title)
        s += axes(left: left, top: top, plotW: plotW, plotH: plotH, lo: lo, hi: hi, yLabel: yLabel, y: y)
        let slot = plotW / Double(max(bars.count, 1))
        for (i, b) in bars.enumerated() {
            let x = left + slot * Double(i) + slot * 0.2, w = slot * 0.6
            s += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%@\"/>\n",
                        x, y(b.mean), w, max(0, top + plotH - y(b.mean)), palette[i % palette.count])
            let cx = x + w / 2
            s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", cx, y(b.mean - b.std), cx, y(b.mean + b.std))
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%@</text>\n", cx, y(b.mean + b.std) - 4, fmt(b.mean))
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%@</text>\n", cx, top + plotH + 16, escape(b.label))
        }
        return s + "</svg>\n"
    }

    /// A line chart of named series over a shared x axis, with a dashed zero line when the
    /// range crosses zero.
    public static func lines(title: String, xLabel: String, yLabel: String, series: [(name: String, points: [(x: Double, y: Double)])],
                             width: Int = 640, height: Int = 360) -> String {
        let left = 70.0, right = 140.0, top = 40.0, bottom = 60.0
        let plotW = Double(width) - left - right, plotH = Double(height) - top - bottom
        let all = series.flatMap(\.points)
        let xs = all.map(\.x), ys = all.map(\.y)
        let xlo = xs.min() ?? 0, xhi = max(xs.max() ?? 1, (xs.min() ?? 0) + 1e-9)
        var lo = min(ys.min() ?? 0, 0), hi = max(ys.max() ?? 1, 0)
        let pad = max((hi - lo) * 0.1, 1e-3)
        lo -= pad; hi += pad
        func y(_ v: Double) -> Double { top + plotH * (1 - (v - lo) / (hi - lo)) }
        func x(_ v: Double) -> Double { left + plotW * (v - xlo) / (xhi - xlo) }
        var s = header(width, height, title)
        s += axes(left: left, top: top, plotW: plotW, plotH: plotH, lo: lo, hi: hi, yLabel: yLabel, y: y)
        s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"gray\" stroke-dasharray=\"4 3\"/>\n", left, y(0), left + plotW, y(0))
        for v in Set(xs).sorted() {
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%@</text>\n", x(v), top + plotH + 16, fmt(v))
        }
        s += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\">%@</text>\n", left + plotW / 2, top + plotH + 40, escape(xLabel))
        for (i, ser) in series.enumerated() {
            let color = palette[i % palette.count]
            let pts = ser.points.sorted { $0.x < $1.x }
            s += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"" + pts.map { String(format: "%.1f,%.1f", x($0.x), y($0.y)) }.joined(separator: " ") + "\"/>\n"
            for p in pts { s += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%@\"/>\n", x(p.x), y(p.y), color) }
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" fill=\"%@\">%@</text>\n", left + plotW + 10, top + 16 + 18 * Double(i), color, escape(ser.name))
        }
        return s + "</svg>\n"
    }

    /// A scatter plot of labelled points, one colour per group (a legend on the right).
    public static func scatter(title: String, xLabel: String, yLabel: String, groups: [(name: String, points: [(x: Double, y: Double, label: String)])],
                               width: Int = 720, height: Int = 440) -> String {
        let left = 70.0, right = 170.0, top = 40.0, bottom = 60.0
        let plotW = Double(width) - left - right, plotH = Double(height) - top - bottom
        let all = groups.flatMap(\.points)
        let xs = all.map(\.x), ys = all.map(\.y)
        var xlo = xs.min() ?? 0, xhi = xs.max() ?? 1, lo = ys.min() ?? 0, hi = ys.max() ?? 1
        let xpad = max((xhi - xlo) * 0.08, 1e-3), ypad = max((hi - lo) * 0.1, 1e-3)
        xlo -= xpad; xhi += xpad; lo -= ypad; hi += ypad
        func y(_ v: Double) -> Double { top + plotH * (1 - (v - lo) / (hi - lo)) }
        func x(_ v: Double) -> Double { left + plotW * (v - xlo) / (xhi - xlo) }
        var s = header(width, height, title)
        s += axes(left: left, top: top, plotW: plotW, plotH: plotH, lo: lo, hi: hi, yLabel: yLabel, y: y)
        for i in 0...4 {
            let v = xlo + (xhi - xlo) * Double(i) / 4
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"middle\">%@</text>\n", x(v), top + plotH + 16, fmt(v))
        }
        s += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\">%@</text>\n", left + plotW / 2, top + plotH + 40, escape(xLabel))
        for (i, g) in groups.enumerated() {
            let color = palette[i % palette.count]
            for p in g.points {
                s += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%@\"><title>%@</title></circle>\n", x(p.x), y(p.y), color, escape(p.label))
            }
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" fill=\"%@\">%@</text>\n", left + plotW + 10, top + 16 + 18 * Double(i), color, escape(g.name))
        }
        return s + "</svg>\n"
    }

    static let palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1", "#edc948", "#9c755f"]

    static func header(_ w: Int, _ h: Int, _ title: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(w)\" height=\"\(h)\" font-family=\"sans-serif\">\n"
            + "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
            + "<text x=\"\(w / 2)\" y=\"22\" font-size=\"14\" text-anchor=\"middle\">\(escape(title))</text>\n"
    }

    static func axes(left: Double, top: Double, plotW: Double, plotH: Double, lo: Double, hi: Double, yLabel: String, y: (Double) -> Double) -> String {
        var s = String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", left, top, left, top + plotH)
        s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", left, top + plotH, left + plotW, top + plotH)
        for i in 0...4 {
            let v = lo + (hi - lo) * Double(i) / 4
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%@</text>\n", left - 4, y(v) + 3, fmt(v))
            s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", left, y(v), left + plotW, y(v))
        }
        s += String(format: "<text x=\"14\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 14 %.1f)\">%@</text>\n",
                    top + plotH / 2, top + plotH / 2, escape(yLabel))
        return s
    }

    static func fmt(_ v: Double) -> String {
        let a = abs(v)
        if a >= 100 || (a == a.rounded() && a >= 1) { return String(format: "%.0f", v) }
        return String(format: a >= 0.01 || a == 0 ? "%.4f" : "%.2e", v)
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
