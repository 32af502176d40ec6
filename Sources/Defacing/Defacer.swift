import Foundation
import Platform

/// Whether a series is a head CT, decided from the image.
public struct HeadCheck: Sendable {
    public let isHead: Bool
    public let reason: String
}

public struct DefaceOptions: Sendable {
    public var mode: DefaceMode = .remove
    /// Also remove the external ears.
    public var ears: Bool = false
    /// Seed of the noise fill.
    public var seed: UInt64 = 0

    public init(mode: DefaceMode = .remove, ears: Bool = false, seed: UInt64 = 0) {
        self.mode = mode
        self.ears = ears
        self.seed = seed
    }
}

/// 3-D defacing of head CT.
///
/// The face is the soft tissue in front of the facial skeleton and below the forehead.
/// 1. Per slice: bone (>= 250 HU), the body (largest 3-D component above -500 HU, so a table or
///    headrest is not the patient) and the intracranial space: tissue enclosed by bone in its slice
///    after gaps narrower than 7 mm are closed. That space grown by 2.5 mm in 3-D, plus the bone, is
///    protected: the mask never enters it, and bone is never changed.
/// 2. Landmarks from the image: the eye globes (fluid-density blobs near the front), which give the
///    face's anterior axis, nodded as the hard palate says (`HeadPitch`); the brow 36 mm above them /
///    floor of the anterior cranial fossa (superior limit); the lowest bone of the facial skeleton
///    (inferior limit). Depths and heights are measured in the head's frame.
/// 3. Scans along the patient's anterior direction (not the row order; within each slice, so sheared
///    with gantry tilt, and for an evenly spaced tilted stack also level across slices) remove, from
///    the skin inwards, everything up to the first bone or protected voxel (60 mm at most) that lies
///    within the limits: less than 26 mm behind the eyes' centres (36 mm at the jaw), below the
///    superior and above the inferior limit. The globes with 2 mm of orbital tissue (and 3 mm
///    behind; 1 mm more for the error of the globe's measured size) go wherever they are not
///    protected; the chin below the mandible goes where it stands out from the neck; ears only on
///    request.
/// Everything is linear in the number of voxels and parallel over slices.
public enum Defacer {
    /// Is this a head CT with a skull? Decided from the HU values (bone ring around a soft-tissue/brain
    /// region), not from tags.
    public static func checkHead(_ volume: Volume) -> HeadCheck {
        SkullCheck.run(volume)
    }

    /// The voxels to remove; nil when the volume is not a head (the caller then leaves the series
    /// alone) or when its slices are not axial enough to tell the front of the head.
    /// `isHead`: the caller has already run `checkHead` on this volume.
    public static func faceMask(_ volume: Volume, options: DefaceOptions = .init(), isHead: Bool = false) -> FaceMask? {
        guard volume.columns > 0, volume.rows > 0, volume.slices > 0,
              isHead || checkHead(volume).isHead, let rays = FaceRays.anterior(volume) else { return nil }
        let v = volume
        let analysis = HeadAnalysis(v)
        let entryBuffer = UnsafeMutablePointer<Int32>.allocate(capacity: v.slices * rays.count)
        defer { entryBuffer.deallocate() }
        let entries = SharedPointer(base: entryBuffer)
        let limits = FaceLimits.find(v, analysis, rays, entries: entries)
        analysis.releaseOrbits(v, limits)
        let marks = BitVolume(columns: v.columns, rows: v.rows, slices: v.slices)

        v.hu.withUnsafeBufferPointer { huBuffer in
            let hu = SharedHU(base: huBuffer.baseAddress!)
            parallelFor(v.slices) { k in
                markFace(k, v, hu, analysis, rays, limits, entries, marks)
                markOrbits(k, v, hu, analysis, limits, marks)
            }
            // A tilted stack is also scanned level: either path from the skin that meets no bone or
            // protected voxel makes a voxel face.
            if let lines = LevelLines(v, rays) {
                parallelFor(lines.count) { line in markFace(along: line, lines, v, hu, analysis, limits, marks) }
            }
            markChin(v, hu, analysis, rays, limits, entries, marks)
            if options.ears {
                let sides = FaceRays.lateral(rays, v)
                parallelFor(v.slices) { k in
                    for side in sides { markEar(k, v, hu, analysis, side, limits, marks) }
                }
            }
        }

        if v.columns % 64 == 0 {
            // Rows fill whole words: the bit planes are the mask's words already.
            return FaceMask(columns: v.columns, rows: v.rows, slices: v.slices,
                            words: Array(UnsafeBufferPointer(start: marks.words, count: marks.count)))
        }
        var mask = FaceMask(columns: v.columns, rows: v.rows, slices: v.slices)
        for k in 0..<v.slices {
            let plane = marks.plane(k)
            for j in 0..<v.rows {
                let row = plane + j * marks.wordsPerRow
                for x in 0..<marks.wordsPerRow {
                    var w = row[x]
                    while w != 0 {
                        let b = w.trailingZeroBitCount
                        mask[v.index(x * 64 + b, j, k)] = true
                        w &= w - 1
                    }
                }
            }
        }
        return mask
    }

    /// Sets masked voxels to -1000 (remove) or air-like noise (noise mode, deterministic from
    /// options.seed). Returns the count changed.
    @discardableResult
    public static func apply(_ mask: FaceMask, to volume: inout Volume, options: DefaceOptions = .init()) -> Int {
        precondition(mask.columns == volume.columns && mask.rows == volume.rows && mask.slices == volume.slices,
                     "mask and volume differ in size")
        let total = volume.hu.count, slices = volume.slices
        let mode = options.mode, seed = options.seed
        // On all cores, each over its own stretch of words (so of voxels).
        return volume.hu.withUnsafeMutableBufferPointer { huBuffer in
            mask.bits.withUnsafeBufferPointer { wordBuffer in
                let hu = SharedPointer(base: huBuffer.baseAddress!), words = SharedWords(base: wordBuffer.baseAddress!)
                let count = wordBuffer.count, parts = max(1, min(slices, count))
                return parallelMap(parts) { part -> Int in
                    var changed = 0
                    for w in (part * count / parts)..<((part + 1) * count / parts) where words.base[w] != 0 {
                        var bits = words.base[w]
                        while bits != 0 {
                            let index = w * 64 + bits.trailingZeroBitCount
                            bits &= bits - 1
                            if index >= total { break }
                            let value: Int16
                            switch mode {
                            case .remove: value = -1000
                            case .noise: value = airNoise(seed: seed, index: index)
                            }
                            if hu[index] != value {
                                hu[index] = value
                                changed += 1
                            }
                        }
                    }
                    return changed
                }.reduce(0, +)
            }
        }
    }

    /// -1000 +/- 20 HU, a pure function of (seed, voxel index).
    package static func airNoise(seed: UInt64, index: Int) -> Int16 {
        var z = seed &+ UInt64(truncatingIfNeeded: index) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Int16(-1000 + Int(z % 41) - 20)
    }

    // MARK: - marking

    package static let maxDepth = 60.0
    package static let airFloor = DefacingParameters.airFloorHU
    package static let boneHU = DefacingParameters.boneHU

    /// Anterior scans: from the skin inwards up to bone, the protected region or the depth limit;
    /// voxels inside the face limits or the orbit are marked. (Behind the globe the orbit is walled by
    /// bone, which stops the scan.)
    package static func markFace(_ k: Int, _ v: Volume, _ hu: SharedHU, _ a: HeadAnalysis, _ rays: FaceRays,
                         _ limits: FaceLimits, _ entries: SharedPointer<Int32>, _ marks: BitVolume) {
        guard limits.mayReach(v, slice: k, grownBy: FaceLimits.orbitTolerance) else { return }
        let maxSteps = Int(maxDepth / rays.step)
        for u in 0..<rays.count {
            let t0 = Int(entries[k * rays.count + u])
            if t0 < 0 { continue }
            let p0 = rays.start(k, u)
            let end = min(rays.length, t0 + maxSteps + 1)
            var stop = end
            for t in t0..<end {
                let (i, j) = rays.pixel(u, t)
                if hu.base[v.index(i, j, k)] >= boneHU || a.protected.get(i, j, k) { stop = t; break }
            }
            for t in t0..<stop {
                let (i, j) = rays.pixel(u, t)
                let h = hu.base[v.index(i, j, k)]
                let p = p0 + rays.stepVector * Double(t)
                if h > airFloor && a.body.get(i, j, k) && (limits.inFace(p) || limits.inOrbit(p, grownBy: FaceLimits.orbitTolerance)) {
                    marks.set(i, j, k)
                }
            }
        }
    }

    /// `markFace` along a level line of a tilted stack. The first body voxel is found a row at a time
    /// for all the line's rays; a line that comes into the stack through its top or bottom already
    /// inside the body marks nothing (what lies in front of it was not scanned).
    package static func markFace(along line: Int, _ lines: LevelLines, _ v: Volume, _ hu: SharedHU, _ a: HeadAnalysis,
                         _ limits: FaceLimits, _ marks: BitVolume) {
        let rays = lines.rays
        let n = a.shape.wordsPerRow
        var entry = [Int](repeating: -1, count: rays.count)
        var found = [UInt64](repeating: 0, count: n)
        var firstInside = -1
        for t in 0..<rays.length {
            let k = lines.slice(line, t)
            guard k >= 0 && k < v.slices else {
                if firstInside >= 0 { break }
                continue
            }
            if firstInside < 0 { firstInside = t }
            let row = a.body.plane(k) + (rays.fromStart ? t : rays.length - 1 - t) * n
            for x in 0..<n {
                var new = row[x] & ~found[x]
                if new == 0 { continue }
                found[x] |= new
                while new != 0 {
                    let u = x << 6 + new.trailingZeroBitCount
                    if u < rays.count && (t > firstInside || firstInside == 0) { entry[u] = t }
                    new &= new &- 1
                }
            }
        }
        let maxSteps = Int(maxDepth / lines.stepLength)
        for u in 0..<rays.count where entry[u] >= 0 {
            let t0 = entry[u]
            for t in t0..<min(rays.length, t0 + maxSteps + 1) {
                let k = lines.slice(line, t)
                if k < 0 || k >= v.slices { break }
                let (i, j) = rays.pixel(u, t)
                let h = hu.base[v.index(i, j, k)]
                if h >= boneHU || a.protected.get(i, j, k) { break }
                let p = v.position(i, j, k)
                if h > airFloor && a.body.get(i, j, k) && (limits.inFace(p) || limits.inOrbit(p, grownBy: FaceLimits.orbitTolerance)) {
                    marks.set(i, j, k)
                }
            }
        }
    }

    /// Globe and orbital tissue that the anterior scans do not reach (behind the rim of the orbit).
    package static func markOrbits(_ k: Int, _ v: Volume, _ hu: SharedHU, _ a: HeadAnalysis, _ limits: FaceLimits,
                           _ marks: BitVolume) {
        let n = v.normal
        for g in limits.globes {
            let reach = g.radius + FaceLimits.orbitFat + FaceLimits.orbitBehind
            let d = g.centre - v.origins[k]
            if abs((d * n).sum()) > reach { continue }
            let ci = (d * v.rowDirection).sum() / v.columnSpacing, cj = (d * v.columnDirection).sum() / v.rowSpacing
            let ri = reach / v.columnSpacing + 1, rj = reach / v.rowSpacing + 1
            let i0 = max(0, Int((ci - ri).rounded(.down))), i1 = min(v.columns - 1, Int((ci + ri).rounded(.up)))
            let j0 = max(0, Int((cj - rj).rounded(.down))), j1 = min(v.rows - 1, Int((cj + rj).rounded(.up)))
            if i0 > i1 || j0 > j1 { continue }
            for j in j0...j1 {
                for i in i0...i1 {
                    let h = hu.base[v.index(i, j, k)]
                    if h >= boneHU || h <= airFloor || a.protected.get(i, j, k) || !a.body.get(i, j, k) { continue }
                    if limits.inOrbit(v.position(i, j, k), grownBy: FaceLimits.orbitTolerance) { marks.set(i, j, k) }
                }
            }
        }
    }

    /// Below the lowest facial bone only the chin remains: a run of tissue that ends in air with the
    /// neck behind it. It takes over where `inFace` stops (the inferior limit raised by the shave), so
    /// no layer falls between the two. Slices are taken from the bottom up so that where the chin
    /// merges with the neck its depth is carried up from the slice below.
    package static func markChin(_ v: Volume, _ hu: SharedHU, _ a: HeadAnalysis, _ rays: FaceRays,
                         _ limits: FaceLimits, _ entries: SharedPointer<Int32>, _ marks: BitVolume) {
        guard limits.zInferior > -Double.infinity else { return }
        let order = (0..<v.slices).sorted { v.origins[$0].z < v.origins[$1].z }
        let maxRun = Int(30 / rays.step), reentry = Int(50 / rays.step), chinFront = Int(15 / rays.step)
        var below = [Int](repeating: -1, count: rays.count)
        for k in order {
            // Slices wholly above the limit have no chin.
            let corners = [rays.start(k, 0), rays.start(k, rays.count - 1),
                           rays.start(k, 0) + rays.stepVector * Double(rays.length - 1),
                           rays.start(k, rays.count - 1) + rays.stepVector * Double(rays.length - 1)]
            if corners.map({ limits.height($0) }).min()! >= limits.zInferior + FaceLimits.shave {
                below = [Int](repeating: -1, count: rays.count)
                continue
            }
            var here = [Int](repeating: -1, count: rays.count)
            // Only the front of the slice can be chin (not the underside of the jaw further back).
            var front = Int.max
            for u in 0..<rays.count where entries[k * rays.count + u] >= 0 { front = min(front, Int(entries[k * rays.count + u])) }
            for u in 0..<rays.count {
                let t0 = Int(entries[k * rays.count + u])
                if t0 < 0 || t0 > front + chinFront { continue }
                let p0 = rays.start(k, u)
                // Tissue run from the skin.
                var t = t0
                while t < rays.length {
                    let (i, j) = rays.pixel(u, t)
                    if hu.base[v.index(i, j, k)] >= boneHU || !a.body.get(i, j, k) { break }
                    t += 1
                }
                var end = -1
                if t < rays.length && t - t0 <= maxRun {
                    let (i, j) = rays.pixel(u, t)
                    if hu.base[v.index(i, j, k)] < boneHU {
                        // Air after the run: a protrusion if the body goes on behind it.
                        for s in t..<min(rays.length, t + reentry + 1) {
                            let (i2, j2) = rays.pixel(u, s)
                            if a.body.get(i2, j2, k) { end = t; break }
                        }
                    }
                }
                if end < 0 && below[u] >= 0 { end = min(below[u], t) }
                here[u] = end
                guard end > t0 else { continue }
                for s in t0..<end {
                    let (i, j) = rays.pixel(u, s)
                    let h = hu.base[v.index(i, j, k)]
                    let p = p0 + rays.stepVector * Double(s)
                    if h > airFloor && h < boneHU && !a.protected.get(i, j, k) && limits.height(p) < limits.zInferior + FaceLimits.shave
                        && limits.behindEyes(p) < FaceLimits.lowerDepth {
                        marks.set(i, j, k)
                    }
                }
            }
            below = here
        }
    }

    /// Ears: behind the face, seen from the side. A run of tissue ending in air with the head behind
    /// it (the auricle), or tissue more than the scalp's thickness outside the skull.
    package static let scalp = 8.0
    package static func markEar(_ k: Int, _ v: Volume, _ hu: SharedHU, _ a: HeadAnalysis, _ rays: FaceRays,
                        _ limits: FaceLimits, _ marks: BitVolume) {
        let maxRun = Int(25 / rays.step), reentry = Int(30 / rays.step), boneReach = Int(25 / rays.step)
        // The auricle spans from about the nose's base to above the eyes.
        guard let eyes = limits.globes.map({ limits.height($0.centre) }).min() else { return }
        let earLevels = max(eyes - 45, limits.zJaw)...(eyes + 30)
        for u in 0..<rays.count {
            var t0 = -1
            for t in 0..<rays.length {
                let (i, j) = rays.pixel(u, t)
                if a.body.get(i, j, k) { t0 = t; break }
            }
            if t0 < 0 { continue }
            let p0 = rays.start(k, u)
            var t = t0
            var boneAt = -1
            while t < rays.length {
                let (i, j) = rays.pixel(u, t)
                if hu.base[v.index(i, j, k)] >= boneHU { boneAt = t; break }
                if !a.body.get(i, j, k) || a.protected.get(i, j, k) { break }
                t += 1
            }
            var end = -1
            if boneAt < 0, t < rays.length, t - t0 <= maxRun, !a.protected.get(rays.pixel(u, t).i, rays.pixel(u, t).j, k) {
                for s in t..<min(rays.length, t + reentry + 1) {
                    let (i2, j2) = rays.pixel(u, s)
                    if a.body.get(i2, j2, k) { end = t; break }
                }
            } else if boneAt >= 0, boneAt - t0 <= boneReach {
                let outer = boneAt - Int((scalp / rays.step).rounded(.up))
                if outer > t0 { end = outer }
            }
            guard end > t0 else { continue }
            for s in t0..<end {
                let (i, j) = rays.pixel(u, s)
                let h = hu.base[v.index(i, j, k)]
                let p = p0 + rays.stepVector * Double(s)
                let behind = limits.behindEyes(p)
                if h > airFloor && h < boneHU && behind >= FaceLimits.upperDepth && behind <= FaceLimits.upperDepth + 80
                    && earLevels.contains(limits.height(p)) && !a.protected.get(i, j, k) {
                    marks.set(i, j, k)
                }
            }
        }
    }
}
