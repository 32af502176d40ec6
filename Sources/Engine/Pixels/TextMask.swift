/// What to do with an image whose pixels carry text (config key `burned_in`).
public enum BurnedInPolicy: String, Sendable, CaseIterable {
    /// Text is masked to the background and the image delivered (the default).
    case mask
    /// An image with text is quarantined (`burned-in-text`).
    case quarantine
    /// No check of the pixels; BurnedInAnnotation=YES is quarantined as the header says.
    case off

    /// Refuses to start when the pixels are to be checked but OCR cannot run (a missing package is
    /// a configuration problem, not a reason to quarantine every image).
    public func checkReady() throws(ConfigurationError) {
        guard self != .off else { return }
        do {
            try TextReader.checkAvailable()
        } catch {
            throw ConfigurationError("burned_in = \(rawValue): \(error.reason); or set burned_in = off")
        }
    }
}

/// One masked region of one frame, for the audit: where, and which evidence found it.
public struct TextRegion: Sendable, Equatable {
    public var frame: Int
    public var box: PixelBox
    /// "ocr": OCR read words in it; "screen": many character-shaped strokes in a row;
    /// "block": a stroke row next to text found either way (the rest of a text block).
    public var stage: String
}

/// The text found in one frame and the rectangles that cover it.
public struct TextMask: Sendable {
    /// Recorded with every region: which detector (and OCR engine) found it.
    public static let detectorVersion = "ctdeid-text 1 (screen + Tesseract \(TextReader.version))"
    /// The rows judged to be text, with their evidence.
    public var regions: [TextRegion]
    /// The rectangles to set to the background: the rows grown by a margin, and the space between
    /// rows of one block (a line drawn over tissue of its own brightness cannot be seen, but can be read beside it).
    public var rectangles: [PixelBox]
    /// The rows with evidence of their own (OCR or geometry), which later rounds may continue.
    public var rows: [TextCandidate] = []

    public var isEmpty: Bool { regions.isEmpty }

    /// The same with Tesseract, one reader borrowed per frame that needs one.
    public static func find(in frame: Frame, index: Int, range: (lo: Int32, hi: Int32)? = nil,
                            near known: [TextCandidate] = []) throws(PixelError) -> TextMask {
        try find(in: frame, index: index, range: range, near: known) { (candidates, frame) throws(PixelError) in
            try TextReader.withReader { $0.read(candidates, in: frame) }
        }
    }

    /// Finds the text of one frame: the screen's candidates, read by OCR; rows with OCR or strong
    /// geometric evidence are text, and so are candidate rows that continue such a block.
    /// `known`: text rows found (and masked) before; a candidate that continues one of them is text too.
    public static func find(in frame: Frame, index: Int, range: (lo: Int32, hi: Int32)? = nil, near known: [TextCandidate] = [],
                            read: ([TextCandidate], Frame) throws(PixelError) -> [TextEvidence]) throws(PixelError) -> TextMask {
        let candidates = TextScreen.candidates(in: frame, range: range)
        guard !candidates.isEmpty else { return TextMask(regions: [], rectangles: []) }
        var stage = [String?](repeating: nil, count: candidates.count)
        // OCR only where the geometry alone does not already decide.
        for (i, candidate) in candidates.enumerated() where candidate.isStrongEvidence { stage[i] = "screen" }
        let unsure = candidates.indices.filter { stage[$0] == nil && candidates[$0].isReadable }
        if !unsure.isEmpty {
            let evidence = try read(unsure.map { candidates[$0] }, frame)
            for (k, i) in unsure.enumerated() where evidence[k].isText { stage[i] = "ocr" }
        }
        guard stage.contains(where: { $0 != nil }) || !known.isEmpty else { return TextMask(regions: [], rectangles: []) }
        // One step only, from rows with evidence of their own: a chain of "continues" would walk
        // along anatomy (a body outline, a row of ribs) away from the text.
        let sure = candidates.indices.filter { stage[$0] != nil }
        for i in candidates.indices where stage[i] == nil {
            if sure.contains(where: { continues(candidates[i], candidates[$0]) }) || known.contains(where: { continues(candidates[i], $0) }) {
                stage[i] = "block"
            }
        }
        let text = candidates.indices.filter { stage[$0] != nil }
        // A row's ends are often fainter than its middle (small anti-aliased characters, tissue
        // behind them): each row is followed along its line as far as its strokes go.
        let lineRange = range ?? frame.range ?? (0, 1)
        var rows = candidates
        for i in text { rows[i].box = followed(candidates[i], in: frame, range: lineRange) }
        var rectangles: [PixelBox] = []
        for i in text {
            let candidate = rows[i]
            rectangles.append(candidate.box.grown(by: margin(candidate), within: frame.width, frame.height))
        }
        // Between two overlapping rows of a block, over both their spans: a line between them may be
        // invisible where it crosses tissue of its own brightness and readable where it leaves it.
        for i in text {
            for j in text where j != i {
                let a = rows[i], b = rows[j]
                guard a.vertical == b.vertical else { continue }
                let h = max(a.characterHeight, b.characterHeight)
                if !a.vertical, a.box.y1 <= b.box.y0, b.box.y0 - a.box.y1 <= 3 * h {
                    let x0 = min(a.box.x0, b.box.x0), x1 = max(a.box.x1, b.box.x1)
                    if min(a.box.x1, b.box.x1) > max(a.box.x0, b.box.x0) {
                        rectangles.append(PixelBox(x0: x0, y0: a.box.y1, x1: x1, y1: b.box.y0))
                    }
                } else if a.vertical, a.box.x1 <= b.box.x0, b.box.x0 - a.box.x1 <= 3 * h {
                    let y0 = min(a.box.y0, b.box.y0), y1 = max(a.box.y1, b.box.y1)
                    if min(a.box.y1, b.box.y1) > max(a.box.y0, b.box.y0) {
                        rectangles.append(PixelBox(x0: a.box.x1, y0: y0, x1: b.box.x0, y1: y1))
                    }
                }
            }
        }
        let regions = text.map { TextRegion(frame: index, box: rows[$0].box, stage: stage[$0]!) }
        return TextMask(regions: regions, rectangles: rectangles, rows: sure.map { candidates[$0] })
    }

    /// The row's box, extended along its line over every column (row, for turned text) that still
    /// holds a stroke: a pixel standing out from the band's background by a tenth of the range, in a
    /// column the band does not mostly fill (tissue fills it; letters leave gaps). Stops after a gap
    /// of a character's height, and at most three characters' heights out on either side.
    static func followed(_ row: TextCandidate, in frame: Frame, range: (lo: Int32, hi: Int32)) -> PixelBox {
        let sign: Int64 = row.polarity == .bright ? 1 : -1
        let threshold = max(1, Int64(Double(range.hi - range.lo) * 0.1))
        let h = row.characterHeight
        // In row coordinates: `along` runs with the text, `across` over the band of its height.
        let (alongCount, acrossCount) = row.vertical ? (frame.height, frame.width) : (frame.width, frame.height)
        let box = row.vertical ? PixelBox(x0: row.box.y0, y0: row.box.x0, x1: row.box.y1, y1: row.box.x1) : row.box
        let band0 = max(0, box.y0 - 1), band1 = min(acrossCount, box.y1 + 1)
        func value(_ along: Int, _ across: Int) -> Int64 {
            let (x, y) = row.vertical ? (across, along) : (along, across)
            return sign * Int64(frame.values[y * frame.width + x])
        }
        var band: [Int64] = []
        for a in box.x0..<box.x1 { for c in band0..<band1 { band.append(value(a, c)) } }
        guard !band.isEmpty else { return row.box }
        band.sort()
        let background = band[band.count / 2]
        func ink(_ along: Int) -> Int? {
            var count = 0
            for c in band0..<band1 where value(along, c) - background >= threshold { count += 1 }
            return 10 * count > 7 * (band1 - band0) ? nil : count
        }
        let reach = 3 * h
        var x0 = box.x0, x1 = box.x1
        var gap = 0, a = box.x1
        while a < min(alongCount, box.x1 + reach), gap <= h, let count = ink(a) {
            if count > 0 { x1 = a + 1; gap = 0 } else { gap += 1 }
            a += 1
        }
        gap = 0; a = box.x0 - 1
        while a >= max(0, box.x0 - reach), gap <= h, let count = ink(a) {
            if count > 0 { x0 = a; gap = 0 } else { gap += 1 }
            a -= 1
        }
        return row.vertical ? PixelBox(x0: row.box.x0, y0: x0, x1: row.box.x1, y1: x1) : PixelBox(x0: x0, y0: row.box.y0, x1: x1, y1: row.box.y1)
    }

    /// Covers anti-aliased edges and the strokes' faint ends.
    static func margin(_ candidate: TextCandidate) -> Int { max(2, (candidate.characterHeight + 1) / 2) }

    /// A row that continues a text row: beside it on the same line, or the next line of the block.
    static func continues(_ a: TextCandidate, _ b: TextCandidate) -> Bool {
        guard a.vertical == b.vertical else { return false }
        // Rows of one block are written in one size.
        let (short, tall) = (min(a.characterHeight, b.characterHeight), max(a.characterHeight, b.characterHeight))
        guard 2 * tall <= 3 * short + 2 else { return false }
        let h = tall
        let (gx, gy) = a.box.gaps(to: b.box)
        let (along, across) = a.vertical && b.vertical ? (gy, gx) : (gx, gy)
        return along <= 2 * h && across <= 3 * h / 2
    }

    /// Sets every covered pixel of the frame to `value`; returns how many pixels changed.
    @discardableResult
    public func apply(to frame: inout Frame, value: Int32) -> Int {
        var changed = 0
        let w = frame.width
        frame.values.withUnsafeMutableBufferPointer { v in
            for rectangle in rectangles {
                for y in rectangle.y0..<rectangle.y1 {
                    for x in rectangle.x0..<rectangle.x1 where v[y * w + x] != value {
                        v[y * w + x] = value
                        changed += 1
                    }
                }
            }
        }
        return changed
    }
}
