import Foundation

/// A small axial body series (CT or MR) of synthetic slices into which burned-in text can be drawn
/// at known places. The body is an elliptic cylinder of soft tissue in air with a ring of dense
/// material inside its surface (ribs on CT, subcutaneous fat on MR) and a spine disc behind; it narrows
/// a little from slice to slice and carries mild deterministic noise.
///
/// Everything is derived from the arguments: the same series and placements give byte-identical files,
/// and a slice without placements is exactly the file the series writes when there is no text at all.
public struct BurnedInTextSeries: Sendable {
    public enum Modality: String, Sendable, Codable {
        case ct = "CT"
        case mr = "MR"
    }

    public static let ctImageStorage = "1.2.840.10008.5.1.4.1.1.2"
    public static let mrImageStorage = "1.2.840.10008.5.1.4.1.1.4"
    static let uidRoot = "1.2.826.0.1.3680043.9.7391.77"

    public let modality: Modality
    public let slices: Int
    public let rows: Int
    public let columns: Int
    public let patientName: String
    public let patientID: String
    /// The product's folder key: write the series into `<inbox>/<accessionNumber>`.
    public let accessionNumber: String
    public let studyDate: String
    /// CT only: 0 (stored values are HU) or -1024 (stored = HU + 1024). CT is signed either way.
    public let ctRescaleIntercept: Int
    /// BodyPartExamined ("" writes it empty): the only thing that tells an MR series of the abdomen
    /// from one of the head, which the product holds (`face-not-removed`).
    public var bodyPart = "ABDOMEN"

    public init(modality: Modality, slices: Int = 8, rows: Int = 512, columns: Int = 512,
                patientName: String = "DOE^JANE", patientID: String = "12345678", accessionNumber: String,
                studyDate: String = "20240117", ctRescaleIntercept: Int = 0) {
        precondition(slices > 0 && rows >= 64 && columns >= 64, "series needs slices > 0 and at least 64x64 pixels")
        precondition(ctRescaleIntercept == 0 || ctRescaleIntercept == -1024, "CT rescale intercept is 0 or -1024")
        self.modality = modality
        self.slices = slices
        self.rows = rows
        self.columns = columns
        self.patientName = patientName
        self.patientID = patientID
        self.accessionNumber = accessionNumber
        self.studyDate = studyDate
        self.ctRescaleIntercept = ctRescaleIntercept
    }

    /// Two's complement stored values (PixelRepresentation 1) on CT, unsigned 12-bit on MR.
    public var signed: Bool { modality == .ct }
    public var bitsStored: Int { modality == .ct ? 16 : 12 }
    public var sopClassUID: String { modality == .ct ? Self.ctImageStorage : Self.mrImageStorage }

    /// Field of view across the columns, mm.
    public static let fieldOfView = 400.0
    public var pixelSpacing: Double { DicomText.dsRoundTrip(Self.fieldOfView / Double(columns)) }
    public static let sliceThickness = 5.0
    public func z(slice k: Int) -> Double { DicomText.dsRoundTrip(-Double(slices) * Self.sliceThickness / 2 + Double(k) * Self.sliceThickness) }

    // MARK: - identity

    /// Seeds the noise and the UIDs, so that different patients or accessions never share either.
    var seed: UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in "\(modality.rawValue)|\(patientID)|\(accessionNumber)|\(studyDate)".utf8 {
            h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3
        }
        return h
    }

    func uid(_ kind: Int, _ n: Int = 1) -> String { "\(Self.uidRoot).\(seed % 10_000_000_000).\(kind).\(n)" }
    public var studyInstanceUID: String { uid(1) }
    public var seriesInstanceUID: String { uid(2) }
    public func sopInstanceUID(slice k: Int) -> String { uid(3, k + 1) }
    public var frameOfReferenceUID: String { uid(4) }
    public var implementationClassUID: String { uid(9) }
    public func fileName(slice k: Int) -> String { "IM_" + CivilDate.pad(k + 1, 4) + ".dcm" }

    // MARK: - pixels

    /// What a pixel of the text-free slice shows.
    public enum Region: Sendable {
        case air, tissue, dense
    }

    /// Body outline of slice `k`: centre and semi-axes in pixels. Narrows by 4% from first to last slice.
    func ellipse(slice k: Int) -> (cx: Double, cy: Double, a: Double, b: Double) {
        let t = slices > 1 ? Double(k) / Double(slices - 1) : 0
        let shrink = 1 - 0.04 * t
        return (Double(columns) / 2, Double(rows) / 2, 0.40 * Double(columns) * shrink, 0.30 * Double(rows) * shrink)
    }

    /// Region of the pixel centre (row r, column c) of slice `k`.
    public func region(slice k: Int, row r: Int, column c: Int) -> Region {
        let e = ellipse(slice: k)
        let dx = (Double(c) + 0.5 - e.cx) / e.a, dy = (Double(r) + 0.5 - e.cy) / e.b
        let q = dx * dx + dy * dy
        if q > 1 { return .air }
        if q >= 0.72 && q <= 0.80 { return .dense }
        let sx = Double(c) + 0.5 - e.cx, sy = Double(r) + 0.5 - (e.cy + 0.72 * e.b)
        let sr = 0.05 * Double(columns)
        return sx * sx + sy * sy <= sr * sr ? .dense : .tissue
    }

    /// Stored values of text-free slice `k`, rows x columns, row-major (two's complement on CT).
    public func storedValues(slice k: Int) -> [UInt16] {
        precondition(k >= 0 && k < slices, "slice out of range")
        var out = [UInt16](repeating: 0, count: rows * columns)
        let s = seed ^ (UInt64(k) &* 0x9E37_79B9_7F4A_7C15)
        for r in 0..<rows {
            for c in 0..<columns {
                let i = r * columns + c
                let u = Self.mix(s &+ UInt64(i))
                // Roughly triangular noise in -1...1: the sum of two uniform draws.
                let n = (Double(u & 0xFFFF) + Double((u >> 16) & 0xFFFF)) / 65535 - 1
                let region = region(slice: k, row: r, column: c)
                if modality == .ct {
                    let hu: Double
                    switch region {
                    case .air: hu = -1000 + 6 * n
                    case .tissue: hu = 40 + 10 * n
                    case .dense: hu = 700 + 20 * n
                    }
                    let stored = Int(hu.rounded()) - ctRescaleIntercept
                    out[i] = UInt16(bitPattern: Int16(stored))
                } else {
                    let v: Double
                    switch region {
                    case .air: v = 15 * abs(n)
                    case .tissue: v = 600 + 25 * n
                    case .dense: v = 1400 + 30 * n
                    }
                    out[i] = UInt16(v.rounded())
                }
            }
        }
        return out
    }

    /// SplitMix64 finaliser.
    @inline(__always) static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Slice `k` with `placements` drawn, and what was drawn.
    public func slice(_ k: Int, placements: [TextPlacement]) -> (values: [UInt16], placed: [PlacedText]) {
        var v = storedValues(slice: k)
        let placed = BurnedInText.draw(placements, into: &v, rows: rows, columns: columns, signed: signed)
        return (v, placed)
    }

    // MARK: - files

    /// The Part 10 bytes of slice `k` with `values` as its pixel data.
    public func fileBytes(slice k: Int, values: [UInt16]) throws -> Data {
        precondition(values.count == rows * columns, "values must hold rows * columns pixels")
        var pixels = Data(capacity: values.count * 2)
        for v in values {
            pixels.append(UInt8(truncatingIfNeeded: v))
            pixels.append(UInt8(truncatingIfNeeded: v >> 8))
        }
        let meta = DicomWriter.fileMeta(sopClassUID: sopClassUID, sopInstanceUID: sopInstanceUID(slice: k),
                                        implementationClassUID: implementationClassUID,
                                        implementationVersionName: "CTDEID_FIXTURE")
        return try DicomWriter.part10(meta: meta, dataset: dataset(slice: k, pixelData: pixels))
    }

    /// The Part 10 bytes of slice `k` with `placements` drawn.
    public func fileBytes(slice k: Int, placements: [TextPlacement] = []) throws -> Data {
        try fileBytes(slice: k, values: slice(k, placements: placements).values)
    }

    /// What `write` produced for one slice.
    public struct WrittenSlice: Sendable {
        public let slice: Int
        public let file: URL
        public let sopInstanceUID: String
        public let placed: [PlacedText]
        /// One per placement, as in `placed`.
        public var boxes: [TextBox] { placed.map(\.box) }
    }

    /// Writes `<folder>/IM_0001.dcm`, ... (folder created if needed), slice `k` carrying `textOnSlices(k)`.
    public func write(into folder: URL, textOnSlices: (Int) -> [TextPlacement] = { _ in [] }) throws -> [WrittenSlice] {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var out: [WrittenSlice] = []
        for k in 0..<slices {
            let (values, placed) = slice(k, placements: textOnSlices(k))
            let url = folder.appendingPathComponent(fileName(slice: k), isDirectory: false)
            try fileBytes(slice: k, values: values).write(to: url)
            out.append(WrittenSlice(slice: k, file: url, sopInstanceUID: sopInstanceUID(slice: k), placed: placed))
        }
        return out
    }

    /// The dataset of slice `k`. BurnedInAnnotation (0028,0301) is left out on purpose: the product must
    /// find the text from the pixels, not be told.
    public func dataset(slice k: Int, pixelData: Data) -> [DicomElement] {
        let ds = DicomText.ds
        let s = pixelSpacing
        let ox = -Double(columns) * s / 2 + s / 2, oy = -Double(rows) * s / 2 + s / 2
        let z = z(slice: k)
        var e: [DicomElement] = [
            DicomElement(0x0008, 0x0008, .CS, "ORIGINAL\\PRIMARY\\AXIAL"),
            DicomElement(0x0008, 0x0016, .UI, sopClassUID),
            DicomElement(0x0008, 0x0018, .UI, sopInstanceUID(slice: k)),
            DicomElement(0x0008, 0x0020, .DA, studyDate),
            DicomElement(0x0008, 0x0021, .DA, studyDate),
            DicomElement(0x0008, 0x0023, .DA, studyDate),
            DicomElement(0x0008, 0x0030, .TM, "093000"),
            DicomElement(0x0008, 0x0031, .TM, "093200"),
            DicomElement(0x0008, 0x0033, .TM, "0932" + CivilDate.pad(k % 60, 2)),
            DicomElement(0x0008, 0x0050, .SH, accessionNumber),
            DicomElement(0x0008, 0x0060, .CS, modality.rawValue),
            DicomElement(0x0008, 0x0070, .LO, "SYNTHETIC PHANTOM WORKS"),
            DicomElement(0x0008, 0x0090, .PN, .empty),
            DicomElement(0x0008, 0x103E, .LO, "AXIAL BODY BURNED-IN TEXT"),
            DicomElement(0x0010, 0x0010, .PN, patientName),
            DicomElement(0x0010, 0x0020, .LO, patientID),
            DicomElement(0x0010, 0x0030, .DA, .empty),
            DicomElement(0x0010, 0x0040, .CS, .empty),
            DicomElement(0x0018, 0x0015, .CS, .text(bodyPart)),
            DicomElement(0x0018, 0x0050, .DS, ds(Self.sliceThickness)),
            DicomElement(0x0018, 0x5100, .CS, "HFS"),
            DicomElement(0x0020, 0x000D, .UI, studyInstanceUID),
            DicomElement(0x0020, 0x000E, .UI, seriesInstanceUID),
            DicomElement(0x0020, 0x0010, .SH, "1"),
            DicomElement(0x0020, 0x0011, .IS, "1"),
            DicomElement(0x0020, 0x0012, .IS, "1"),
            DicomElement(0x0020, 0x0013, .IS, String(k + 1)),
            DicomElement(0x0020, 0x0032, .DS, "\(ds(ox))\\\(ds(oy))\\\(ds(z))"),
            DicomElement(0x0020, 0x0037, .DS, "1\\0\\0\\0\\1\\0"),
            DicomElement(0x0020, 0x0052, .UI, frameOfReferenceUID),
            DicomElement(0x0020, 0x1040, .LO, .empty),
            DicomElement(0x0020, 0x1041, .DS, ds(z)),
            DicomElement(0x0028, 0x0002, .US, .uint16([1])),
            DicomElement(0x0028, 0x0004, .CS, "MONOCHROME2"),
            DicomElement(0x0028, 0x0010, .US, .uint16([UInt16(rows)])),
            DicomElement(0x0028, 0x0011, .US, .uint16([UInt16(columns)])),
            DicomElement(0x0028, 0x0030, .DS, "\(ds(s))\\\(ds(s))"),
            DicomElement(0x0028, 0x0100, .US, .uint16([16])),
            DicomElement(0x0028, 0x0101, .US, .uint16([UInt16(bitsStored)])),
            DicomElement(0x0028, 0x0102, .US, .uint16([UInt16(bitsStored - 1)])),
            DicomElement(0x0028, 0x0103, .US, .uint16([signed ? 1 : 0])),
            DicomElement(0x7FE0, 0x0010, .OW, .bytes(pixelData)),
        ]
        switch modality {
        case .ct:
            e += [
                DicomElement(0x0018, 0x0060, .DS, "120"),
                DicomElement(0x0028, 0x1050, .DS, "40"),
                DicomElement(0x0028, 0x1051, .DS, "400"),
                DicomElement(0x0028, 0x1052, .DS, String(ctRescaleIntercept)),
                DicomElement(0x0028, 0x1053, .DS, "1"),
                DicomElement(0x0028, 0x1054, .LO, "HU"),
            ]
        case .mr:
            e += [
                DicomElement(0x0018, 0x0020, .CS, "SE"),
                DicomElement(0x0018, 0x0021, .CS, "NONE"),
                DicomElement(0x0018, 0x0022, .CS, .empty),
                DicomElement(0x0018, 0x0023, .CS, "2D"),
                DicomElement(0x0018, 0x0080, .DS, "500"),
                DicomElement(0x0018, 0x0081, .DS, "15"),
                DicomElement(0x0018, 0x0087, .DS, "1.5"),
                DicomElement(0x0018, 0x0091, .IS, "1"),
                DicomElement(0x0028, 0x1050, .DS, "700"),
                DicomElement(0x0028, 0x1051, .DS, "1400"),
            ]
        }
        return e
    }
}

/// Ready-made series with burned-in text for the product's tests.
public enum BurnedInTextStudy {
    /// Writes a series into `folder` (use `<inbox>/<accessionNumber>`); see `BurnedInTextSeries`.
    public static func writeSeries(into folder: URL, modality: BurnedInTextSeries.Modality, slices: Int, rows: Int,
                                   columns: Int, patientName: String = "DOE^JANE", patientID: String = "12345678",
                                   accessionNumber: String, studyDate: String = "20240117",
                                   textOnSlices: (Int) -> [TextPlacement]) throws -> [BurnedInTextSeries.WrittenSlice] {
        let series = BurnedInTextSeries(modality: modality, slices: slices, rows: rows, columns: columns,
                                        patientName: patientName, patientID: patientID,
                                        accessionNumber: accessionNumber, studyDate: studyDate)
        return try series.write(into: folder, textOnSlices: textOnSlices)
    }

    /// What lies under a standard placement in the text-free slice.
    public enum Background: String, Sendable {
        case air, tissue
    }

    public struct StandardText: Sendable {
        public let placement: TextPlacement
        public let background: Background
        /// Exact bounds of the drawn pixels (the same as `BurnedInText.boxes(of:)`).
        public var box: TextBox { BurnedInText.boxes(of: placement).box }
        public var lineBoxes: [TextBox] { BurnedInText.boxes(of: placement).lineBoxes }
    }

    public struct StandardCase: Sendable {
        public let name: String
        public let series: BurnedInTextSeries
        /// Per slice; an empty list is a text-free slice.
        public let texts: [[StandardText]]

        public func placements(slice k: Int) -> [TextPlacement] { texts[k].map(\.placement) }
        public var textFreeSlices: [Int] { texts.indices.filter { texts[$0].isEmpty } }

        /// Writes the series into `<inbox>/<accessionNumber>`.
        @discardableResult
        public func write(into inbox: URL) throws -> [BurnedInTextSeries.WrittenSlice] {
            let folder = inbox.appendingPathComponent(series.accessionNumber, isDirectory: true)
            return try series.write(into: folder) { placements(slice: $0) }
        }
    }

    /// The heights the detector must handle.
    public static let standardHeights = [7, 8, 10, 12, 16, 24]

    /// A scanner's patient overlay.
    public static let overlayLines = ["NAME: DOE^JANE", "ID: 12345678", "DOB: 1950/01/01", "ST MARY HOSPITAL"]

    /// Lines of one text per standard height, stacked from row `top` at column `x`, `spacing` rows apart.
    static func ladder(_ texts: [(String, Int)], x: Int, top: Int, spacing: Int, polarity: TextPolarity,
                       background: Background) -> [StandardText] {
        var y = top
        return texts.map { text, h in
            defer { y += h + spacing }
            return StandardText(placement: TextPlacement(text, x: x, y: y, height: h, polarity: polarity), background: background)
        }
    }

    /// Three series (accessions BIT0001, BIT0002, BIT0003), all for DOE^JANE / 12345678:
    ///
    /// * "ct-body-512": CT 512x512, 8 slices, stored = HU (signed).
    ///   0: none. 1: bright overlay block over air (4 lines, 10 px) top left, a 2-line 8 px block top right,
    ///   one 7 px line bottom left. 2: one line at each of 7, 8, 10, 12, 16 px (top band) and 24 px (bottom
    ///   band), bright over air. 3: the six heights bright over tissue. 4: 8, 12, 16, 24 px dark over tissue.
    ///   5: none. 6: a rotated (90° clockwise) 3-line 10 px block, bright over air at the right edge.
    ///   7: mixed case and punctuation, 12, 16 and 24 px, bright over air.
    /// * "mr-body-256": MR 256x256, 4 slices, unsigned 12-bit. 0: 3-line 8 px overlay, bright over air.
    ///   1: none. 2: 12 px dark and 10 px bright over tissue. 3: rotated 2-line 8 px block, bright over air.
    /// * "ct-intercept-256": CT 256x256, 3 slices, RescaleIntercept -1024. 0: none. 1: 24 px bright over air
    ///   and 16 px dark over tissue. 2: none.
    public static func standardCases() -> [StandardCase] {
        let ct = BurnedInTextSeries(modality: .ct, slices: 8, rows: 512, columns: 512, accessionNumber: "BIT0001")
        let ladderTexts = zip(["ID: 12345678", "NAME: DOE^JANE", "DOB: 1950/01/01", "ST MARY HOSPITAL",
                               "ACC: BIT0001", "DOE^JANE"], standardHeights).map { ($0, $1) }
        let overlay = overlayLines.joined(separator: "\n")
        let topRight = "CT ABDOMEN\n2024/01/17 09:30"
        let topRightWidth = BurnedInText.boxes(of: TextPlacement(topRight, x: 0, y: 0, height: 8)).box.x1 + 1
        let ctTexts: [[StandardText]] = [
            [],
            [
                StandardText(placement: TextPlacement(overlay, x: 6, y: 6, height: 10), background: .air),
                StandardText(placement: TextPlacement(topRight, x: 512 - 6 - topRightWidth, y: 6, height: 8), background: .air),
                StandardText(placement: TextPlacement("Se: 2 Im: 2", x: 6, y: 512 - 6 - 7, height: 7), background: .air),
            ],
            ladder(Array(ladderTexts.prefix(5)), x: 8, top: 6, spacing: 4, polarity: .bright, background: .air)
                + ladder([ladderTexts[5]], x: 8, top: 450, spacing: 0, polarity: .bright, background: .air),
            ladder(ladderTexts, x: 146, top: 178, spacing: 6, polarity: .bright, background: .tissue),
            ladder([("DOE^JANE", 8), ("ID: 12345678", 12), ("ST MARY", 16), ("1950/01/01", 24)],
                   x: 150, top: 190, spacing: 8, polarity: .dark, background: .tissue),
            [],
            [StandardText(placement: TextPlacement("ST MARY HOSPITAL\nCT ABDOMEN\n2024/01/17", x: 512 - 6 - 34, y: 200,
                                                   height: 10, rotated: true), background: .air)],
            ladder([("Acc - BIT0001 / exam: 3", 12), ("Dr. Smith, Radiology (ward 4)", 16), ("Jane Doe", 24)],
                   x: 8, top: 6, spacing: 6, polarity: .bright, background: .air),
        ]

        let mr = BurnedInTextSeries(modality: .mr, slices: 4, rows: 256, columns: 256, accessionNumber: "BIT0002")
        let mrTexts: [[StandardText]] = [
            [StandardText(placement: TextPlacement(overlayLines.prefix(3).joined(separator: "\n"), x: 4, y: 4, height: 8),
                          background: .air)],
            [],
            [
                StandardText(placement: TextPlacement("ST MARY", x: 102, y: 110, height: 12, polarity: .dark), background: .tissue),
                StandardText(placement: TextPlacement("ID 12345678", x: 94, y: 132, height: 10), background: .tissue),
            ],
            [StandardText(placement: TextPlacement("NAME: DOE^JANE\nID: 12345678", x: 256 - 4 - 18, y: 90, height: 8,
                                                   rotated: true), background: .air)],
        ]

        let ct2 = BurnedInTextSeries(modality: .ct, slices: 3, rows: 256, columns: 256, accessionNumber: "BIT0003",
                                     ctRescaleIntercept: -1024)
        let ct2Texts: [[StandardText]] = [
            [],
            [
                StandardText(placement: TextPlacement("DOE^JANE", x: 8, y: 8, height: 24), background: .air),
                StandardText(placement: TextPlacement("12345678", x: 84, y: 120, height: 16, polarity: .dark), background: .tissue),
            ],
            [],
        ]
        return [
            StandardCase(name: "ct-body-512", series: ct, texts: ctTexts),
            StandardCase(name: "mr-body-256", series: mr, texts: mrTexts),
            StandardCase(name: "ct-intercept-256", series: ct2, texts: ct2Texts),
        ]
    }
}
