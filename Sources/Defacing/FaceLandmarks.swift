import Foundation
import Platform

/// Results of the first scan of a slice.
package struct SliceProfile: Sendable {
    package var bandRays = 0
    /// Where brain was met right behind the skin, one point per ray that met it.
    package var forehead: [SIMD3<Double>] = []
    package var boneHits: [SIMD3<Double>] = []
    package var midRay = -1
}

extension FaceLimits {
    /// Finds the landmarks. `entries` receives, per slice and ray, the first body step (or -1).
    package static func find(_ v: Volume, _ a: HeadAnalysis, _ rays: FaceRays,
                     entries: SharedPointer<Int32>) -> FaceLimits {
        let candidates = BitVolume(columns: v.columns, rows: v.rows, slices: v.slices)
        var profiles = [SliceProfile](repeating: SliceProfile(), count: v.slices)
        let bandHalf = Int((foreheadBand / rays.spacing).rounded())
        let boneHU = DefacingParameters.boneHU

        v.hu.withUnsafeBufferPointer { huBuffer in
            profiles.withUnsafeMutableBufferPointer { profileBuffer in
                let hu = SharedHU(base: huBuffer.baseAddress!)
                let out = SharedPointer(base: profileBuffer.baseAddress!)
                parallelFor(v.slices) { k in
                    var profile = SliceProfile()
                    let entryRow = entries.base + k * rays.count
                    rays.firstSet(a.body, slice: k, into: entryRow)
                    let lo = (0..<rays.count).first { entryRow[$0] >= 0 } ?? Int.max
                    let hi = (0..<rays.count).last { entryRow[$0] >= 0 } ?? Int.min
                    guard lo <= hi else { out[k] = profile; return }
                    let mid = (lo + hi) / 2
                    profile.midRay = mid
                    let maxSearch = Int(globeSearchDepth / rays.step)
                    for u in 0..<rays.count {
                        let t0 = Int(entryRow[u])
                        if t0 < 0 { continue }
                        let inBand = abs(u - mid) <= bandHalf
                        let p0 = rays.start(k, u)
                        if inBand {
                            profile.bandRays += 1
                            // Forehead: intracranial tissue right behind the skin (and skull).
                            let end = min(rays.length, t0 + Int(foreheadDepth / rays.step) + 1)
                            for t in t0..<end {
                                let (i, j) = rays.pixel(u, t)
                                if a.enclosed.get(i, j, k) {
                                    profile.forehead.append(p0 + rays.stepVector * Double(t))
                                    break
                                }
                            }
                            // Facial skeleton: first bone behind the skin.
                            let boneEnd = min(rays.length, t0 + Int(facialBoneDepth / rays.step) + 1)
                            for t in t0..<boneEnd {
                                let (i, j) = rays.pixel(u, t)
                                if hu.base[v.index(i, j, k)] >= boneHU {
                                    profile.boneHits.append(p0 + rays.stepVector * Double(t))
                                    break
                                }
                            }
                        }
                        // Eye globe candidates: fluid density in the front of the head, outside the
                        // intracranial space.
                        for t in t0..<min(rays.length, t0 + maxSearch + 1) {
                            let (i, j) = rays.pixel(u, t)
                            let h = hu.base[v.index(i, j, k)]
                            if globeHU.contains(h) && a.body.get(i, j, k) && !a.protected.get(i, j, k) {
                                candidates.set(i, j, k)
                            }
                        }
                    }
                    out[k] = profile
                }
            }
        }

        var limits = FaceLimits()
        let order = (0..<v.slices).sorted { v.origins[$0].z < v.origins[$1].z }

        limits.globes = findGlobes(v, a, candidates)
        if limits.globes.count == 2 {
            let g0 = limits.globes[0].centre, g1 = limits.globes[1].centre
            limits.eyeMid = (g0 + g1) / 2
            var across = g1 - g0
            across.z = 0
            let len = (across * across).sum().squareRoot()
            if len > 0 {
                var back = SIMD3<Double>(-across.y / len, across.x / len, 0)
                if back.y < 0 { back = -back }
                // A head turned by more than 35 degrees is not what the eyes say: keep -y as anterior.
                if back.y >= cos(35 * Double.pi / 180) { limits.posterior = back }
            }
            if let pitch = HeadPitch.measure(v, eyeMid: limits.eyeMid, posterior: limits.posterior) {
                limits.nod(pitch)
            }
        } else if let g = limits.globes.first {
            limits.eyeMid = g.centre
        }

        // The jaw zone, where the face reaches further back: from a little below the eyes (the base of
        // the nose); without eyes, below the lowest point of the cranial cavity.
        let eyeHeights = limits.globes.map { limits.height($0.centre) }
        if let eyes = eyeHeights.min() {
            limits.zJaw = eyes - jawBelowEyes
        } else if let bottom = cranialCavityBottom(v, a, order) {
            limits.zJaw = bottom
        }

        // Superior limit: the lowest slice (with the one above) above the eyes where brain lies right
        // behind the skin of the midline is the forehead; the face ends a little below its floor.
        let eyeLevel = eyeHeights.max() ?? -Double.infinity
        let forehead = order.map { k -> Bool in
            let p = profiles[k]
            return p.bandRays >= 3 && Double(p.forehead.count) >= 0.5 * Double(p.bandRays)
                && p.forehead.map { limits.height($0) }.reduce(0, +) / Double(p.forehead.count) > eyeLevel
        }
        if let n = forehead.indices.first(where: { forehead[$0] && ($0 + 1 == forehead.count || forehead[$0 + 1]) }) {
            let k = order[n]
            let z = profiles[k].forehead.map { limits.height($0) }.min()!
            let gap = verticalStep(v, below: n > 0 ? order[n - 1] : nil, k)
            limits.zSuperior = z - gap / 2 - browMargin
        }
        // The brow and the lower forehead: the face reaches `browAboveEyes` above the eyes' centres,
        // and at least to the forehead's floor.
        if !limits.globes.isEmpty {
            let brow = limits.height(limits.eyeMid) + browAboveEyes
            limits.zSuperior = limits.zSuperior.isFinite ? max(limits.zSuperior, brow) : brow
        }

        // Without eyes, the posterior limit hangs from the most anterior facial bone.
        if limits.globes.isEmpty {
            let ys = profiles.flatMap(\.boneHits).filter { $0.z < limits.zSuperior }.map(\.y)
            // Without facial bone either, the limit lies in front of everything: nothing is removed.
            limits.eyeMid = SIMD3(0, (ys.min() ?? -.greatestFiniteMagnitude / 4) + 40 - upperDepth, 0)
        }

        // Inferior limit: a little below the lowest facial bone, and never lower than a chin can be
        // below the eyes (when the jaw's bone is not found, or something joined to it reaches lower).
        let facialBone = lowestFacialBone(v, a, limits)
        if let (z, k) = facialBone, let n = order.firstIndex(of: k), n > 0 {
            limits.zInferior = z - verticalStep(v, below: order[n - 1], k) / 2 - mandibleMargin
        }
        if let eyes = eyeHeights.min() {
            limits.zInferior = max(limits.zInferior, eyes - chinBelowEyes)
        }
        return limits
    }

    /// Lowest point of the cranial cavity (less half a slice): slices with a brain-sized enclosed
    /// region, going down from the largest one (a gap of one slice allowed, so an isolated ring such
    /// as the jaw cut obliquely does not count), and their enclosed regions larger than canals.
    package static func cranialCavityBottom(_ v: Volume, _ a: HeadAnalysis, _ order: [Int]) -> Double? {
        var cavity: [Int] = []
        if let top = order.indices.max(by: { a.enclosedArea[order[$0]] < a.enclosedArea[order[$1]] }),
           a.enclosedArea[order[top]] >= DefacingParameters.cranialArea {
            var n = top, misses = 0
            while n >= 0 && misses < 2 {
                if a.enclosedArea[order[n]] >= DefacingParameters.cranialArea { cavity.append(order[n]); misses = 0 } else { misses += 1 }
                n -= 1
            }
        }
        let pixelArea = v.columnSpacing * v.rowSpacing
        let slices = cavity
        // Per slice (on all cores): the lowest point of its enclosed regions, not small canals.
        let lowest = parallelMap(slices.count) { n -> Double in
            let k = slices[n]
            let runs = Runs(plane: a.enclosed.plane(k), shape: a.shape)
            var uf = runs.components()
            var size = [Int](repeating: 0, count: runs.count)
            for r in 0..<runs.count { size[uf.find(r)] += Int(runs.ends[r] - runs.starts[r]) }
            var bottom = Double.infinity
            for j in 0..<v.rows {
                for r in runs.range(row: j) where Double(size[uf.find(r)]) * pixelArea >= cavityPart {
                    bottom = min(bottom, v.position(Int(runs.starts[r]), j, k).z, v.position(Int(runs.ends[r]) - 1, j, k).z)
                }
            }
            return bottom
        }
        var cavityBottom = Double.infinity, cavitySlice = -1
        for (n, k) in slices.enumerated() where lowest[n] < cavityBottom {
            cavityBottom = lowest[n]
            cavitySlice = k
        }
        guard cavitySlice >= 0, let n = order.firstIndex(of: cavitySlice) else { return nil }
        return cavityBottom - verticalStep(v, below: n > 0 ? order[n - 1] : nil, cavitySlice) / 2
    }

    /// Lowest point (height and slice) of the facial skeleton (the chin's bone, the mandible's lowest
    /// point): the 3-D components of the bone less than `facialBoneBehind` + 20 mm behind the jaw's
    /// posterior limit that have bone in the jaw zone's top `jawSeedDepth` close behind the face
    /// (the maxilla and the mandible). Connected only through that band: behind it the mandible
    /// joins the skull base at its joints, the skull the spine, and the spine through the ribs the
    /// sternum and the clavicles in front, so that in a head-and-neck series the whole skeleton is
    /// one bone and its lowest point in front is the sternum (the face's limit went down with it).
    /// Nor does the sternum start a component of its own: it lies far below the jaw zone's top.
    package static func lowestFacialBone(_ v: Volume, _ a: HeadAnalysis, _ limits: FaceLimits) -> (Double, Int)? {
        let front = lowerDepth + facialBoneBehind, reach = front + 20
        let band = parallelMap(v.slices) { bone(a.boneRuns[$0], slice: $0, v, limits, within: reach) }
        let (offsets, roots) = components3D(band, rows: v.rows)
        // Without eyes or a cranial cavity there is no jaw zone to start from: any bone in front.
        let seedTop = limits.zJaw, seedBottom = limits.zJaw.isFinite ? limits.zJaw - jawSeedDepth : -Double.infinity
        // z and the depth behind the eyes are linear along a run: their extremes sit at its ends, so
        // most runs (the vault) are settled without visiting their voxels.
        var seeds = Set<Int32>()
        for k in 0..<v.slices {
            let runs = band[k]
            for j in 0..<v.rows {
                for r in runs.range(row: j) where !seeds.contains(roots[offsets[k] + r]) {
                    let s = Int(runs.starts[r]), e = Int(runs.ends[r]) - 1
                    let p0 = v.position(s, j, k), p1 = v.position(e, j, k)
                    let h0 = limits.height(p0), h1 = limits.height(p1)
                    if min(h0, h1) >= seedTop || max(h0, h1) < seedBottom
                        || min(limits.behindEyes(p0), limits.behindEyes(p1)) >= front { continue }
                    for i in s...e {
                        let p = v.position(i, j, k)
                        let h = limits.height(p)
                        if h < seedTop && h >= seedBottom && limits.behindEyes(p) < front { seeds.insert(roots[offsets[k] + r]); break }
                    }
                }
            }
        }
        guard !seeds.isEmpty else { return nil }
        var lowest = Double.infinity, slice = -1
        for k in 0..<v.slices {
            let runs = band[k]
            for j in 0..<v.rows {
                for r in runs.range(row: j) where seeds.contains(roots[offsets[k] + r]) {
                    let z = min(limits.height(v.position(Int(runs.starts[r]), j, k)), limits.height(v.position(Int(runs.ends[r]) - 1, j, k)))
                    if z < lowest { lowest = z; slice = k }
                }
            }
        }
        return slice >= 0 ? (lowest, slice) : nil
    }

    /// The runs of one slice's bone cut to the voxels less than `depth` behind the eyes' centres
    /// (the depth is linear along a run: each run keeps one interval, or none).
    package static func bone(_ runs: Runs, slice k: Int, _ v: Volume, _ limits: FaceLimits, within depth: Double) -> Runs {
        var out = Runs()
        out.rowStart.reserveCapacity(v.rows + 1)
        for j in 0..<v.rows {
            out.rowStart.append(Int32(out.starts.count))
            for r in runs.range(row: j) {
                let s = Int(runs.starts[r]), e = Int(runs.ends[r])
                let first = limits.behindEyes(v.position(s, j, k)) < depth, last = limits.behindEyes(v.position(e - 1, j, k)) < depth
                var lo = s, hi = e
                if !first && !last { continue }
                if first && !last {
                    hi = s
                    while hi < e && limits.behindEyes(v.position(hi, j, k)) < depth { hi += 1 }
                } else if !first {
                    lo = e
                    while lo > s && limits.behindEyes(v.position(lo - 1, j, k)) < depth { lo -= 1 }
                }
                if lo < hi { out.starts.append(Int32(lo)); out.ends.append(Int32(hi)) }
            }
        }
        out.rowStart.append(Int32(out.starts.count))
        return out
    }

    /// Eye globes: 3-D blobs of fluid density that survive an in-plane erosion (thin layers do not),
    /// of globe size; the two largest (if they sit side by side), refined on all fluid voxels near them.
    package static func findGlobes(_ v: Volume, _ a: HeadAnalysis, _ candidates: BitVolume) -> [Globe] {
        let shape = a.shape
        let cores = BitVolume(columns: v.columns, rows: v.rows, slices: v.slices)
        var coreRuns = [Runs](repeating: Runs(), count: v.slices)
        let rx = globeErosion / v.columnSpacing, ry = globeErosion / v.rowSpacing
        coreRuns.withUnsafeMutableBufferPointer { runsBuffer in
            let runsOut = SharedPointer(base: runsBuffer.baseAddress!)
            parallelFor(v.slices) { k in
                var inverse = [UInt64](repeating: 0, count: shape.wordCount)
                let src = candidates.plane(k), dst = cores.plane(k)
                var any = false
                for x in 0..<shape.wordCount where src[x] != 0 { any = true; break }
                guard any else { runsOut[k] = Runs(plane: dst, shape: shape); return }
                inverse.withUnsafeMutableBufferPointer { inv in
                    let inv = inv.baseAddress!
                    for j in 0..<shape.rows {
                        for x in 0..<shape.wordsPerRow { inv[j * shape.wordsPerRow + x] = ~src[j * shape.wordsPerRow + x] }
                        inv[j * shape.wordsPerRow + shape.wordsPerRow - 1] &= shape.tailMask
                    }
                    shape.dilateDisc(inv, into: dst, rx: rx, ry: ry)
                    for j in 0..<shape.rows {
                        for x in 0..<shape.wordsPerRow { dst[j * shape.wordsPerRow + x] = ~dst[j * shape.wordsPerRow + x] }
                        dst[j * shape.wordsPerRow + shape.wordsPerRow - 1] &= shape.tailMask
                    }
                }
                runsOut[k] = Runs(plane: dst, shape: shape)
            }
        }
        // 3-D components of the cores.
        let (offsets, roots) = components3D(coreRuns, rows: v.rows)
        guard !roots.isEmpty else { return [] }
        struct Blob { var volume = 0.0; var sum = SIMD3<Double>(0, 0, 0); var lo = SIMD3<Double>(repeating: .infinity); var hi = SIMD3<Double>(repeating: -.infinity) }
        var blobs: [Int: Blob] = [:]
        let thickness = sliceThickness(v)
        for k in 0..<v.slices {
            let runs = coreRuns[k]
            let voxel = v.columnSpacing * v.rowSpacing * thickness[k]
            for j in 0..<v.rows {
                for r in runs.range(row: j) {
                    let s = Int(runs.starts[r]), e = Int(runs.ends[r])
                    let root = Int(roots[offsets[k] + r])
                    let n = Double(e - s)
                    let first = v.position(s, j, k), last = v.position(e - 1, j, k)
                    var b = blobs[root] ?? Blob()
                    b.volume += n * voxel
                    b.sum += (first + last) / 2 * (n * voxel)
                    b.lo = pointwiseMin(b.lo, pointwiseMin(first, last))
                    b.hi = pointwiseMax(b.hi, pointwiseMax(first, last))
                    blobs[root] = b
                }
            }
        }
        let plausible = blobs.values.filter { b in
            let e = b.hi - b.lo
            return b.volume >= 300 && b.volume <= 12_000 && e.max() <= 35
        }.sorted { $0.volume > $1.volume }
        guard let first = plausible.first else { return [] }
        var chosen = [first]
        let c0 = first.sum / first.volume
        if let second = plausible.dropFirst().first(where: { b in
            let d = b.sum / b.volume - c0
            let across = (d.x * d.x + d.y * d.y).squareRoot()
            return across >= 35 && across <= 90 && abs(d.z) <= 20
        }) {
            chosen.append(second)
        }
        // Refine centre and size on every fluid voxel near the core (the core is eroded, and parts of
        // the globe may sit behind bone or inside the protected margin).
        return chosen.map { b in
            var centre = b.sum / b.volume
            var radius = cbrt(3 * b.volume / (4 * Double.pi)) + globeErosion
            for _ in 0..<2 {
                let (c, vol) = fluidBall(v, around: centre, radius: radius + 2, thickness: thickness)
                guard vol > 0 else { break }
                centre = c
                radius = cbrt(3 * vol / (4 * Double.pi))
            }
            return Globe(centre: centre, radius: radius)
        }.sorted { $0.centre.x < $1.centre.x }
    }

    /// Centroid and volume of the fluid-density voxels within `radius` of `centre`.
    package static func fluidBall(_ v: Volume, around centre: SIMD3<Double>, radius: Double,
                          thickness: [Double]) -> (SIMD3<Double>, Double) {
        var sum = SIMD3<Double>(0, 0, 0), volume = 0.0
        let n = v.normal
        for k in 0..<v.slices {
            let o = v.origins[k]
            let d = centre - o
            let off = d.x * n.x + d.y * n.y + d.z * n.z
            if abs(off) > radius { continue }
            let ci = (d * v.rowDirection).sum() / v.columnSpacing
            let cj = (d * v.columnDirection).sum() / v.rowSpacing
            let ri = radius / v.columnSpacing + 1, rj = radius / v.rowSpacing + 1
            let i0 = max(0, Int((ci - ri).rounded(.down))), i1 = min(v.columns - 1, Int((ci + ri).rounded(.up)))
            let j0 = max(0, Int((cj - rj).rounded(.down))), j1 = min(v.rows - 1, Int((cj + rj).rounded(.up)))
            if i0 > i1 || j0 > j1 { continue }
            let voxel = v.columnSpacing * v.rowSpacing * thickness[k]
            for j in j0...j1 {
                for i in i0...i1 where globeHU.contains(v.hu[v.index(i, j, k)]) {
                    let p = v.position(i, j, k)
                    let q = p - centre
                    if (q * q).sum() <= radius * radius {
                        sum += p * voxel
                        volume += voxel
                    }
                }
            }
        }
        return volume > 0 ? (sum / volume, volume) : (centre, 0)
    }

    /// How far apart in z the voxel centres next to one another lie around slice k: the step to the
    /// slice below, or less where the rows themselves descend (gantry tilt). A surface found between
    /// two such centres is placed half-way.
    package static func verticalStep(_ v: Volume, below: Int?, _ k: Int) -> Double {
        var steps: [Double] = []
        if let b = below { steps.append(abs(v.origins[k].z - v.origins[b].z)) }
        steps.append(abs(v.columnDirection.z) * v.rowSpacing)
        steps.append(abs(v.rowDirection.z) * v.columnSpacing)
        return steps.filter { $0 > 1e-6 }.min() ?? 0
    }

    /// Thickness represented by each slice: half the gaps to its neighbours (uneven spacing allowed).
    package static func sliceThickness(_ v: Volume) -> [Double] {
        guard v.slices > 1 else { return [1] }
        let gaps = (0..<(v.slices - 1)).map { v.sliceGap(after: $0) }
        return (0..<v.slices).map { k in
            if k == 0 { return gaps[0] }
            if k == v.slices - 1 { return gaps[k - 1] }
            return (gaps[k - 1] + gaps[k]) / 2
        }
    }
}
