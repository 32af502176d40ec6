@testable import DICOM
@testable import Pixels
import Fixtures
import Foundation
import XCTest

/// The pixel stage on one file, with real Tesseract: masking, the quarantine policy, and the residual
/// check that keeps an image whose text could not be masked from being delivered.
final class TextMaskTests: XCTestCase {
    override class func setUp() {
        try? DicomToolkit.initialize()
    }

    private func slice(with placements: [TextPlacement]) throws -> String {
        let series = BurnedInTextSeries(modality: .ct, slices: 1, rows: 256, columns: 256, accessionNumber: "UNIT1")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ctdeid-textmask-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("IM.dcm").path
        try series.fileBytes(slice: 0, placements: placements).write(to: URL(fileURLWithPath: path))
        return path
    }

    private let overlay = [TextPlacement("NAME: DOE^JANE\nID: 12345678", x: 10, y: 10, height: 12)]

    func testTextIsMaskedAndTheMaskedFrameIsCheckedAgain() throws {
        let path = try slice(with: overlay)
        var file = try DicomFile(path: path)
        let result = FilePixels.process(&file, input: nil, path: path, face: nil, text: .mask)
        XCTAssertNil(result.quarantine)
        XCTAssertFalse(result.masked.isEmpty)
        XCTAssertTrue(result.masked.allSatisfy { $0.box.x0 < 120 && $0.box.y0 < 50 }, "\(result.masked)")
    }

    func testAnImageTheMaskCannotCleanIsQuarantinedAsResidual() throws {
        let path = try slice(with: overlay)
        var file = try DicomFile(path: path)
        // A mask that leaves the pixels as they were: the check after masking still finds the text.
        let result = FilePixels.process(&file, input: nil, path: path, face: nil, text: .mask, masking: { _, _, _ in })
        XCTAssertEqual(result.quarantine, .burnedInTextResidual)
        XCTAssertEqual(result.quarantine?.code, "burned-in-text-residual")
    }

    func testQuarantinePolicyAndTextFreeSlices() throws {
        let path = try slice(with: overlay)
        var file = try DicomFile(path: path)
        XCTAssertEqual(FilePixels.process(&file, input: nil, path: path, face: nil, text: .quarantine).quarantine?.code, "burned-in-text")
        let clean = try slice(with: [])
        var cleanFile = try DicomFile(path: clean)
        let result = FilePixels.process(&cleanFile, input: nil, path: clean, face: nil, text: .mask)
        XCTAssertNil(result.quarantine)
        XCTAssertTrue(result.masked.isEmpty)
    }

    func testTheScreenFindsRowsOfStrokesInBothPolaritiesAndTurnedText() throws {
        let series = BurnedInTextSeries(modality: .ct, slices: 1, rows: 256, columns: 256, accessionNumber: "UNIT2")
        for placement in [TextPlacement("ST MARY HOSPITAL", x: 20, y: 20, height: 10),
                          TextPlacement("ST MARY HOSPITAL", x: 60, y: 120, height: 12, polarity: .dark),
                          TextPlacement("ST MARY HOSPITAL", x: 220, y: 40, height: 10, rotated: true)] {
            let (values, placed) = series.slice(0, placements: [placement])
            let frame = Frame(width: 256, height: 256, values: values.map { Int32(Int16(bitPattern: $0)) })
            let box = placed[0].box
            let found = TextScreen.candidates(in: frame).filter {
                $0.box.x0 <= box.x1 && box.x0 < $0.box.x1 && $0.box.y0 <= box.y1 && box.y0 < $0.box.y1
            }
            XCTAssertFalse(found.isEmpty, "no candidate over \(placement.lines) (\(placement.polarity), rotated \(placement.rotated))")
            XCTAssertTrue(found.contains { $0.vertical == placement.rotated }, "\(found)")
        }
    }
    /// A CT windowed to 0...255 (stored that way) whose range a saturated band of contrast or bone
    /// stretches: an overlay drawn in the lowest value over soft tissue stands out from the tissue by
    /// a fifth of the range or less, under the screen's usual contrast. Small crisp text, as
    /// overlays are burned in: every pixel of its ink falls under the mask, and nothing else does.
    func testDarkTextOverTissueInAFrameStretchedByASaturatedBand() throws {
        let (width, height) = (256, 256)
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        func noise() -> Int {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(seed >> 59)  // 0...31
        }
        var values = [UInt16](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width {
                let value: Int
                if y >= 170 { value = 255 }              // saturated: a third of the frame
                else if x + y < 40 { value = 0 }         // air in a corner
                else { value = 30 + noise() }            // fat and soft tissue, 30...61
                values[y * width + x] = UInt16(value)
            }
        }
        let before = values
        let placed = BurnedInText.draw([TextPlacement("Name: SEXTON CARMEN\nPatient ID: 3209648408\nDOB: 08/04/1932",
                                                      x: 50, y: 60, height: 8, polarity: .dark, antialiased: false)],
                                       into: &values, rows: height, columns: width, signed: false)
        XCTAssertEqual(placed.first?.ink, 0)
        let frame = Frame(width: width, height: height, values: values.map { Int32($0) })
        let mask = try TextMask.find(in: frame, index: 0)
        var inked = 0, covered = 0
        for i in values.indices where values[i] != before[i] {
            inked += 1
            let (x, y) = (i % width, i / width)
            if mask.rectangles.contains(where: { x >= $0.x0 && x < $0.x1 && y >= $0.y0 && y < $0.y1 }) { covered += 1 }
        }
        XCTAssertGreaterThan(inked, 300)
        XCTAssertEqual(covered, inked, "\(inked - covered) of \(inked) ink pixels outside the mask \(mask.rectangles)")
        // Nothing far from the text: the saturated band's edge and the air corner are not text.
        let box = placed[0].box
        for r in mask.rectangles {
            XCTAssertTrue(r.x1 > box.x0 - 12 && r.x0 <= box.x1 + 12 && r.y1 > box.y0 - 12 && r.y0 <= box.y1 + 12, "\(r) far from \(box)")
        }
    }

    /// Soft tissue (100...131) with an air corner, as a CT windowed to 0...255 is stored.
    private func tissue(width: Int, height: Int) -> [UInt16] {
        var seed: UInt64 = 0x2545_F491_4F6C_DD1D
        var values = [UInt16](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width where x + y >= 30 {
                seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                values[y * width + x] = UInt16(100 + Int(seed >> 59))
            }
        }
        return values
    }

    /// How many of the pixels the text changed lie outside the mask's rectangles.
    private func uncovered(_ values: [UInt16], _ before: [UInt16], width: Int, rows: Range<Int>, by mask: TextMask) -> (inked: Int, missed: Int) {
        var inked = 0, missed = 0
        for i in values.indices where values[i] != before[i] && rows.contains(i / width) {
            inked += 1
            let (x, y) = (i % width, i / width)
            if !mask.rectangles.contains(where: { x >= $0.x0 && x < $0.x1 && y >= $0.y0 && y < $0.y1 }) { missed += 1 }
        }
        return (inked, missed)
    }

    /// An overlay whose last line the frame's edge cuts: the tops of its letters (3 px of a 10 px
    /// line) are all that is left of it, too thin to be a line by height, but they are where the
    /// block's next line would be, and they are masked.
    func testALastLineCutByTheFramesEdgeIsMasked() throws {
        let (width, height) = (256, 256)
        // Drawn on a taller slice, then cut to the frame: the frame ends 3 px into the last line.
        let placement = TextPlacement("Patient ID: 3209648408\nName: SEXTON CARMEN\nDOB: 08/04/1932", x: 40, y: 0, height: 10, ink: 255)
        let lineBoxes = BurnedInText.boxes(of: placement).lineBoxes
        var shifted = placement
        shifted.y = height - 3 - lineBoxes[2].y0
        let tall = height + 20
        var values = tissue(width: width, height: tall)
        let before = values
        _ = BurnedInText.draw([shifted], into: &values, rows: tall, columns: width, signed: false)
        let frame = Frame(width: width, height: height, values: values[0..<(width * height)].map { Int32($0) })
        let mask = try TextMask.find(in: frame, index: 0)
        let cut = uncovered(Array(values[0..<(width * height)]), Array(before[0..<(width * height)]), width: width,
                            rows: (height - 3)..<height, by: mask)
        XCTAssertGreaterThan(cut.inked, 10, "the cut line has ink in the frame")
        XCTAssertEqual(cut.missed, 0, "\(cut.missed) of \(cut.inked) ink pixels of the cut line outside the mask \(mask.rectangles)")
        let all = uncovered(Array(values[0..<(width * height)]), Array(before[0..<(width * height)]), width: width,
                            rows: 0..<height, by: mask)
        XCTAssertEqual(all.missed, 0, "\(all.missed) of \(all.inked) ink pixels outside the mask")
    }

    /// A key column whose first line runs along a saturated band (the lower half of its letters lies
    /// in the band), with a value of three lines between it and the next key: the line is followed
    /// along the band only so far, but it starts where the column's other keys start, and is
    /// masked from there.
    func testAKeyLineAlongASaturatedBandStartsWhereItsColumnStarts() throws {
        let (width, height) = (256, 256)
        var values = tissue(width: width, height: height)
        let pitch = 9 + BurnedInText.lineGap(height: 9)
        let key = TextPlacement("Institution:", x: 20, y: 60, height: 9)
        let otherKeys = TextPlacement("Study Date:\nPatient ID:\nName:", x: 20, y: 60 + 3 * pitch, height: 9)
        let first = BurnedInText.boxes(of: key).box
        // The band: from the frame's left edge to two thirds along the first key, over its lower half.
        for y in (first.y0 + first.height / 2)...(first.y1 + 2) {
            for x in 0..<(first.x0 + 2 * first.width / 3) { values[y * width + x] = 255 }
        }
        let before = values
        let valueColumn = TextPlacement("Nielsen, Jimenez\nand Aguilar\nCommunity Hospital\n1999 Sep 23\n3209648408\nSEXTON CARMEN",
                                        x: BurnedInText.boxes(of: otherKeys).box.x1 + 6, y: 60, height: 9)
        _ = BurnedInText.draw([key, otherKeys, valueColumn], into: &values, rows: height, columns: width, signed: false)
        let frame = Frame(width: width, height: height, values: values.map { Int32($0) })
        let mask = try TextMask.find(in: frame, index: 0)
        let line = uncovered(values, before, width: width, rows: first.y0..<(first.y1 + 1), by: mask)
        XCTAssertGreaterThan(line.inked, 50)
        XCTAssertEqual(line.missed, 0, "\(line.missed) of \(line.inked) ink pixels of the first key outside the mask \(mask.rectangles)")
        // The band away from the text is left alone.
        let band = first.y1 + 1
        XCTAssertEqual(frame[band * width + 2], 255)
        var masked = frame
        mask.apply(to: &masked, value: 0)
        XCTAssertEqual(masked[band * width + 2], 255, "the band's far end is not text")
    }

    /// A key whose middle word is drawn over a saturated band (a CT table under it): only the tops
    /// of that word's letters stand above the band. The parts of the line on either side
    /// run into the band facing each other, and the mask goes across it.
    func testAWordOfALineDrawnOverASaturatedBandIsMaskedWithTheRest() throws {
        let (width, height) = (256, 256)
        var values = tissue(width: width, height: height)
        let line = TextPlacement("Institution Name: Nielsen Hospital", x: 20, y: 120, height: 9)
        let box = BurnedInText.boxes(of: line).box
        let start = box.x0 + BitmapFont.width(of: "Institution ", height: 9)
        let end = box.x0 + BitmapFont.width(of: "Institution Name: ", height: 9)
        // The band: across the middle word, under all but the top three rows of its letters.
        for y in (box.y0 + 3)...(box.y1 + 3) {
            for x in (start - 3)..<(end + 3) { values[y * width + x] = 255 }
        }
        let before = values
        _ = BurnedInText.draw([line], into: &values, rows: height, columns: width, signed: false)
        let frame = Frame(width: width, height: height, values: values.map { Int32($0) })
        let mask = try TextMask.find(in: frame, index: 0)
        var inked = 0, missed = 0
        for y in box.y0...box.y1 {
            for x in start..<end where values[y * width + x] != before[y * width + x] {
                inked += 1
                if !mask.rectangles.contains(where: { x >= $0.x0 && x < $0.x1 && y >= $0.y0 && y < $0.y1 }) { missed += 1 }
            }
        }
        XCTAssertGreaterThan(inked, 5, "the tops of the hidden word show")
        XCTAssertEqual(missed, 0, "\(missed) of the \(inked) pixels the hidden word shows are outside the mask \(mask.rectangles)")
        XCTAssertEqual(uncovered(values, before, width: width, rows: 0..<height, by: mask).missed, 0)
    }

    /// A key drawn white over a white (saturated) region just above its block: it shows only where
    /// its first letters leave the region for darker tissue. The block's first line has that region
    /// where the line above it would be, and the mask goes a line higher.
    func testAKeyDrawnWhiteOverWhiteAboveItsBlockIsMasked() throws {
        let (width, height) = (256, 256)
        var values = tissue(width: width, height: height)
        let pitch = 9 + BurnedInText.lineGap(height: 9)
        let key = TextPlacement("Institution Name:", x: 40, y: 100, height: 9)
        let block = TextPlacement("Study Date: 1999 Sep 23\nPatient ID: 3209648408\nName: SEXTON CARMEN", x: 40, y: 100 + pitch, height: 9)
        let first = BurnedInText.boxes(of: key).box
        // The white region: above the block, from the key's second letter to past the block's end.
        for y in 0..<(first.y1 + 2) {
            for x in (first.x0 + 5)..<width { values[y * width + x] = 255 }
        }
        let before = values
        _ = BurnedInText.draw([key, block], into: &values, rows: height, columns: width, signed: false)
        let frame = Frame(width: width, height: height, values: values.map { Int32($0) })
        let mask = try TextMask.find(in: frame, index: 0)
        let shown = uncovered(values, before, width: width, rows: first.y0..<(first.y1 + 1), by: mask)
        XCTAssertGreaterThan(shown.inked, 5, "the key's first letters show")
        XCTAssertEqual(shown.missed, 0, "\(shown.missed) of the \(shown.inked) pixels the key shows are outside the mask \(mask.rectangles)")
        XCTAssertEqual(uncovered(values, before, width: width, rows: 0..<height, by: mask).missed, 0)
    }

    /// The edge of a bone in a head CT: a thin bright band crossing its box at a slant, one
    /// component as long as a word. It holds no letter's stem, so OCR is not asked about it (a
    /// reading costs about 10 ms, and such bands are in every slice); words whose letters ran into
    /// one component have stems at every size and both ways round, and are read.
    func testABoneEdgeIsNotReadButWordsAre() throws {
        let (width, height) = (256, 256)
        var values = tissue(width: width, height: height)
        // 70 px long, rising 9 px, 3 px thick, at the top value.
        for x in 100..<170 {
            let y = 150 - (x - 100) * 9 / 70
            for dy in 0..<3 { values[(y + dy) * width + x] = 255 }
        }
        let band = Frame(width: width, height: height, values: values.map { Int32($0) })
        let candidates = TextScreen.candidates(in: band).filter { $0.box.x0 < 170 && $0.box.x1 > 100 && $0.box.y0 < 155 }
        XCTAssertFalse(candidates.isEmpty, "the band is a candidate row (it may still be a block's line)")
        XCTAssertTrue(candidates.allSatisfy { !$0.isReadable }, "\(candidates.map { ($0.box, $0.components, $0.stems) })")
        var readings = 0
        let mask = try TextMask.find(in: band, index: 0) { candidates, _ in
            readings += candidates.count
            return candidates.map { _ in TextEvidence() }
        }
        XCTAssertEqual(readings, 0)
        XCTAssertTrue(mask.isEmpty)

        for height in [7, 9, 12, 16, 24] {
            for rotated in [false, true] {
                var values = tissue(width: width, height: width)
                let placed = BurnedInText.draw([TextPlacement("SEXTON", x: 40, y: 40, height: height, rotated: rotated, ink: 255)],
                                               into: &values, rows: width, columns: width, signed: false)
                let frame = Frame(width: width, height: width, values: values.map { Int32($0) })
                let strokes = TextScreen.strokePixels(frame, range: frame.range!, polarity: .bright)
                let b = placed[0].box  // inclusive corners
                let share = TextScreen.stemShare(PixelBox(x0: b.x0, y0: b.y0, x1: b.x1 + 1, y1: b.y1 + 1), vertical: rotated,
                                                 strokes: strokes, width: width)
                XCTAssertGreaterThanOrEqual(share, 2 * TextScreen.minimumStemShare, "\(height) px, rotated \(rotated)")
            }
        }
    }
}
