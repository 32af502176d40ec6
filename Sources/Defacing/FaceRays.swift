/// Straight scans through each slice along one image axis, in physical steps. The anterior scan runs
/// from the image edge nearest the patient's front (-y, decided from the orientation, not from the
/// row order) towards the back; with gantry tilt it follows the sheared column direction.
package struct FaceRays: Sendable {
    package let columns: Int
    package let rows: Int
    /// true: a ray steps through rows (j) and ray u is column u; false: it steps through columns.
    package let alongRows: Bool
    /// true: step 0 is index 0.
    package let fromStart: Bool
    package let length: Int
    package let count: Int
    /// Millimetres per step and per ray.
    package let step: Double
    package let spacing: Double
    package let stepVector: SIMD3<Double>
    package let rayVector: SIMD3<Double>
    package let origins: [SIMD3<Double>]
    package let rowOffset: SIMD3<Double>

    package init(_ v: Volume, alongRows: Bool, fromStart: Bool) {
        columns = v.columns
        rows = v.rows
        self.alongRows = alongRows
        self.fromStart = fromStart
        let sign: Double = fromStart ? 1 : -1
        if alongRows {
            length = v.rows; count = v.columns; step = v.rowSpacing; spacing = v.columnSpacing
            stepVector = v.columnDirection * (v.rowSpacing * sign)
            rayVector = v.rowDirection * v.columnSpacing
            rowOffset = fromStart ? .zero : v.columnDirection * (v.rowSpacing * Double(v.rows - 1))
        } else {
            length = v.columns; count = v.rows; step = v.columnSpacing; spacing = v.rowSpacing
            stepVector = v.rowDirection * (v.columnSpacing * sign)
            rayVector = v.columnDirection * v.rowSpacing
            rowOffset = fromStart ? .zero : v.rowDirection * (v.columnSpacing * Double(v.columns - 1))
        }
        origins = v.origins
    }

    /// The anterior scan, or nil when no image axis points within about 66 degrees of anterior.
    package static func anterior(_ v: Volume) -> FaceRays? {
        let ai = -v.rowDirection.y, aj = -v.columnDirection.y
        if abs(aj) >= abs(ai) {
            guard abs(aj) >= 0.4 else { return nil }
            return FaceRays(v, alongRows: true, fromStart: aj < 0)
        }
        guard abs(ai) >= 0.4 else { return nil }
        return FaceRays(v, alongRows: false, fromStart: ai < 0)
    }

    /// The two scans across the anterior one (from the patient's right and left sides).
    package static func lateral(_ anterior: FaceRays, _ v: Volume) -> [FaceRays] {
        [FaceRays(v, alongRows: !anterior.alongRows, fromStart: true),
         FaceRays(v, alongRows: !anterior.alongRows, fromStart: false)]
    }

    /// The first step of every ray of slice k at which `bits` is set (-1 where none is), a word at a
    /// time: most rays cross a long stretch of air before they meet the head.
    package func firstSet(_ bits: BitVolume, slice k: Int, into out: UnsafeMutablePointer<Int32>) {
        out.initialize(repeating: -1, count: count)
        let plane = bits.plane(k), n = bits.wordsPerRow
        if alongRows {
            // Ray u is column u: go through the rows in step order, keeping the columns already met.
            var found = [UInt64](repeating: 0, count: n)
            var left = columns
            for t in 0..<length where left > 0 {
                let row = plane + (fromStart ? t : length - 1 - t) * n
                for x in 0..<n {
                    var new = row[x] & ~found[x]
                    if new == 0 { continue }
                    found[x] |= new
                    while new != 0 {
                        let u = x << 6 + new.trailingZeroBitCount
                        if u < count { out[u] = Int32(t); left -= 1 }
                        new &= new &- 1
                    }
                }
            }
        } else {
            // Ray u is row u: its first (or last) set column.
            for u in 0..<count {
                let row = plane + u * n
                if fromStart {
                    if let x = (0..<n).first(where: { row[$0] != 0 }) {
                        out[u] = Int32(x << 6 + row[x].trailingZeroBitCount)
                    }
                } else if let x = (0..<n).last(where: { row[$0] != 0 }) {
                    out[u] = Int32(length - 1 - (x << 6 + 63 - row[x].leadingZeroBitCount))
                }
            }
        }
    }

    /// Column and row of step t of ray u.
    @inline(__always) package func pixel(_ u: Int, _ t: Int) -> (i: Int, j: Int) {
        let s = fromStart ? t : length - 1 - t
        return alongRows ? (u, s) : (s, u)
    }

    /// Patient position of step 0 of ray u in slice k.
    @inline(__always) package func start(_ k: Int, _ u: Int) -> SIMD3<Double> {
        origins[k] + rowOffset + rayVector * Double(u)
    }
}

/// Level anterior scans through a gantry-tilted stack. In a tilted slice the anterior scan climbs or
/// descends (18.5 degrees: 1 mm in 3), so under a bony overhang (the jaw's lower border, the brow) it
/// meets bone that a level line from the same voxel to the face never crosses. Line c runs through
/// step t of slice c + round(slope * t): the lines of all c partition the voxels, and each visits one
/// row of one slice per step, so a line owns whole rows. Only for evenly spaced slices and scans
/// along the rows; otherwise (or without tilt) the in-slice scans are already the best at hand.
package struct LevelLines: Sendable {
    package let rays: FaceRays
    /// Slices per step.
    package let slope: Double
    /// Millimetres per step along a line.
    package let stepLength: Double
    package let firstLine: Int
    package let count: Int
    package let slices: Int

    package init?(_ v: Volume, _ rays: FaceRays) {
        guard rays.alongRows, v.slices > 1 else { return nil }
        let n = v.normal
        guard abs(n.z) > 0.5 else { return nil }
        let depths = v.origins.map { $0.x * n.x + $0.y * n.y + $0.z * n.z }
        let gap = (depths[v.slices - 1] - depths[0]) / Double(v.slices - 1)
        guard gap > 0, zip(depths.dropFirst(), depths).allSatisfy({ abs($0 - $1 - gap) <= 0.01 * gap }) else { return nil }
        // Along the normal, this much per step keeps the line level.
        let along = -rays.stepVector.z / n.z
        slope = along / gap
        guard abs(slope * Double(rays.length)) >= 0.5 else { return nil }
        let step = rays.stepVector + n * along
        stepLength = (step * step).sum().squareRoot()
        self.rays = rays
        slices = v.slices
        let shifts = [0, Int((slope * Double(rays.length - 1)).rounded())]
        firstLine = -shifts.max()!
        count = v.slices - 1 - shifts.min()! - firstLine + 1
    }

    /// Slice of step t of line number `line` (0..<count); may lie outside the stack.
    @inline(__always) package func slice(_ line: Int, _ t: Int) -> Int { firstLine + line + Int((slope * Double(t)).rounded()) }
}
