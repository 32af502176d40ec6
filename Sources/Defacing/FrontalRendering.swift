import Foundation

/// Frontal skin rendering for the defacing QA picture: the view from in front of the patient
/// (camera at -y looking towards +y), patient's right (-x) on the image's left, superior up.
///
/// The volume is not resampled. Along the in-volume axis that points most nearly along y
/// (the rows, for axial CT) each line of voxels is searched for its first skin voxel, refined to
/// the sub-voxel threshold crossing and placed in patient coordinates. Those points form a mesh
/// over the other two axes; its triangles are rasterised onto the regular (x, z) mm grid keeping
/// the most anterior point. So gantry tilt, uneven slice spacing and flipped axes need no
/// special cases, and z is interpolated between slices by the triangles.
public enum FrontalRendering {
    /// Width in pixels of the separator between the two images of `beforeAfterPNG`.
    public static let gapWidth = 4
    /// Gray level of the separator, so it shows against black backgrounds.
    package static let gapLevel: UInt8 = 96

    public static func render(_ volume: Volume, skinThreshold: Int16 = -300,
                              millimetresPerPixel: Double = 1.0) -> (width: Int, height: Int, pixels: [UInt8]) {
        render(volume, skinThreshold: skinThreshold, millimetresPerPixel: millimetresPerPixel, continuing: nil).image
    }

    /// The rendering and the surface it found. `continuing`: the surface of the same volume before
    /// voxels were only lowered to air (defacing), so every skin voxel is at or behind the one found
    /// then: each line's search resumes there instead of crossing the volume again. Same result.
    package static func render(_ volume: Volume, skinThreshold: Int16 = -300, millimetresPerPixel: Double = 1.0,
                       continuing: SurfaceHits?) -> (image: (width: Int, height: Int, pixels: [UInt8]), surface: SurfaceHits) {
        let frame = Frame(volume, millimetresPerPixel: millimetresPerPixel)
        let (depth, surface) = depthMap(volume, frame: frame, skinThreshold: skinThreshold, continuing: continuing)
        return ((frame.width, frame.height, shade(depth, frame: frame)), surface)
    }

    /// Before and after side by side at the same scale, separated by a `gapWidth` gray bar.
    public static func beforeAfterPNG(before: Volume, after: Volume, skinThreshold: Int16 = -300,
                                      millimetresPerPixel: Double = 1.0) -> Data {
        let a = render(before, skinThreshold: skinThreshold, millimetresPerPixel: millimetresPerPixel)
        let b = render(after, skinThreshold: skinThreshold, millimetresPerPixel: millimetresPerPixel)
        let height = max(a.height, b.height)  // equal unless the two geometries differ
        let width = a.width + gapWidth + b.width
        var pixels = [UInt8](repeating: 0, count: width * height)
        for y in 0..<height {
            let row = y * width
            if y < a.height { pixels.replaceSubrange(row..<row + a.width, with: a.pixels[y * a.width..<(y + 1) * a.width]) }
            for x in a.width..<a.width + gapWidth { pixels[row + x] = gapLevel }
            let start = row + a.width + gapWidth
            if y < b.height { pixels.replaceSubrange(start..<start + b.width, with: b.pixels[y * b.width..<(y + 1) * b.width]) }
        }
        return PNGWriter.grayscale(width: width, height: height, pixels: pixels)
    }

    // MARK: Geometry

    /// The output grid: pixel (column c, row r) has its centre at x = xMin + c * mm, z = zMax - r * mm.
    package struct Frame {
        package let xMin, xMax, zMin, zMax, yMin, yMax: Double
        package let mm: Double
        package let width, height: Int

        package init(_ v: Volume, millimetresPerPixel: Double) {
            precondition(millimetresPerPixel.isFinite && millimetresPerPixel > 0)
            var lo = SIMD3<Double>(repeating: .infinity), hi = SIMD3<Double>(repeating: -.infinity)
            // Each slice is a planar parallelogram, so its four corner voxels bound it.
            for k in 0..<v.slices {
                for (i, j) in [(0, 0), (v.columns - 1, 0), (0, v.rows - 1), (v.columns - 1, v.rows - 1)] {
                    let p = v.position(max(i, 0), max(j, 0), k)
                    lo = pointwiseMin(lo, p)
                    hi = pointwiseMax(hi, p)
                }
            }
            if v.slices == 0 { lo = .zero; hi = .zero }
            xMin = lo.x; xMax = hi.x; yMin = lo.y; yMax = hi.y; zMin = lo.z; zMax = hi.z
            mm = millimetresPerPixel
            width = Int(((xMax - xMin) / mm).rounded(.down)) + 1
            height = Int(((zMax - zMin) / mm).rounded(.down)) + 1
        }
    }

    /// Per cell of the mesh (u fastest), the steps along the march to the first skin voxel
    /// (`none`: no skin on that line), for a march along `axis` in the direction `ascending`.
    package struct SurfaceHits {
        package static let none = Int32.max
        package let axis: Int
        package let ascending: Bool
        package let steps: [Int32]
    }

    /// Nearest surface y (mm) per pixel, +infinity where the ray meets no skin.
    package static func depthMap(_ v: Volume, frame: Frame, skinThreshold: Int16) -> [Float] {
        depthMap(v, frame: frame, skinThreshold: skinThreshold, continuing: nil).depth
    }

    package static func depthMap(_ v: Volume, frame: Frame, skinThreshold: Int16,
                         continuing: SurfaceHits?) -> (depth: [Float], surface: SurfaceHits) {
        var depth = [Float](repeating: .infinity, count: frame.width * frame.height)
        guard v.columns > 0, v.rows > 0, v.slices > 0 else {
            return (depth, SurfaceHits(axis: 1, ascending: true, steps: []))
        }

        // March along the index axis most nearly parallel to y, in the direction of increasing y.
        let kStep = v.slices > 1 ? (v.origins[v.slices - 1] - v.origins[0]) / Double(v.slices - 1) : v.normal
        let steps = [v.rowDirection * v.columnSpacing, v.columnDirection * v.rowSpacing, kStep]
        func alignment(_ s: SIMD3<Double>) -> Double {
            let n = (s * s).sum().squareRoot()
            return n > 0 ? abs(s.y) / n : 0
        }
        var axis = 1  // rows, for axial CT; only a clearly better axis replaces it
        for a in [0, 2] where alignment(steps[a]) > alignment(steps[axis]) + 1e-6 { axis = a }
        let ascending = steps[axis].y >= 0
        let n = [v.columns, v.rows, v.slices][axis]
        // The mesh runs over the other two axes (u fastest).
        let (uAxis, vAxis) = axis == 0 ? (1, 2) : (axis == 1 ? (0, 2) : (0, 1))
        let dims = [v.columns, v.rows, v.slices]
        let uCount = dims[uAxis], vCount = dims[vAxis]

        func voxel(_ u: Int, _ w: Int, _ a: Int) -> (Int, Int, Int) {
            axis == 0 ? (a, u, w) : (axis == 1 ? (u, a, w) : (u, w, a))
        }

        // Steps along the march (0 = first voxel met) to the first skin voxel per mesh cell.
        let none = SurfaceHits.none
        let threshold = skinThreshold
        var hit: [Int32]
        if let before = continuing, before.axis == axis, before.ascending == ascending, before.steps.count == uCount * vCount {
            hit = before.steps
            v.hu.withUnsafeBufferPointer { hu in
                for cell in hit.indices where hit[cell] != none {
                    let cu = cell % uCount, cv = cell / uCount
                    var s = Int(hit[cell])
                    while s < n {
                        let (i, j, k) = voxel(cu, cv, ascending ? s : n - 1 - s)
                        if hu[v.index(i, j, k)] >= threshold { break }
                        s += 1
                    }
                    hit[cell] = s < n ? Int32(s) : none
                }
            }
        } else {
            hit = scan(v, axis: axis, ascending: ascending, cells: uCount * vCount, threshold: threshold)
        }

        // Surface points in output pixel coordinates (px, pr) with their depth y.
        var px = [Float](repeating: 0, count: hit.count)
        var pr = [Float](repeating: 0, count: hit.count)
        var py = [Float](repeating: .nan, count: hit.count)
        let thr = Double(skinThreshold)
        for cv in 0..<vCount {
            for cu in 0..<uCount {
                let cell = cv * uCount + cu
                let s = Int(hit[cell])
                if hit[cell] == none { continue }
                let a = ascending ? s : n - 1 - s
                let (i1, j1, k1) = voxel(cu, cv, a)
                let p1 = v.position(i1, j1, k1)
                var p = p1
                if s > 0 {
                    // Linear threshold crossing between the last air voxel and the first skin voxel,
                    // so the shading is smooth instead of terraced by the voxel grid.
                    let v1 = Double(v.hu[v.index(i1, j1, k1)])
                    let (i0, j0, k0) = voxel(cu, cv, ascending ? a - 1 : a + 1)
                    let v0 = Double(v.hu[v.index(i0, j0, k0)])
                    let p0 = v.position(i0, j0, k0)
                    let t = v1 > v0 ? min(max((thr - v0) / (v1 - v0), 0), 1) : 1
                    p = p0 + (p1 - p0) * t
                }
                px[cell] = Float((p.x - frame.xMin) / frame.mm)
                pr[cell] = Float((frame.zMax - p.z) / frame.mm)
                py[cell] = Float(p.y)
            }
        }

        // Rasterise the mesh: each quad as two triangles, or the one triangle of its three points.
        let w = frame.width, h = frame.height
        depth.withUnsafeMutableBufferPointer { depth in
            func triangle(_ a: Int, _ b: Int, _ c: Int) {
                let ax = px[a], ay = pr[a], bx = px[b], by = pr[b], cx = px[c], cy = pr[c]
                let area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
                if abs(area) < 1e-12 { return }
                let x0 = max(Int(min(ax, bx, cx).rounded(.up)), 0), x1 = min(Int(max(ax, bx, cx).rounded(.down)), w - 1)
                let y0 = max(Int(min(ay, by, cy).rounded(.up)), 0), y1 = min(Int(max(ay, by, cy).rounded(.down)), h - 1)
                if x0 > x1 || y0 > y1 { return }
                let inv = 1 / area
                let eps: Float = -1e-4  // shared edges are covered from both sides; the depth test decides
                for y in y0...y1 {
                    let fy = Float(y)
                    for x in x0...x1 {
                        let fx = Float(x)
                        let wa = ((bx - fx) * (cy - fy) - (by - fy) * (cx - fx)) * inv
                        let wb = ((cx - fx) * (ay - fy) - (cy - fy) * (ax - fx)) * inv
                        let wc = 1 - wa - wb
                        if wa < eps || wb < eps || wc < eps { continue }
                        let d = wa * py[a] + wb * py[b] + wc * py[c]
                        if d < depth[y * w + x] { depth[y * w + x] = d }
                    }
                }
            }
            for cv in 0..<max(vCount - 1, 0) {
                for cu in 0..<max(uCount - 1, 0) {
                    let c00 = cv * uCount + cu, c10 = c00 + 1, c01 = c00 + uCount, c11 = c01 + 1
                    let h00 = !py[c00].isNaN, h10 = !py[c10].isNaN, h01 = !py[c01].isNaN, h11 = !py[c11].isNaN
                    switch (h00, h10, h01, h11) {
                    case (true, true, true, true): triangle(c00, c10, c01); triangle(c10, c11, c01)
                    case (true, true, true, false): triangle(c00, c10, c01)
                    case (true, true, false, true): triangle(c00, c10, c11)
                    case (true, false, true, true): triangle(c00, c11, c01)
                    case (false, true, true, true): triangle(c10, c11, c01)
                    default: break
                    }
                }
            }
        }
        return (depth, SurfaceHits(axis: axis, ascending: ascending, steps: hit))
    }

    /// The first skin voxel of every line along `axis`, searched through the whole volume.
    private static func scan(_ v: Volume, axis: Int, ascending: Bool, cells: Int, threshold: Int16) -> [Int32] {
        let none = SurfaceHits.none
        let n = [v.columns, v.rows, v.slices][axis]
        var hit = [Int32](repeating: none, count: cells)
        let cols = v.columns, rows = v.rows
        v.hu.withUnsafeBufferPointer { hu in
            hit.withUnsafeMutableBufferPointer { hit in
                if axis == 0 {
                    // Along the columns of each row: contiguous, stop at the first hit; 16 voxels
                    // at a time until a chunk holds skin (most rows are air for most of their length).
                    let hu0 = UnsafeRawPointer(hu.baseAddress!)
                    let thr16 = SIMD16<Int16>(repeating: threshold)
                    for k in 0..<v.slices {
                        for j in 0..<rows {
                            let base = (k * rows + j) * cols
                            var s = 0
                            while s + 16 <= cols {
                                let start = ascending ? base + s : base + cols - s - 16
                                let chunk = hu0.loadUnaligned(fromByteOffset: start * 2, as: SIMD16<Int16>.self)
                                if any(chunk .>= thr16) { break }
                                s += 16
                            }
                            while s < cols, hu[base + (ascending ? s : cols - 1 - s)] < threshold { s += 1 }
                            if s < cols { hit[k * rows + j] = Int32(s) }
                        }
                    }
                } else {
                    // Rows or slices: stream the volume in memory order, keeping the smallest step per cell.
                    for k in 0..<v.slices {
                        for j in 0..<rows {
                            let a = axis == 1 ? j : k
                            let s = Int32(ascending ? a : n - 1 - a)
                            let cell = (axis == 1 ? k : j) * cols
                            let base = (k * rows + j) * cols
                            // 16 columns at a time: the scan is memory-bound once vectorised (~4x).
                            var i = 0
                            let hu0 = UnsafeRawPointer(hu.baseAddress!), hit0 = UnsafeMutableRawPointer(hit.baseAddress!)
                            let thr16 = SIMD16<Int32>(repeating: Int32(threshold)), s16 = SIMD16<Int32>(repeating: s)
                            while i + 16 <= cols {
                                let v16 = hu0.loadUnaligned(fromByteOffset: (base + i) * 2, as: SIMD16<Int16>.self)
                                let h16 = hit0.loadUnaligned(fromByteOffset: (cell + i) * 4, as: SIMD16<Int32>.self)
                                let skin = (SIMD16<Int32>(truncatingIfNeeded: v16) .>= thr16) .& (s16 .< h16)
                                hit0.storeBytes(of: h16.replacing(with: s16, where: skin), toByteOffset: (cell + i) * 4, as: SIMD16<Int32>.self)
                                i += 16
                            }
                            while i < cols {
                                let h = hit[cell + i]
                                hit[cell + i] = hu[base + i] >= threshold && s < h ? s : h
                                i += 1
                            }
                        }
                    }
                }
            }
        }
        return hit
    }

    // MARK: Shading

    /// Lambert shading with the light at the viewer, times a depth cue (nearer is brighter).
    /// The cue is scaled by the volume's y extent, not the surface's, so before and after share it.
    package static func shade(_ depth: [Float], frame: Frame) -> [UInt8] {
        let w = frame.width, h = frame.height
        let yMin = Float(frame.yMin), ySpan = Float(max(frame.yMax - frame.yMin, 1e-6))
        let mm = Float(frame.mm)
        let ambient: Float = 0.1
        var out = [UInt8](repeating: 0, count: w * h)
        let smoothed = smooth(depth, width: w, height: h, within: Float(2 * max(frame.mm, 1)))
        smoothed.withUnsafeBufferPointer { d in
            // Slope from the neighbours that exist: central difference, else one-sided, else flat.
            func slope(_ here: Float, _ before: Float?, _ after: Float?) -> Float {
                let b = before.flatMap { $0.isFinite ? $0 : nil }, a = after.flatMap { $0.isFinite ? $0 : nil }
                switch (b, a) {
                case let (b?, a?): return (a - b) / (2 * mm)
                case let (b?, nil): return (here - b) / mm
                case let (nil, a?): return (a - here) / mm
                default: return 0
                }
            }
            for y in 0..<h {
                for x in 0..<w {
                    let z = d[y * w + x]
                    if !z.isFinite { continue }
                    let raw = depth[y * w + x]
                    let gx = slope(z, x > 0 ? d[y * w + x - 1] : nil, x < w - 1 ? d[y * w + x + 1] : nil)
                    let gz = slope(z, y > 0 ? d[(y - 1) * w + x] : nil, y < h - 1 ? d[(y + 1) * w + x] : nil)
                    // Normal (gx, -1, gz)/|.| against the light direction (0, -1, 0).
                    let lambert = 1 / (1 + gx * gx + gz * gz).squareRoot()
                    let cue = 1 - 0.6 * min(max((raw - yMin) / ySpan, 0), 1)
                    let value = 255 * (ambient + (1 - ambient) * lambert * cue)
                    out[y * w + x] = UInt8(min(max(value.rounded(), 1), 255))
                }
            }
        }
        return out
    }

    /// 3x3 binomial blur of the depth map for the normals only: it hides the voxel terraces of
    /// thresholded surfaces. Neighbours more than `within` mm away in depth are left out, so
    /// silhouettes (nose, chin, a defacing cut) stay sharp.
    package static func smooth(_ depth: [Float], width w: Int, height h: Int, within: Float) -> [Float] {
        var out = depth
        let weights: [Float] = [1, 2, 1]
        for y in 0..<h {
            for x in 0..<w {
                let centre = depth[y * w + x]
                if !centre.isFinite { continue }
                var sum: Float = 0, total: Float = 0
                for dy in -1...1 where y + dy >= 0 && y + dy < h {
                    for dx in -1...1 where x + dx >= 0 && x + dx < w {
                        let v = depth[(y + dy) * w + x + dx]
                        if !v.isFinite || abs(v - centre) > within { continue }
                        let wt = weights[dy + 1] * weights[dx + 1]
                        sum += wt * v
                        total += wt
                    }
                }
                out[y * w + x] = sum / total
            }
        }
        return out
    }
}
