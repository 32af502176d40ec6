import Foundation
import Platform
import Synchronization

/// Head or not, from the pixels: a slice shows a skull when bone (after closing small gaps) encloses
/// a brain-sized region of brain-like density. Sampled at about 1 mm, which is enough for a skull.
package enum SkullCheck {
    package static let brainHU: ClosedRange<Int16> = -10...90
    package static let brainFraction = 0.85
    package static let brainMean: ClosedRange<Double> = 0...70
    /// A head series shows a skull in at least this fraction of its slices.
    package static let headFraction = 0.05

    package static func run(_ v: Volume) -> HeadCheck {
        guard v.columns >= 16, v.rows >= 16, v.slices >= 1, v.columnSpacing > 0, v.rowSpacing > 0 else {
            return HeadCheck(isHead: false, reason: "image too small to show a skull: not a head series")
        }
        let f = max(1, Int((1.0 / min(v.columnSpacing, v.rowSpacing)).rounded(.down)))
        let columns = (v.columns + f - 1) / f, rows = (v.rows + f - 1) / f
        let shape = PlaneShape(columns: columns, rows: rows, wordsPerRow: (columns + 63) / 64)
        let cs = v.columnSpacing * Double(f), rs = v.rowSpacing * Double(f)
        let r = DefacingParameters.closingRadius
        let needed = max(1, Int((headFraction * Double(v.slices)).rounded(.up)))
        // Slices in an order spread over the whole series, so that a head shows enough skulls after
        // a few of them: once it has, the rest are not looked at. Only a series that is not a head is
        // looked at whole.
        let order = spread(v.slices)
        let skulls = Atomic<Int>(0)
        var found = [Bool](repeating: false, count: v.slices)
        v.hu.withUnsafeBufferPointer { huBuffer in
            found.withUnsafeMutableBufferPointer { foundBuffer in
                let hu = SharedHU(base: huBuffer.baseAddress!)
                let out = SharedPointer(base: foundBuffer.baseAddress!)
                parallelFor(v.slices) { n in
                    if skulls.load(ordering: .relaxed) >= needed { return }
                    let k = order[n]
                    var bone = [UInt64](repeating: 0, count: shape.wordCount)
                    var tissue = [UInt64](repeating: 0, count: shape.wordCount)
                    var enclosed = [UInt64](repeating: 0, count: shape.wordCount)
                    let plane = hu.base + k * v.rows * v.columns
                    bone.withUnsafeMutableBufferPointer { b in
                        tissue.withUnsafeMutableBufferPointer { t in
                            enclosed.withUnsafeMutableBufferPointer { e in
                                classify(plane, columns: v.columns, shape: shape, bone: b.baseAddress!,
                                         tissue: t.baseAddress!, step: f)
                                enclosedTissue(bone: b.baseAddress!, tissue: t.baseAddress!, shape: shape,
                                               rx: r / cs, ry: r / rs, into: e.baseAddress!)
                                out[k] = showsSkull(e.baseAddress!, shape: shape, hu: plane, columns: v.columns,
                                                    step: f, pixelArea: cs * rs)
                                if out[k] { skulls.add(1, ordering: .relaxed) }
                            }
                        }
                    }
                }
            }
        }
        let count = found.filter { $0 }.count
        if count == 0 { return HeadCheck(isHead: false, reason: "no skull: not a head series") }
        if count < needed {
            return HeadCheck(isHead: false, reason: "skull found in only \(count) of \(v.slices) slices: not a head series")
        }
        return HeadCheck(isHead: true, reason: "skull found in at least \(count) of \(v.slices) slices")
    }

    /// 0..<count as every 2^n-th, then those halfway between, and so on.
    package static func spread(_ count: Int) -> [Int] {
        var order: [Int] = [], taken = [Bool](repeating: false, count: count)
        var spacing = 1
        while spacing * 2 <= count { spacing *= 2 }
        while spacing >= 1 {
            for k in stride(from: 0, to: count, by: spacing) where !taken[k] {
                order.append(k)
                taken[k] = true
            }
            spacing /= 2
        }
        return order
    }

    /// The largest enclosed region is brain-sized and of brain-like density.
    package static func showsSkull(_ enclosed: UnsafePointer<UInt64>, shape: PlaneShape, hu: UnsafePointer<Int16>,
                           columns: Int, step: Int, pixelArea: Double) -> Bool {
        let runs = Runs(plane: enclosed, shape: shape)
        guard runs.count > 0 else { return false }
        var uf = runs.components()
        var size = [Int](repeating: 0, count: runs.count)
        for r in 0..<runs.count { size[uf.find(r)] += Int(runs.ends[r] - runs.starts[r]) }
        let largest = size.indices.max { size[$0] < size[$1] }!
        guard Double(size[largest]) * pixelArea >= DefacingParameters.cranialArea else { return false }
        var inside = 0, total = 0, sum = 0
        for j in 0..<shape.rows {
            for r in runs.range(row: j) where uf.find(r) == largest {
                for c in Int(runs.starts[r])..<Int(runs.ends[r]) {
                    let h = hu[j * step * columns + c * step]
                    total += 1
                    sum += Int(h)
                    if brainHU.contains(h) { inside += 1 }
                }
            }
        }
        let mean = Double(sum) / Double(total)
        return Double(inside) >= brainFraction * Double(total) && brainMean.contains(mean)
    }
}
