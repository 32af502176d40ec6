import Foundation
import XCTest
@testable import Fixtures

final class HeadPhantomTests: XCTestCase {
    let phantom = HeadPhantom()

    func testLandmarkLabels() {
        XCTAssertEqual(phantom.label(x: 0, y: -106, z: -20), .face, "nose tip")
        XCTAssertEqual(phantom.label(x: 0, y: 5, z: 30), .brain, "centre of the head")
        XCTAssertEqual(phantom.label(x: 0, y: -127, z: 95), .air, "far outside")
        XCTAssertEqual(phantom.label(x: 120, y: 120, z: -99), .air, "corner")
        XCTAssertEqual(phantom.label(x: 30, y: -66, z: 4), .face, "left eye globe (+x is the patient's left)")
        XCTAssertEqual(phantom.hounsfield(x: 30, y: -66, z: 4), HeadPhantom.eyeHU)
        XCTAssertEqual(phantom.label(x: -30, y: -66, z: 4), .face, "other eye")
        XCTAssertEqual(phantom.label(x: 0, y: -91, z: -36), .face, "upper lip")
        XCTAssertEqual(phantom.label(x: 0, y: -75, z: -72), .face, "chin")
        XCTAssertEqual(phantom.label(x: 78, y: 10, z: 2), .ear, "left ear")
        XCTAssertEqual(phantom.label(x: -78, y: 10, z: 2), .ear, "right ear")
        XCTAssertEqual(phantom.label(x: 0, y: 5, z: 89), .bone, "skull at the vertex")
        XCTAssertEqual(phantom.label(x: 0, y: 5, z: 96), .softTissue, "scalp")
        XCTAssertEqual(phantom.label(x: 0, y: 18, z: -95), .softTissue, "neck")
        XCTAssertEqual(phantom.label(x: 0, y: 32 + 10, z: -90), .bone, "cervical vertebra")
        XCTAssertEqual(phantom.label(x: 0, y: 4, z: -90), .air, "airway")
        XCTAssertEqual(phantom.hounsfield(x: 0, y: 5, z: 30), HeadPhantom.brainHU)
        XCTAssertEqual(phantom.hounsfield(x: 0, y: 5, z: 89), HeadPhantom.boneHU)
        XCTAssertEqual(phantom.hounsfield(x: 0, y: -127, z: 95), HeadPhantom.airHU)
    }

    func testStandardGeometry() {
        let g = VolumeGeometry(slices: 200, rows: 512, columns: 512)
        XCTAssertEqual(g.pixelSpacing, 0.5)
        XCTAssertEqual(g.sliceSpacing, 1)
        XCTAssertEqual(g.originX, -127.75)
        XCTAssertEqual(g.sliceZ.first, -99.5)
        XCTAssertEqual(g.sliceZ.last, 99.5)
        let small = VolumeGeometry(slices: 3, rows: 64, columns: 64)
        XCTAssertEqual(small.pixelSpacing, 4)
        for z in small.sliceZ { XCTAssertEqual(Double(DicomText.ds(z)), z) }
        XCTAssertEqual(Double(DicomText.ds(small.sliceSpacing)), small.sliceSpacing)
    }

    /// Rendering and `label`/`hounsfield` agree at every voxel centre, and the head has all tissues.
    func testRenderedSlicesMatchPointLabels() {
        let g = VolumeGeometry(slices: 40, rows: 96, columns: 96)
        var counts: [Tissue: Int] = [:]
        for k in 0..<g.slices {
            let hu = phantom.slice(k, geometry: g)
            let labels = phantom.labels(slice: k, geometry: g)
            for r in 0..<g.rows {
                for c in 0..<g.columns {
                    let x = g.x(column: c), y = g.y(row: r), z = g.z(slice: k)
                    let i = r * g.columns + c
                    XCTAssertEqual(labels[i], phantom.label(x: x, y: y, z: z))
                    XCTAssertEqual(hu[i], phantom.hounsfield(x: x, y: y, z: z))
                    counts[labels[i], default: 0] += 1
                }
            }
        }
        for t in Tissue.allCases { XCTAssertGreaterThan(counts[t, default: 0], 0, "\(t)") }
    }

    /// Face and brain are never neighbours (6-neighbourhood at 1 mm), and face is anterior and low.
    func testFaceIsAnteriorInferiorAndAwayFromBrain() {
        let g = VolumeGeometry(slices: 200, rows: 256, columns: 256)
        var prev: [Tissue] = []
        var faceCount = 0
        for k in 0..<g.slices {
            let cur = phantom.labels(slice: k, geometry: g)
            for r in 0..<g.rows {
                for c in 0..<g.columns {
                    let i = r * g.columns + c
                    guard cur[i] == .face || cur[i] == .brain else { continue }
                    let other: Tissue = cur[i] == .face ? .brain : .face
                    if c > 0 { XCTAssertNotEqual(cur[i - 1], other) }
                    if r > 0 { XCTAssertNotEqual(cur[i - g.columns], other) }
                    if !prev.isEmpty { XCTAssertNotEqual(prev[i], other) }
                    if cur[i] == .face {
                        faceCount += 1
                        XCTAssertLessThan(g.y(row: r), -30)
                        XCTAssertLessThan(g.z(slice: k), 40)
                    } else {
                        XCTAssertGreaterThan(g.z(slice: k), -23)
                    }
                }
            }
            prev = cur
        }
        XCTAssertGreaterThan(faceCount, 10_000)
    }
}
