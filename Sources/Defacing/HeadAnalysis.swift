import Foundation
import Platform

/// Thresholds and distances of the defacer, in HU and millimetres.
package enum DefacingParameters {
    /// Above this is the body (skin edge included); below it is air.
    package static let bodyHU: Int16 = -500
    /// Bone: never changed, and a ray from the face stops at it.
    package static let boneHU: Int16 = 250
    /// Voxels at or below this are air already and are left as they are.
    package static let airFloorHU: Int16 = -900
    /// Gaps in the skull narrower than twice this (foramina, fissures, sutures, partial volume)
    /// are closed before asking which tissue the bone encloses.
    package static let closingRadius = 3.5
    /// The intracranial space grows by this much (in 3-D) before the face may not enter it.
    package static let protectionMargin = 2.5
    /// An enclosed region this large in a slice is a cranial cavity (brain), not a sinus or canal.
    package static let cranialArea = 2000.0 // mm²
}

/// Per-slice anatomy that every later step uses: the intracranial space (tissue enclosed by bone in
/// its slice, after closing small gaps in the bone), the protected region (that space plus a 3-D
/// margin) and the body (largest 3-D component above the air threshold, so a table or headrest is
/// not mistaken for the patient).
package final class HeadAnalysis: @unchecked Sendable {
    package let shape: PlaneShape
    package let enclosed: BitVolume
    package let protected: BitVolume
    package let body: BitVolume
    /// The enclosed tissue grown in-plane by the margin (kept to recompute `protected` locally).
    package let grown: BitVolume
    package let marginColumns: Int
    package let marginRows: Int
    /// Runs of bone per slice (for the facial skeleton's components).
    package let boneRuns: [Runs]
    /// Enclosed tissue per slice (mm²).
    package let enclosedArea: [Double]

    package init(_ v: Volume) {
        shape = PlaneShape(columns: v.columns, rows: v.rows, wordsPerRow: (v.columns + 63) / 64)
        enclosed = BitVolume(columns: v.columns, rows: v.rows, slices: v.slices)
        protected = BitVolume(columns: v.columns, rows: v.rows, slices: v.slices)
        body = BitVolume(columns: v.columns, rows: v.rows, slices: v.slices)
        grown = BitVolume(columns: v.columns, rows: v.rows, slices: v.slices)
        let m = DefacingParameters.protectionMargin
        // Every voxel within the margin (Euclidean) lies within these column and row offsets.
        marginColumns = Int((m / v.columnSpacing).rounded(.down))
        marginRows = Int((m / v.rowSpacing).rounded(.down))
        let shape = self.shape, enclosed = self.enclosed
        struct SliceScan { var area = 0.0; var tissue = Runs(); var bone = Runs() }
        var scans = [SliceScan](repeating: SliceScan(), count: v.slices)
        let r = DefacingParameters.closingRadius
        let pixelArea = v.columnSpacing * v.rowSpacing

        v.hu.withUnsafeBufferPointer { huBuffer in
            scans.withUnsafeMutableBufferPointer { scanBuffer in
                let hu = SharedHU(base: huBuffer.baseAddress!)
                let out = SharedPointer(base: scanBuffer.baseAddress!)
                parallelFor(v.slices) { k in
                    var bone = [UInt64](repeating: 0, count: shape.wordCount)
                    var tissue = [UInt64](repeating: 0, count: shape.wordCount)
                    let plane = hu.base + k * v.rows * v.columns
                    bone.withUnsafeMutableBufferPointer { b in
                        tissue.withUnsafeMutableBufferPointer { t in
                            classify(plane, columns: v.columns, shape: shape, bone: b.baseAddress!, tissue: t.baseAddress!)
                            let e = enclosed.plane(k)
                            enclosedTissue(bone: b.baseAddress!, tissue: t.baseAddress!, shape: shape,
                                           rx: r / v.columnSpacing, ry: r / v.rowSpacing, into: e)
                            var n = 0
                            for x in 0..<shape.wordCount { n += e[x].nonzeroBitCount }
                            out[k] = SliceScan(area: Double(n) * pixelArea,
                                               tissue: Runs(plane: t.baseAddress!, shape: shape),
                                               bone: Runs(plane: b.baseAddress!, shape: shape))
                        }
                    }
                }
            }
        }
        enclosedArea = scans.map(\.area)
        boneRuns = scans.map(\.bone)
        let tissueRuns = scans.map(\.tissue)

        // Body: largest 6-connected component of the runs above the air threshold.
        let (offsets, roots) = components3D(tissueRuns, rows: v.rows)
        var size = [Int](repeating: 0, count: roots.count)
        for k in 0..<v.slices {
            let runs = tissueRuns[k]
            for r in 0..<runs.count { size[Int(roots[offsets[k] + r])] += Int(runs.ends[r] - runs.starts[r]) }
        }
        let largest = size.indices.max { size[$0] < size[$1] } ?? -1
        let body = self.body
        let frozenRuns = tissueRuns, frozenRoots = roots, frozenOffsets = offsets
        parallelFor(v.slices) { k in
            let base = frozenOffsets[k]
            frozenRuns[k].paint(into: body.plane(k), shape: shape) { Int(frozenRoots[base + $0]) == largest }
        }

        // Protected: the enclosed tissue grown by the margin in-plane (square, so at least the
        // margin in every direction) and across every slice within the margin along the normal.
        updateProtection(v, slices: Array(0..<v.slices))
    }

    /// Recomputes the grown and protected planes of `slices` (and of the slices their margin reaches).
    package func updateProtection(_ v: Volume, slices: [Int]) {
        let shape = self.shape, enclosed = self.enclosed, grown = self.grown, protected = self.protected
        let rx = marginColumns, ry = marginRows
        parallelFor(slices.count) { n in
            let k = slices[n]
            shape.dilateBox(enclosed.plane(k), into: grown.plane(k), rx: rx, ry: ry)
        }
        let m = DefacingParameters.protectionMargin
        let normal = v.normal
        let depth = v.origins.map { $0.x * normal.x + $0.y * normal.y + $0.z * normal.z }
        let targets = (0..<v.slices).filter { k in slices.contains { abs(depth[$0] - depth[k]) <= m + 1e-6 } }
        parallelFor(targets.count) { n in
            let k = targets[n]
            let out = protected.plane(k)
            for x in 0..<shape.wordCount { out[x] = 0 }
            for k2 in 0..<v.slices where abs(depth[k2] - depth[k]) <= m + 1e-6 {
                let src = grown.plane(k2)
                for x in 0..<shape.wordCount { out[x] |= src[x] }
            }
        }
    }

    /// An orbit roofed by bone within its slice looks enclosed, but it is face, not brain: the orbit
    /// model, and enclosed regions lying wholly within it grown by the margin, leave the intracranial
    /// space. (The model reaches 2 mm above and 5 mm behind the globe: the orbital roof and the apex
    /// keep the brain further away.)
    package func releaseOrbits(_ v: Volume, _ limits: FaceLimits) {
        guard !limits.globes.isEmpty else { return }
        let n = v.normal
        let grow = DefacingParameters.protectionMargin
        let reach = limits.globes.map { limits.orbitReach($0, grownBy: grow) }.max()!
        let slices = (0..<v.slices).filter { k in
            limits.globes.contains { g in abs(((g.centre - v.origins[k]) * n).sum()) <= reach }
        }
        let enclosed = self.enclosed, shape = self.shape
        parallelFor(slices.count) { s in
            let k = slices[s]
            let plane = enclosed.plane(k)
            let runs = Runs(plane: plane, shape: shape)
            guard runs.count > 0 else { return }
            var uf = runs.components()
            // Only pixels in a globe's box are looked at closely (the brain fills most of the slice).
            let boxes = limits.orbitBoxes(v, slice: k, grownBy: grow)
            func inOrbit(_ i: Int, _ j: Int, grownBy grow: Double) -> Bool {
                boxes.contains { $0.i.contains(Double(i)) && $0.j.contains(Double(j)) }
                    && limits.inOrbit(v.position(i, j, k), grownBy: grow)
            }
            var inside = [Bool](repeating: true, count: runs.count)
            for j in 0..<v.rows {
                for r in runs.range(row: j) {
                    let root = uf.find(r)
                    guard inside[root] else { continue }
                    for i in Int(runs.starts[r])..<Int(runs.ends[r]) where !inOrbit(i, j, grownBy: grow) {
                        inside[root] = false
                        break
                    }
                }
            }
            for j in 0..<v.rows {
                for r in runs.range(row: j) {
                    let whole = inside[uf.find(r)]
                    for i in Int(runs.starts[r])..<Int(runs.ends[r]) where whole || inOrbit(i, j, grownBy: 0) {
                        enclosed.clear(i, j, k)
                    }
                }
            }
        }
        updateProtection(v, slices: slices)
    }
}

package struct SharedHU: @unchecked Sendable {
    package let base: UnsafePointer<Int16>
}

/// Read-only words shared by the workers of `parallelFor`.
package struct SharedWords: @unchecked Sendable {
    package let base: UnsafePointer<UInt64>
}

/// Bone (HU >= 250) and body (HU >= -500) bits of one slice, every `step`-th voxel of every
/// `step`-th row.
package func classify(_ hu: UnsafePointer<Int16>, columns: Int, shape: PlaneShape,
              bone: UnsafeMutablePointer<UInt64>, tissue: UnsafeMutablePointer<UInt64>, step: Int = 1) {
    let boneHU = DefacingParameters.boneHU, bodyHU = DefacingParameters.bodyHU
    for j in 0..<shape.rows {
        let src = hu + j * step * columns
        let b = bone + j * shape.wordsPerRow, t = tissue + j * shape.wordsPerRow
        for x in 0..<shape.wordsPerRow {
            let c0 = x << 6
            if c0 + 64 <= shape.columns {
                // Whole words without a branch per voxel (this was the defacer's hottest loop);
                // contiguous values (the common case) 16 at a time.
                (b[x], t[x]) = step == 1 ? thresholdBits(src + c0, boneHU, bodyHU)
                                         : thresholdBits(src + c0 * step, step: step, boneHU, bodyHU)
                continue
            }
            var bw: UInt64 = 0, tw: UInt64 = 0
            for c in c0..<shape.columns {
                let h = src[c * step]
                if h >= boneHU { bw |= 1 << UInt64(c - c0) }
                if h >= bodyHU { tw |= 1 << UInt64(c - c0) }
            }
            b[x] = bw
            t[x] = tw
        }
    }
}

/// Bit n of the results is set when value n of the 64 at `p` (every `step`-th) is >= `high`
/// (first) or >= `low` (second). Eight flags are gathered into a byte by one multiplication.
@inline(__always) package func thresholdBits(_ p: UnsafePointer<Int16>, step: Int, _ high: Int16, _ low: Int16) -> (UInt64, UInt64) {
    var a: UInt64 = 0, b: UInt64 = 0
    for g in 0..<8 {
        var fa: UInt64 = 0, fb: UInt64 = 0
        for c in 0..<8 {
            let h = p[(g * 8 + c) * step]
            fa |= UInt64(h >= high ? 1 : 0) << UInt64(8 * c)
            fb |= UInt64(h >= low ? 1 : 0) << UInt64(8 * c)
        }
        a |= ((fa &* 0x0102_0408_1020_4080) >> 56) << UInt64(8 * g)
        b |= ((fb &* 0x0102_0408_1020_4080) >> 56) << UInt64(8 * g)
    }
    return (a, b)
}

/// `thresholdBits` of 64 contiguous values, 16 at a time: a comparison gives 16 lanes of all-ones
/// or zero, which select one power of two each, and their sum is the 16 flags as bits.
@inline(__always) package func thresholdBits(_ p: UnsafePointer<Int16>, _ high: Int16, _ low: Int16) -> (UInt64, UInt64) {
    let weights = SIMD16<UInt16>(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
    let zero = SIMD16<UInt16>(), highs = SIMD16<Int16>(repeating: high), lows = SIMD16<Int16>(repeating: low)
    let raw = UnsafeRawPointer(p)
    var a: UInt64 = 0, b: UInt64 = 0
    for q in 0..<4 {
        let values = raw.loadUnaligned(fromByteOffset: 32 * q, as: SIMD16<Int16>.self)
        a |= UInt64(zero.replacing(with: weights, where: values .>= highs).wrappedSum()) << UInt64(16 * q)
        b |= UInt64(zero.replacing(with: weights, where: values .>= lows).wrappedSum()) << UInt64(16 * q)
    }
    return (a, b)
}

/// Tissue enclosed by bone in one slice: not bone, and not reachable from the image border without
/// crossing bone, where bone is first grown by the closing radius (so gaps narrower than twice it
/// do not let the outside in) and the outside is then grown back by the same radius.
package func enclosedTissue(bone: UnsafeMutablePointer<UInt64>, tissue: UnsafePointer<UInt64>, shape: PlaneShape,
                    rx: Double, ry: Double, into out: UnsafeMutablePointer<UInt64>) {
    let wc = shape.wordCount, n = shape.wordsPerRow
    var grownBone = [UInt64](repeating: 0, count: wc)
    var outside = [UInt64](repeating: 0, count: wc)
    grownBone.withUnsafeMutableBufferPointer { g in
        outside.withUnsafeMutableBufferPointer { o in
            let g = g.baseAddress!, o = o.baseAddress!
            shape.dilateDisc(bone, into: g, rx: rx, ry: ry)
            // Free space = not (grown) bone.
            for j in 0..<shape.rows {
                for x in 0..<n { g[j * n + x] = ~g[j * n + x] }
                g[j * n + n - 1] &= shape.tailMask
            }
            let runs = Runs(plane: g, shape: shape)
            var uf = runs.components()
            var touches = [Bool](repeating: false, count: runs.count)
            for r in 0..<runs.count {
                let atRow = r < Int(runs.rowStart[1]) || r >= Int(runs.rowStart[shape.rows - 1])
                if atRow || runs.starts[r] == 0 || Int(runs.ends[r]) == shape.columns { touches[uf.find(r)] = true }
            }
            var outsideRun = [Bool](repeating: false, count: runs.count)
            for r in 0..<runs.count { outsideRun[r] = touches[uf.find(r)] }
            for x in 0..<wc { g[x] = 0 }
            runs.paint(into: g, shape: shape) { outsideRun[$0] }
            shape.dilateDisc(g, into: o, rx: rx, ry: ry)
            for x in 0..<wc { out[x] = tissue[x] & ~bone[x] & ~o[x] }
        }
    }
}
