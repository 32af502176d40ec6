import Foundation

/// How far the head is nodded, measured on the hard palate.
///
/// The eyes give the head's left-right axis (and so its turn), not its nod. The face's limits (a
/// depth behind the eyes, the brow above them, the chin below) are planes of the head, and a head
/// nodded by 10 degrees moves the chin 15 mm against planes of the patient: chin down, the lower face
/// falls behind them and stays; chin up, the tissue under the jaw comes in front of them and goes.
/// The hard palate is the thin bony plate between the nose and the mouth, some 40 mm below the eyes;
/// its plane (ANS-PNS) lies within a few degrees of the Frankfurt horizontal in adults, it is in every
/// series that holds the lower face, and it is easy to see: a plate of bone with the nasal cavity
/// above and the tongue below. Beside the midline (the vomer stands on it in the midline), in
/// columns along the head's up axis, the top of the first such plate below the eyes is taken; the
/// angle that lines up the longest unbroken stretch of those tops within 2.5 mm (the palate is one
/// plate; the floor of the sphenoid sinus behind it is another) is refined by least squares, once in the
/// patient's frame (or one nodded 20 degrees, for a strongly nodded head) and once in the frame it
/// gives.
///
/// The result is in whole degrees, positive when the chin is down: the measure is good to about a
/// degree (the palate's own angle varies between people by a few), and an upright head is taken as
/// exactly upright. Nil when no palate is found (a series that ends above the nose, or a head with
/// nothing plate-like there) or when it says more than `limit`: the face is then found as upright.
package enum HeadPitch {
    package static let limit = 40.0                 // degrees
    package static let boneHU = Double(DefacingParameters.boneHU)
    package static let below = 10.0 ... 75.0        // mm below the eyes' centres searched
    package static let along = -35.0 ... 50.0       // mm behind them
    package static let beside: [Double] = [-9, -6, 6, 9]   // mm left and right of the midline
    package static let plate = 2.0 ... 15.0         // mm: the palate's thickness, with its alveolar ridge
    package static let clearAbove = 3.0             // mm of no bone above it (the nasal cavity's floor)
    package static let clearBelow = 10.0            // mm of no bone below it (the tongue, the mouth)
    package static let tolerance = 2.5              // mm: a top this close to the line is on it
    package static let gap = 5.0                    // mm along the head: more between tops breaks the plate
    package static let fewest = 20                  // tops on the line, over at least ...
    package static let span = 20.0                  // ... this length

    /// Degrees, positive when the chin is down; nil when not measured.
    package static func measure(_ v: Volume, eyeMid: SIMD3<Double>, posterior: SIMD3<Double>) -> Double? {
        let up = SIMD3<Double>(0, 0, 1)
        let across = SIMD3(posterior.y, -posterior.x, 0)
        func frame(_ degrees: Double) -> (back: SIMD3<Double>, up: SIMD3<Double>) {
            let a = degrees * .pi / 180
            return (posterior * cos(a) + up * sin(a), up * cos(a) - posterior * sin(a))
        }
        // The search window hangs from the eyes in the patient's frame; a head nodded 20 degrees or
        // more carries its palate out of it (chin down, the palate's back rises to the eyes' level),
        // so a window nodded 20 degrees each way is tried when the upright one finds no palate.
        for start in [0.0, 20, -20] {
            let f = frame(start)
            guard let first = angle(v, eyeMid, across, back: f.back, up: f.up) else { continue }
            let g = frame(start + first)
            guard let second = angle(v, eyeMid, across, back: g.back, up: g.up) else { return nil }
            let pitch = start + first + second
            guard abs(pitch) <= limit else { return nil }
            return pitch.rounded()
        }
        return nil
    }

    /// The palate's angle in the frame (back, up), degrees, positive when it rises towards the back
    /// (as it does when the chin is down).
    package static func angle(_ v: Volume, _ eyeMid: SIMD3<Double>, _ across: SIMD3<Double>,
                      back: SIMD3<Double>, up: SIMD3<Double>) -> Double? {
        let sampler = HUSampler(v)
        let step = 0.5
        // Heights from the top of the window down (and `clearBelow` under it, to see below a plate).
        let hs = Array(stride(from: -below.lowerBound, through: -below.upperBound - clearBelow, by: -step))
        var tops: [SIMD2<Double>] = []
        for t in stride(from: along.lowerBound, through: along.upperBound, by: 1.0) {
            for s in beside {
                let base = eyeMid + across * s + back * t
                // Nil where the series has no voxel.
                let values = hs.map { sampler.value(at: base + up * $0) }
                if let top = plateTop(values, hs, step: step) { tops.append(SIMD2(t, top)) }
            }
        }
        guard tops.count >= fewest else { return nil }
        // The angle (in half degrees, -40 to 40) whose band of h - t tan a, 2 x `tolerance` wide,
        // holds the longest unbroken stretch of tops along the head (the palate is one plate; a band
        // that joins it to another plate further back has a gap); the smaller angle on a tie.
        var best: (count: Int, angle: Double, members: [SIMD2<Double>]) = (0, 0, [])
        for tenth in stride(from: -400, through: 400, by: 5) {
            let a = Double(tenth) / 10, slope = tan(a * .pi / 180)
            let byOffset = tops.map { (offset: $0.y - slope * $0.x, top: $0) }.sorted { $0.offset < $1.offset }
            var lo = 0
            for hi in byOffset.indices {
                while byOffset[hi].offset - byOffset[lo].offset > 2 * tolerance { lo += 1 }
                if hi - lo + 1 <= best.count { continue }
                let band = byOffset[lo...hi].map(\.top).sorted { $0.x < $1.x }
                var first = 0
                for n in band.indices where n == band.count - 1 || band[n + 1].x - band[n].x > gap {
                    let count = n - first + 1
                    if count > best.count || (count == best.count && abs(a) < abs(best.angle)) {
                        best = (count, a, Array(band[first...n]))
                    }
                    first = n + 1
                }
            }
        }
        let members = best.members
        guard members.count >= fewest, let t0 = members.map(\.x).min(), let t1 = members.map(\.x).max(),
              t1 - t0 >= span else { return nil }
        let n = Double(members.count)
        let mt = members.map(\.x).reduce(0, +) / n, mh = members.map(\.y).reduce(0, +) / n
        var stt = 0.0, sth = 0.0
        for m in members {
            stt += (m.x - mt) * (m.x - mt)
            sth += (m.x - mt) * (m.y - mh)
        }
        guard stt > 0 else { return nil }
        return atan(sth / stt) * 180 / .pi
    }

    /// The height of the top of the first bone in a column sampled from the top down, if that bone
    /// is a plate: of plate thickness, with no bone `clearAbove` above it and `clearBelow` below it
    /// (the end of the series counts as no bone). Specks thinner than a plate (the turbinates'
    /// scrolls) are passed over; bone too thick or too crowded to be a plate ends the search (below
    /// the teeth lies the jaw). The top is placed where the values cross the bone threshold.
    package static func plateTop(_ values: [Double?], _ hs: [Double], step: Double) -> Double? {
        let above = Int((clearAbove / step).rounded()), under = Int((clearBelow / step).rounded())
        func isBone(_ n: Int) -> Bool { (values[n] ?? -1000) >= boneHU }
        var q = 0
        while q < values.count && hs[q] >= -below.upperBound {
            guard isBone(q) else { q += 1; continue }
            var r = q
            while r < values.count && isBone(r) { r += 1 }
            let thickness = Double(r - q) * step
            if thickness < plate.lowerBound { q = r; continue }
            guard plate.contains(thickness), q >= above, (q - above..<q).allSatisfy({ values[$0] != nil }),
                  r + under <= values.count, (r..<(r + under)).allSatisfy({ !isBone($0) }) else { return nil }
            let a = values[q - 1]!, b = values[q]!
            return hs[q - 1] + (hs[q] - hs[q - 1]) * (boneHU - a) / (b - a)
        }
        return nil
    }
}

/// Hounsfield units anywhere in a volume, interpolated between the eight voxels around a point (any
/// stack of parallel slices: tilted, unevenly spaced); nil outside the series.
package struct HUSampler {
    package let v: Volume
    package let normal: SIMD3<Double>
    package let offsets: [Double]     // each slice's distance along the normal from slice 0

    package init(_ v: Volume) {
        self.v = v
        normal = v.normal
        offsets = v.origins.map { (($0 - v.origins[0]) * v.normal).sum() }
    }

    package func value(at p: SIMD3<Double>) -> Double? {
        guard v.slices > 0 else { return nil }
        let d = ((p - v.origins[0]) * normal).sum()
        let increasing = offsets.last! >= offsets[0]
        // The two slices around d, and how far between them.
        var k0 = 0, f = 0.0
        if v.slices > 1 {
            var lo = 0, hi = v.slices - 1
            func key(_ k: Int) -> Double { increasing ? offsets[k] : -offsets[k] }
            let x = increasing ? d : -d
            guard x >= key(0) - 1e-9, x <= key(hi) + 1e-9 else { return nil }
            while hi - lo > 1 {
                let m = (lo + hi) / 2
                if key(m) <= x { lo = m } else { hi = m }
            }
            k0 = lo
            let gap = key(hi) - key(lo)
            f = gap > 0 ? min(1, max(0, (x - key(lo)) / gap)) : 0
        } else if abs(d) > 1e-9 {
            return nil
        }
        guard let a = inPlane(p, k0) else { return nil }
        if f == 0 || v.slices == 1 { return a }
        guard let b = inPlane(p, k0 + 1) else { return nil }
        return a + (b - a) * f
    }

    /// Bilinear value in slice k at the point's projection into it.
    private func inPlane(_ p: SIMD3<Double>, _ k: Int) -> Double? {
        let d = p - v.origins[k]
        let x = (d * v.rowDirection).sum() / v.columnSpacing, y = (d * v.columnDirection).sum() / v.rowSpacing
        guard x >= 0, y >= 0, x <= Double(v.columns - 1), y <= Double(v.rows - 1) else { return nil }
        let i = min(Int(x), max(0, v.columns - 2)), j = min(Int(y), max(0, v.rows - 2))
        let fx = x - Double(i), fy = y - Double(j)
        func h(_ i: Int, _ j: Int) -> Double { Double(v.hu[v.index(min(i, v.columns - 1), min(j, v.rows - 1), k)]) }
        let top = h(i, j) + (h(i + 1, j) - h(i, j)) * fx
        let bottom = h(i, j + 1) + (h(i + 1, j + 1) - h(i, j + 1)) * fx
        return top + (bottom - top) * fy
    }
}
