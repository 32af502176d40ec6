@testable import DICOM
@testable import Defacing
@testable import Platform
import Fixtures
import Foundation
import XCTest

/// Defacing checked voxel by voxel against the phantom's exact tissue labels: every face voxel
/// becomes air, and nothing else changes (brain, bone and all other tissue: zero voxels).
final class DefacerTests: XCTestCase {
    /// Defaces `series` and checks brain, bone and everything outside the face strictly.
    @discardableResult
    func deface(_ name: String, _ series: PhantomSeries, options: DefaceOptions = .init(),
                minimumFace: Double, file: StaticString = #filePath, line: UInt = #line) throws -> DefaceStatistics {
        let v = series.volume
        let mask = try XCTUnwrap(Defacer.faceMask(v, options: options), "\(name): no mask", file: file, line: line)
        var after = v
        let changed = Defacer.apply(mask, to: &after, options: options)
        let stats = DefaceStatistics(before: v, after: after, labels: series.labels, earsAllowed: options.ears,
                                     removedAt: options.mode == .remove ? -1000 ... -1000 : -1024 ... -900)
        print("\(name): \(stats); changed \(changed); missed face by z: \(DefaceStatistics.histogram(stats.missedFace, v))")
        XCTAssertEqual(stats.brainChanged, 0, "\(name): brain changed", file: file, line: line)
        XCTAssertEqual(stats.boneChanged, 0, "\(name): bone changed", file: file, line: line)
        XCTAssertEqual(stats.otherCount, 0, "\(name): changed outside the face: \(stats.otherChanged) at "
                       + DefaceStatistics.byPosition(stats.otherChangedIndices, v), file: file, line: line)
        XCTAssertGreaterThanOrEqual(stats.faceFraction, minimumFace, "\(name): face left", file: file, line: line)
        var notAir = 0
        for n in v.hu.indices where mask[n] {
            let value = after.hu[n]
            if options.mode == .remove ? value != -1000 : !(-1024 ... -900).contains(value) { notAir += 1 }
        }
        XCTAssertEqual(notAir, 0, "\(name): masked voxels not set to air", file: file, line: line)
        return stats
    }

    func testAxialPhantomLosesItsFaceAndKeepsBrainAndBone() throws {
        let stats = try deface("axial 128x128x100", .axial(), minimumFace: 1)
        XCTAssertGreaterThan(stats.face, 20_000)
        XCTAssertEqual(stats.earRemoved, 0, "ears only on request")
    }

    /// A head-and-neck series whose mandible is one bone with the spine, the ribs and the sternum:
    /// the face goes, and nothing below the chin (the mandible's lowest point, -74 mm, and the
    /// chin's tissue under it) changes: not the front of the neck, not the chest.
    func testHeadAndNeckSeriesLosesOnlyItsFace() throws {
        let series = PhantomSeries.headAndNeck()
        let stats = try deface("head and neck 128x128x179", series, minimumFace: 0.95)
        var below = 0
        let v = series.volume
        for n in stats.otherChangedIndices {
            let k = n / (v.rows * v.columns), j = (n / v.columns) % v.rows, i = n % v.columns
            if v.position(i, j, k).z < -90 { below += 1 }
        }
        XCTAssertEqual(below, 0, "voxels changed more than 16 mm below the mandible: \(DefaceStatistics.histogram(stats.otherChangedIndices, v))")
    }

    /// The head and neck under an immobilisation mask moulded onto the face: the face goes (the mask
    /// in front of it may go with it), nothing else changes, neither above the face nor in the neck.
    func testHeadAndNeckUnderAnImmobilisationMaskLosesOnlyItsFace() throws {
        // Moulded onto the skin and perforated; 4 mm off it and solid (all four combinations pass; two keep the suite short).
        for (standOff, perforated) in [(0, true), (2, false)] {
            try checkUnderAMask(standOff: standOff, perforated: perforated)
        }
    }

    private func checkUnderAMask(standOff: Int, perforated: Bool) throws {
        let (series, device) = PhantomSeries.headAndNeckUnderAMask(standOff: standOff, perforated: perforated)
        let name = "mask \(2 * standOff) mm off the skin, \(perforated ? "perforated" : "solid")"
        let v = series.volume
        let mask = try XCTUnwrap(Defacer.faceMask(v), "no mask")
        var after = v
        Defacer.apply(mask, to: &after, options: .init())
        let stats = DefaceStatistics(before: v, after: after, labels: series.labels, earsAllowed: false)
        let other = stats.otherChangedIndices.filter { !device.contains($0) }
        let deviceRemoved = device.filter { after.hu[$0] == -1000 }.count
        print("\(name): \(stats); mask voxels \(device.count), \(deviceRemoved) removed; changed outside face and mask: "
              + DefaceStatistics.histogram(other, v) + "; missed face by z: \(DefaceStatistics.histogram(stats.missedFace, v))")
        XCTAssertEqual(stats.brainChanged, 0, name)
        XCTAssertEqual(stats.boneChanged, 0, name)
        XCTAssertEqual(other.count, 0, "\(name): changed outside the face: " + DefaceStatistics.byPosition(other, v))
        XCTAssertGreaterThanOrEqual(stats.faceFraction, 0.95, "\(name): face left under the mask")
    }

    /// Series that cover only part of the face: one that ends just above the eyes (z 4 mm; the brow
    /// at 40), one that starts at the upper lip (the chin at -76 mm is not in it). What is in them goes.
    func testPartialCoverageLosesTheFaceItHolds() throws {
        try deface("ends above the eyes", .covering(-99, 21), minimumFace: 0.95)
        try deface("starts at the upper lip", .covering(-41, 99), minimumFace: 0.95)
    }

    /// A head turned 20 degrees to one side: the face goes (99.6%), nothing else changes.
    func testATurnedHeadLosesOnlyItsFace() throws {
        try deface("turned 20 deg", .turned(yaw: 20, pitch: 0), minimumFace: 0.99)
    }

    /// Heads nodded 8 to 30 degrees chin down and chin up (the phantom's hard palate, level when upright, tilted with
    /// it): the face goes and nothing else, give or take the pitch's measure. The nod is measured to
    /// about a degree on the palate; at the chin, 80 mm below the eyes, a degree is 1.4 mm, so a
    /// changed voxel that is not face must lie within 2.5 mm of the face (in the head's own frame),
    /// and brain and bone never change.
    func testANoddedHeadLosesOnlyItsFace() throws {
        let phantom = HeadPhantom()
        for pitch in [-30.0, -15, -8, 8, 15, 30] {
            let name = String(format: "nodded %.0f deg chin %@", abs(pitch), pitch < 0 ? "down" : "up")
            let series = PhantomSeries.turned(yaw: 0, pitch: pitch)
            let v = series.volume
            let mask = try XCTUnwrap(Defacer.faceMask(v), name)
            var after = v
            Defacer.apply(mask, to: &after)
            let stats = DefaceStatistics(before: v, after: after, labels: series.labels, earsAllowed: false)
            print("\(name): \(stats); missed face by z: \(DefaceStatistics.histogram(stats.missedFace, v))")
            XCTAssertEqual(stats.brainChanged, 0, name)
            XCTAssertEqual(stats.boneChanged, 0, name)
            XCTAssertGreaterThanOrEqual(stats.faceFraction, 0.98, name)
            // The head's frame, as `turned` samples it: undo the nod about x.
            let b = pitch * .pi / 180
            func head(_ p: SIMD3<Double>) -> SIMD3<Double> {
                SIMD3(p.x, p.y * cos(b) - p.z * sin(b), p.y * sin(b) + p.z * cos(b))
            }
            var far: [Int] = []
            let steps = [-2.5, -1.25, 0, 1.25, 2.5]
            for n in stats.otherChangedIndices {
                let q = head(v.position(n % v.columns, (n / v.columns) % v.rows, n / (v.rows * v.columns)))
                let nearFace = steps.contains { dx in steps.contains { dy in steps.contains { dz in
                    phantom.label(x: q.x + dx, y: q.y + dy, z: q.z + dz) == .face } } }
                if !nearFace { far.append(n) }
            }
            XCTAssertEqual(far.count, 0, "\(name): changed more than 2.5 mm from the face: " + DefaceStatistics.byPosition(far, v))
        }
    }

    /// The nod measured on a real head (InVesalius 0051, its palate in the series): the same head
    /// nodded 10 degrees each way (resampled about its eyes) measures 10 degrees more and less, give
    /// or take 2. The GE series ends above the palate: no nod is measured, the head is taken upright.
    func testTheNodOfARealHeadIsMeasuredOnItsPalate() throws {
        guard let testdata = sharedTestData else { throw XCTSkip("../shared/testdata is not on this machine") }
        let ge = try Self.realVolume(testdata.appendingPathComponent("headct/ge_hispeed_human_tilt18"), every: 1)
        XCTAssertEqual(Self.limits(ge).pitch, 0, "GE: no palate, upright")
        // Every second column and row (0.96 mm) keeps the test short; the palate is 5-10 mm thick.
        let v = try Self.realVolume(testdata.appendingPathComponent("headct/invesalius_0051/dicom"), every: 2)
        let upright = Self.limits(v)
        XCTAssertEqual(upright.globes.count, 2)
        print("InVesalius 0051: nod \(upright.pitch) degrees")
        XCTAssertNotEqual(upright.pitch, 0, "the palate was not found")
        let sampler = HUSampler(v), c = upright.eyeMid
        for nod in [-10.0, 10.0] {
            let a = nod * .pi / 180
            var turned = v
            for k in 0..<v.slices {
                for j in 0..<v.rows {
                    for i in 0..<v.columns {
                        // Nodded by `nod` (chin down positive): the upright head seen at the point turned back.
                        let p = v.position(i, j, k) - c
                        let q = SIMD3(p.x, p.y * cos(a) + p.z * sin(a), -p.y * sin(a) + p.z * cos(a)) + c
                        turned.hu[v.index(i, j, k)] = sampler.value(at: q).map { Int16($0.rounded()) } ?? -1000
                    }
                }
            }
            let measured = Self.limits(turned).pitch
            print("InVesalius 0051 nodded \(nod): \(measured) degrees")
            XCTAssertEqual(measured, upright.pitch + nod, accuracy: 2, "nodded \(nod)")
        }
    }

    static func limits(_ v: Volume) -> FaceLimits {
        let rays = FaceRays.anterior(v)!
        let entries = UnsafeMutablePointer<Int32>.allocate(capacity: v.slices * rays.count)
        defer { entries.deallocate() }
        return FaceLimits.find(v, HeadAnalysis(v), rays, entries: SharedPointer(base: entries))
    }

    /// A folder's CT slices as a volume, read through DCMTK, keeping every `every`-th column and row.
    static func realVolume(_ folder: URL, every: Int) throws -> Volume {
        var slices: [(header: SliceHeader, hu: [Int16])] = []
        for url in try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
        where url.pathExtension != "md" && url.pathExtension != "png" {
            let file = try DicomFile(path: url.path)
            let header = SliceHeader(file.dataset, sopClass: file.dataset.string(.sopClassUID) ?? "")
            let stored = try file.pixels16()
            var hu = [Int16](repeating: 0, count: header.rows * header.columns)
            stored.withUnsafeBufferPointer { s in
                hu.withUnsafeMutableBufferPointer { SeriesDefacing.decode(s.baseAddress!, into: $0.baseAddress!, count: $0.count, header: header) }
            }
            slices.append((header, hu))
        }
        let h = slices[0].header, o = h.orientation
        let row = SIMD3(o[0], o[1], o[2]), column = SIMD3(o[3], o[4], o[5])
        let normal = SIMD3(row.y * column.z - row.z * column.y, row.z * column.x - row.x * column.z, row.x * column.y - row.y * column.x)
        slices.sort { ($0.header.framePositions[0] * normal).sum() < ($1.header.framePositions[0] * normal).sum() }
        let columns = h.columns / every, rows = h.rows / every
        var hu: [Int16] = []
        hu.reserveCapacity(columns * rows * slices.count)
        for s in slices {
            for j in 0..<rows { for i in 0..<columns { hu.append(s.hu[j * every * h.columns + i * every]) } }
        }
        return Volume(columns: columns, rows: rows, slices: slices.count, hu: hu, origins: slices.map { $0.header.framePositions[0] },
                      rowDirection: row, columnDirection: column,
                      columnSpacing: h.pixelSpacing[1] * Double(every), rowSpacing: h.pixelSpacing[0] * Double(every))
    }

    func testFinerPhantomLosesItsFace() throws {
        try deface("axial 256x256x200", .axial(slices: 200, rows: 256, columns: 256), minimumFace: 1)
    }

    func testFullSizePhantom() throws {
        // 512 x 512 x 300: 0.5 mm pixels, 0.67 mm slices, voxel centres off the 1 mm lattice of the others.
        try deface("axial 512x512x300", .axial(slices: 300, rows: 512, columns: 512), minimumFace: 1)
    }

    func testGantryTiltedPhantom() throws {
        // Sheared rows (18.5 degrees): landmarks and limits are found in patient coordinates, and the
        // face is scanned both in its slices and level. Brain, bone and non-face: zero, as everywhere.
        let series = PhantomSeries.tilted()
        let stats = try deface("tilted 18.5 deg", series, minimumFace: 0.998)
        // Tilted voxel centres fall at every height and depth, some a few hundredths of a millimetre
        // on the face side of a plane where the face label ends in uniform tissue (36 mm behind the
        // eyes, 36 mm above them, 2 mm below the jaw); the defacer, which measures those planes to
        // ~0.03 mm, keeps 0.25 mm away from them rather than risk the other side. Others sit a tenth
        // of a millimetre under the jaw's bone, where no scan from the skin passes. Only those stay.
        let phantom = HeadPhantom(), v = series.volume
        let planes: [(SIMD3<Double>) -> Double] = [{ $0.y + 40 }, { $0.y + 30 }, { $0.z - 40 }, { $0.z + 76 }, { $0.z + 30 }]
        let offsets = [SIMD3<Double>(0, 0, 0.3), SIMD3(0, 0, -0.3), SIMD3(0, 0.3, 0), SIMD3(0, -0.3, 0), SIMD3(0.3, 0, 0), SIMD3(-0.3, 0, 0)]
        for n in stats.missedFace {
            let p = v.position(n % v.columns, (n / v.columns) % v.rows, n / (v.rows * v.columns))
            let nearPlane = planes.contains { abs($0(p)) < 0.3 }
            let nearBone = offsets.contains { phantom.label(x: p.x + $0.x, y: p.y + $0.y, z: p.z + $0.z) == .bone }
            XCTAssertTrue(nearPlane || nearBone, String(format: "face left at (%.2f, %.2f, %.2f)", p.x, p.y, p.z))
        }
    }

    func testUnevenSliceSpacing() throws {
        try deface("uneven 2 mm / 5 mm", .uneven(), minimumFace: 1)
    }

    func testEveryMaskedVoxelIsSoftTissueOutsideTheSkull() throws {
        let series = PhantomSeries.axial()
        let mask = try XCTUnwrap(Defacer.faceMask(series.volume))
        var masked = 0
        for n in series.labels.indices where mask[n] {
            masked += 1
            XCTAssertTrue(series.labels[n] == .face, "masked \(series.labels[n]) at \(n)")
            XCTAssertLessThan(series.volume.hu[n], DefacingParameters.boneHU)
            XCTAssertGreaterThan(series.volume.hu[n], DefacingParameters.airFloorHU)
        }
        XCTAssertEqual(masked, mask.count)
    }

    func testNoiseModeIsAirLikeAndDeterministic() throws {
        let series = PhantomSeries.axial()
        let options = DefaceOptions(mode: .noise, seed: 42)
        let stats = try deface("noise", series, options: options, minimumFace: 1)
        XCTAssertGreaterThan(stats.faceRemoved, 0)
        let mask = try XCTUnwrap(Defacer.faceMask(series.volume, options: options))
        var a = series.volume, b = series.volume, c = series.volume
        Defacer.apply(mask, to: &a, options: options)
        Defacer.apply(mask, to: &b, options: options)
        Defacer.apply(mask, to: &c, options: DefaceOptions(mode: .noise, seed: 43))
        XCTAssertEqual(a.hu, b.hu, "same seed, same noise")
        XCTAssertNotEqual(a.hu, c.hu, "another seed, other noise")
        var values = Set<Int16>()
        for n in a.hu.indices where mask[n] {
            XCTAssertTrue((-1024 ... -900).contains(a.hu[n]), "noise \(a.hu[n]) is not air")
            values.insert(a.hu[n])
        }
        XCTAssertGreaterThan(values.count, 10, "noise, not a constant")
    }

    func testEarsOnlyWithTheOption() throws {
        let series = PhantomSeries.axial()
        let without = try deface("ears off", series, minimumFace: 1)
        XCTAssertEqual(without.earRemoved, 0)
        let with = try deface("ears on", series, options: DefaceOptions(ears: true), minimumFace: 1)
        // The ear label includes its root inside the scalp, which nothing in the image separates from
        // scalp; the part standing out from the head goes.
        XCTAssertGreaterThan(Double(with.earRemoved) / Double(with.ear), 0.4)
    }

    func testSliceIndicesOfTheMaskAreEveryMaskedPixel() {
        // 13 x 7 x 5: slices that begin and end inside a 64-bit word.
        var mask = FaceMask(columns: 13, rows: 7, slices: 5)
        var generator = SystemRandomNumberGenerator()
        for n in 0..<(13 * 7 * 5) where Bool.random(using: &generator) { mask[n] = true }
        for k in 0..<5 {
            let expected = (0..<(13 * 7)).filter { mask[k * 13 * 7 + $0] }.map(Int32.init)
            XCTAssertEqual(mask.setIndices(slice: k), expected, "slice \(k)")
        }
    }

    func testApplyCountsOnlyChangedVoxels() throws {
        let series = PhantomSeries.axial()
        let mask = try XCTUnwrap(Defacer.faceMask(series.volume))
        var v = series.volume
        XCTAssertEqual(Defacer.apply(mask, to: &v), mask.count)
        XCTAssertEqual(Defacer.apply(mask, to: &v), 0, "already air")
    }

    // MARK: - head or not

    func testPhantomIsAHead() {
        let check = Defacer.checkHead(PhantomSeries.axial().volume)
        XCTAssertTrue(check.isHead, check.reason)
        XCTAssertTrue(check.reason.hasPrefix("skull found in"), check.reason)
        XCTAssertTrue(Defacer.checkHead(PhantomSeries.tilted().volume).isHead)
    }

    func testSoftTissueCylinderIsNotAHead() {
        // An abdomen-like body: soft tissue and fat, no bone ring.
        let v = Self.volume { x, y, _ in
            let r = (x * x / (150 * 150) + y * y / (110 * 110)).squareRoot()
            return r <= 0.8 ? 40 : (r <= 1 ? -100 : -1000)
        }
        let check = Defacer.checkHead(v)
        XCTAssertFalse(check.isHead, check.reason)
        XCTAssertNil(Defacer.faceMask(v))
    }

    func testAirIsNotAHead() {
        let v = Self.volume { _, _, _ in -1000 }
        let check = Defacer.checkHead(v)
        XCTAssertFalse(check.isHead)
        XCTAssertEqual(check.reason, "no skull: not a head series")
        XCTAssertNil(Defacer.faceMask(v))
    }

    func testSpineInABodyIsNotAHead() {
        // A vertebra encloses its canal, but the canal is far smaller than a cranial cavity.
        let v = Self.volume { x, y, _ in
            let dy = y - 60, r = (x * x + dy * dy).squareRoot()
            if r <= 8 { return 30 }
            if r <= 16 { return 700 }
            return (x * x / (150 * 150) + y * y / (110 * 110)) <= 1 ? 40 : -1000
        }
        XCTAssertFalse(Defacer.checkHead(v).isHead)
    }

    static func volume(_ hu: (Double, Double, Double) -> Int16) -> Volume {
        let n = 128, slices = 40, s = 2.5
        var values = [Int16](repeating: 0, count: n * n * slices)
        for k in 0..<slices {
            for j in 0..<n {
                for i in 0..<n {
                    values[(k * n + j) * n + i] = hu(Double(i - n / 2) * s, Double(j - n / 2) * s, Double(k) * 5)
                }
            }
        }
        return Volume(columns: n, rows: n, slices: slices, hu: values,
                      origins: (0..<slices).map { SIMD3(-Double(n / 2) * s, -Double(n / 2) * s, Double($0) * 5) },
                      rowDirection: SIMD3(1, 0, 0), columnDirection: SIMD3(0, 1, 0), columnSpacing: s, rowSpacing: s)
    }

    // MARK: - real data

    /// Sanity check on a real series (GE HiSpeed, +18.5 degree tilt, uneven spacing, lips and chin
    /// not covered). There are no labels: the check is that the face goes and that no removed voxel
    /// lies in a region enclosed by bone in its own slice (a plain flood from the image border through
    /// non-bone, without the defacer's gap closing), nor on bone.
    func testRealTiltedHeadSeries() throws {
        let v = try Self.realVolume(try requireSharedTestData().appendingPathComponent("headct/ge_hispeed_human_tilt18"), every: 1)
        XCTAssertEqual(v.slices, 28)
        let check = Defacer.checkHead(v)
        XCTAssertTrue(check.isHead, check.reason)
        let mask = try XCTUnwrap(Defacer.faceMask(v))
        var after = v
        let changed = Defacer.apply(mask, to: &after)
        let plane = v.rows * v.columns
        var perSlice: [Int] = []
        var enclosedHits = 0
        for k in 0..<v.slices {
            let outside = Self.reachableWithoutCrossingBone(v, slice: k)
            var n = 0
            for p in 0..<plane where mask[k * plane + p] {
                n += 1
                if !outside[p] { enclosedHits += 1 }
                XCTAssertLessThan(v.hu[k * plane + p], DefacingParameters.boneHU)
            }
            perSlice.append(n)
        }
        print("GE: \(check.reason); \(changed) voxels changed; per slice (neck to vertex): \(perSlice)")
        XCTAssertEqual(enclosedHits, 0, "removed voxels enclosed by bone")
        // Nose, cheeks and eyes are in the lowest eight slices, the brow and lower forehead skin up
        // to slice 16; the vault above is untouched.
        for k in 0..<8 { XCTAssertGreaterThan(perSlice[k], 3000, "slice \(k)") }
        XCTAssertGreaterThan(perSlice[12...16].reduce(0, +), 1000, "lower forehead skin")
        for k in 18..<v.slices { XCTAssertEqual(perSlice[k], 0, "slice \(k)") }
    }

    /// Pixels of slice k reachable from the border through non-bone (4-connected).
    static func reachableWithoutCrossingBone(_ v: Volume, slice k: Int) -> [Bool] {
        let w = v.columns, h = v.rows, base = k * w * h
        var seen = [Bool](repeating: false, count: w * h)
        var stack: [Int] = []
        func push(_ p: Int) {
            if !seen[p] && v.hu[base + p] < DefacingParameters.boneHU { seen[p] = true; stack.append(p) }
        }
        for i in 0..<w { push(i); push((h - 1) * w + i) }
        for j in 0..<h { push(j * w); push(j * w + w - 1) }
        while let p = stack.popLast() {
            let i = p % w, j = p / w
            if i > 0 { push(p - 1) }
            if i + 1 < w { push(p + 1) }
            if j > 0 { push(p - w) }
            if j + 1 < h { push(p + w) }
        }
        return seen
    }

    // MARK: - speed

    /// 512 x 512 x 300 in a release build (`swift test -c release --filter DefacerTests/testReleaseTiming`).
    func testReleaseTiming() throws {
        #if DEBUG
        throw XCTSkip("timing needs a release build: swift test -c release --filter DefacerTests/testReleaseTiming")
        #else
        let v = PhantomSeries.axial(slices: 300, rows: 512, columns: 512).volume
        var best = Double.infinity
        for _ in 0..<3 {
            let start = DispatchTime.now()
            let mask = try XCTUnwrap(Defacer.faceMask(v))
            var after = v
            Defacer.apply(mask, to: &after)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9)
        }
        print(String(format: "faceMask + apply, 512x512x300, %d cores: %.3f s (best of 3)",
                     ProcessInfo.processInfo.activeProcessorCount, best))
        #endif
    }
}
