import Foundation
import Platform

/// An eye globe: fluid-density sphere found in the front of the head.
package struct Globe: Sendable {
    package let centre: SIMD3<Double>
    package let radius: Double
}

/// Where the face is, found from the image: the eye globes (and from them the face's own
/// anterior-posterior axis, nodded as the hard palate says: `HeadPitch`), the posterior limit behind
/// the eyes, the superior limit (the brow, 36 mm above the eyes, or the floor of the anterior cranial
/// fossa if higher: below the forehead), the inferior limit (just below the lowest bone of the facial
/// skeleton) and the height below which the jaw starts. Heights are the head's own (`height`): the
/// patient's z when the head is upright.
package struct FaceLimits: Sendable {
    /// Landmark distances (mm).
    package static let foreheadBand = 15.0       // half-width of the midline band used for profiles
    package static let foreheadDepth = 30.0      // brain this close behind the skin: a forehead slice
    package static let browMargin = 2.0          // the face ends this far below the cranial floor
    // The face reaches this far above the eyes' centres: the brow and the lower forehead (about
    // 23 mm above the orbit roof, which lies some 13 mm above the centre of the eye) are part of a
    // recognisable face. Measured from the eyes, whose centroids are known to a small fraction of a
    // voxel, not from the orbit roof, an edge on one line of voxels known only to half a voxel.
    package static let browAboveEyes = 36.0
    package static let globeSearchDepth = 40.0   // eyes lie within this depth of the skin
    package static let globeErosion = 2.5        // removes thin fluid-density layers (fat/muscle edges)
    package static let globeHU: ClosedRange<Int16> = -20...30
    package static let orbitFat = 2.0            // orbital tissue around the globe ...
    package static let orbitBehind = 3.0         // ... reaching this much further back
    package static let orbitTolerance = 1.0      // the globe's size, from its voxel count, is off by a few tenths
    package static let upperDepth = 26.0         // face: in front of this plane behind the eyes' centres
    package static let lowerDepth = 36.0         // ... at the level of the jaw (below the cranium)
    package static let facialBoneDepth = 60.0    // first bone this close behind the skin (profiles)
    package static let facialBoneBehind = 10.0   // bone in front of the jaw limit + this is facial skeleton
    package static let mandibleMargin = 2.0      // the face ends this far below the lowest facial bone
    package static let chinBelowEyes = 140.0     // the lowest a chin lies below the eyes' centres (adults: 95-130 mm)
    package static let shave = 0.25              // limits are pulled in by this (see `inFace`)
    package static let jawBelowEyes = 34.0       // the jaw zone starts this far below the eyes (nose base)
    package static let jawSeedDepth = 40.0       // the jaw's bone (maxilla, mandible) starts within this below it
    package static let cavityPart = 500.0        // mm²: smaller enclosed regions are canals and sinuses

    package var globes: [Globe] = []
    package var eyeMid = SIMD3<Double>(0, 0, 0)
    /// Unit vector towards the back of the face (horizontal unless the head is nodded).
    package var posterior = SIMD3<Double>(0, 1, 0)
    /// The head's nod, degrees, positive chin down, and the head's up axis nodded with it.
    package var pitch = 0.0
    package var up = SIMD3<Double>(0, 0, 1)
    package var zSuperior = Double.infinity
    package var zInferior = -Double.infinity
    /// Below this height the cranial cavity has ended: the jaw, where the face reaches further back.
    package var zJaw = Double.infinity

    /// Height in the head's frame: z for an upright head (exactly, so that an upright head's limits
    /// are what they always were), else measured along the head's up axis from the eyes' centres.
    @inline(__always) package func height(_ p: SIMD3<Double>) -> Double {
        if pitch == 0 { return p.z }
        let d = p - eyeMid
        return eyeMid.z + d.x * up.x + d.y * up.y + d.z * up.z
    }

    /// Nods the face's axes by `degrees` (positive chin down) about the line across the eyes.
    package mutating func nod(_ degrees: Double) {
        guard degrees != 0 else { return }
        let a = degrees * .pi / 180
        let back = posterior, upright = SIMD3<Double>(0, 0, 1)
        pitch = degrees
        posterior = back * cos(a) + upright * sin(a)
        up = upright * cos(a) - back * sin(a)
    }

    /// Distance behind the eyes along the face's own axis.
    @inline(__always) package func behindEyes(_ p: SIMD3<Double>) -> Double {
        let d = p - eyeMid
        return d.x * posterior.x + d.y * posterior.y + d.z * posterior.z
    }

    /// The orbit model: the globe, and a ball 2 mm larger 3 mm further back (orbital tissue).
    @inline(__always) package func inOrbit(_ p: SIMD3<Double>, grownBy grow: Double = 0) -> Bool {
        for g in globes {
            let d = p - g.centre
            let r0 = g.radius + grow
            if (d * d).sum() <= r0 * r0 { return true }
            let b = d - posterior * Self.orbitBehind
            let r = g.radius + Self.orbitFat + grow
            if (b * b).sum() <= r * r { return true }
        }
        return false
    }

    /// The reach of the orbit model grown by `grow` from a globe's centre.
    package func orbitReach(_ g: Globe, grownBy grow: Double) -> Double { g.radius + Self.orbitFat + Self.orbitBehind + grow }

    /// Whether any point of slice k (give or take a millimetre) can be inside the face limits or the
    /// orbit model grown by `grow`: a slice above the face and the orbits, or below the chin's limit,
    /// has nothing to mark.
    package func mayReach(_ v: Volume, slice k: Int, grownBy grow: Double) -> Bool {
        var low = Double.infinity, high = -Double.infinity
        for (i, j) in [(0, 0), (v.columns - 1, 0), (0, v.rows - 1), (v.columns - 1, v.rows - 1)] {
            let z = height(v.position(i, j, k))
            low = min(low, z - 1)
            high = max(high, z + 1)
        }
        if high >= zInferior + Self.shave && low < zSuperior - Self.shave { return true }
        let n = v.normal
        return globes.contains { g in abs(((g.centre - v.origins[k]) * n).sum()) <= orbitReach(g, grownBy: grow) + 1 }
    }

    /// Per globe, the box of pixels of slice k outside which no point is in the orbit model grown by
    /// `grow` (the model's reach around the centre projected into the slice, plus a pixel).
    package func orbitBoxes(_ v: Volume, slice k: Int, grownBy grow: Double) -> [(i: ClosedRange<Double>, j: ClosedRange<Double>)] {
        func unit(_ a: SIMD3<Double>) -> SIMD3<Double> { a / (a * a).sum().squareRoot() }
        let row = unit(v.rowDirection), column = unit(v.columnDirection)
        return globes.map { g in
            let d = g.centre - v.origins[k], reach = orbitReach(g, grownBy: grow)
            let ci = (d * row).sum() / v.columnSpacing, cj = (d * column).sum() / v.rowSpacing
            let ri = reach / v.columnSpacing + 1, rj = reach / v.rowSpacing + 1
            return ((ci - ri)...(ci + ri), (cj - rj)...(cj + rj))
        }
    }

    /// Inside the face limits, less a quarter millimetre: the landmarks are found to a fraction of a
    /// voxel, and a voxel on the boundary is better left than wrongly removed.
    @inline(__always) package func inFace(_ p: SIMD3<Double>) -> Bool {
        let h = height(p)
        let depth = h < zJaw ? Self.lowerDepth : Self.upperDepth
        return h < zSuperior - Self.shave && h >= zInferior + Self.shave && behindEyes(p) < depth - Self.shave
    }
}

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
