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
