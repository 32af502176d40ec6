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
    public static let detectorVersion = "ctdeid-text 2 (screen + Tesseract \(TextReader.version))"
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
        var lines: [(row: TextCandidate, stage: String, blocked: (before: Bool, after: Bool))] = text.map {
            var row = candidates[$0]
            let followedRow = followed(row, in: frame, range: lineRange)
            row.box = followedRow.box
            return (row, stage[$0]!, (followedRow.blockedBefore, followedRow.blockedAfter))
        }
        // The other lines of each row's block: small lines over tissue are often too faint for the
        // screen, but stand in the block's stack, above or below a line that was found. They are
        // not followed beyond the found line's span: a band beside a block is as often the edge
        // of anatomy (a bright band under the last line) as the rest of a line.
        for line in lines where line.row.characterHeight >= 4 {
            for stacked in stackedLines(line.row, in: frame, range: lineRange)
            where !lines.contains(where: { $0.row.vertical == stacked.vertical && $0.row.box.coversHalf(of: stacked.box) }) {
                lines.append((stacked, "block", (false, false)))
            }
        }
        // A line whose start ran into something of its own brightness starts where its block's
        // other lines start: overlay blocks are aligned, and the part of the line that touches the
        // bright structure is lost to the screen with it. The edge counts when two other lines of
        // the block keep it (within 2 px), so one stray row does not drag the mask across the image.
        // The block is every line linked to this one through neighbours: the first line of a key
        // column can be four lines of a long value away from the next key.
        let followedLines = lines
        let block = blocks(followedLines.map(\.row))
        for i in followedLines.indices where !followedLines[i].row.vertical && followedLines[i].blocked.before {
            let a = followedLines[i].row
            let starts = followedLines.indices.filter { j in
                let b = followedLines[j].row
                return !b.vertical && block[j] == block[i] && (b.box.y1 <= a.box.y0 || a.box.y1 <= b.box.y0)
            }.map { followedLines[$0].row.box.x0 }
            let edges = starts.filter { x in starts.filter { abs($0 - x) <= 2 }.count >= 2 }
            // A line that already starts at one of the block's edges (an indented column) stays there.
            guard !edges.contains(where: { abs($0 - a.box.x0) <= 2 }) else { continue }
            if let edge = edges.filter({ $0 < a.box.x0 }).max() {
                lines[i].row.box.x0 = edge
            }
        }
        var rectangles: [PixelBox] = []
        for (i, (candidate, _, blocked)) in lines.enumerated() {
            // A stacked line's height is measured on its ink, not estimated from its strokes: the
            // anti-aliased edge is all that is left to cover.
            let grown = candidate.components == 0 ? 2 + candidate.characterHeight / 5 : margin(candidate)
            let before = grown + (blocked.before ? candidate.characterHeight : 0)
            let after = grown + (blocked.after ? candidate.characterHeight : 0)
            var box = candidate.vertical
                ? candidate.box.grown(left: grown, top: before, right: grown, bottom: after, within: frame.width, frame.height)
                : candidate.box.grown(left: before, top: grown, right: after, bottom: grown, within: frame.width, frame.height)
            // The last line of a block whose next line would start before the frame's edge (less
            // room than the block's line pitch, from the line next to it): that line is cut by the
            // edge, only the tops of its letters are in the image, too little for the screen. The
            // mask goes on to the edge.
            let a = candidate.box, h = candidate.characterHeight
            let neighbours = followedLines.indices.filter { j in
                j != i && block[j] == block[i] && followedLines[j].row.vertical == candidate.vertical
            }.map { followedLines[$0].row.box }
            if candidate.vertical {
                let overlapping = neighbours.filter { $0.y0 < a.y1 && a.y0 < $0.y1 }
                if let right = overlapping.filter({ $0.x0 >= a.x1 && $0.x0 - a.x1 <= 2 * h }).min(by: { $0.x0 < $1.x0 }),
                   a.x0 < right.x0 - a.x0 { box.x0 = 0 }
                if let left = overlapping.filter({ $0.x1 <= a.x0 && a.x0 - $0.x1 <= 2 * h }).max(by: { $0.x1 < $1.x1 }),
                   frame.width - a.x1 < a.x1 - left.x1 { box.x1 = frame.width }
            } else {
                let overlapping = neighbours.filter { $0.x0 < a.x1 && a.x0 < $0.x1 }
                let below = overlapping.filter({ $0.y0 >= a.y1 && $0.y0 - a.y1 <= 2 * h }).min(by: { $0.y0 < $1.y0 })
                let above = overlapping.filter({ $0.y1 <= a.y0 && a.y0 - $0.y1 <= 2 * h }).max(by: { $0.y1 < $1.y1 })
                if let below, a.y0 < below.y0 - a.y0 { box.y0 = 0 }
                if let above, frame.height - a.y1 < a.y1 - above.y1 { box.y1 = frame.height }
                // The first line of a block with a band of saturated brightness above it, where the
                // line before it would be: a line there is hidden where it crosses the band and
                // readable where it leaves it.
                if let below, above == nil {
                    let band = PixelBox(x0: a.x0, y0: max(0, a.y0 - (below.y0 - a.y0)), x1: a.x1, y1: a.y0)
                    if hidesALine(band, like: candidate, in: frame, range: lineRange) { box.y0 = min(box.y0, band.y0) }
                }
            }
            rectangles.append(box)
        }
        // Between two overlapping rows of a block, over both their spans: a line between them may be
        // invisible where it crosses tissue of its own brightness and readable where it leaves it.
        for i in lines.indices {
            for j in lines.indices where j != i {
                let a = lines[i].row, b = lines[j].row
                guard a.vertical == b.vertical else { continue }
                let h = max(a.characterHeight, b.characterHeight)
                // As wide as the rows' own rectangles (the smaller margin of the two): a line hidden
                // between them need not start where theirs do.
                let side = min(margin(a), margin(b))
                if !a.vertical, a.box.y1 <= b.box.y0, b.box.y0 - a.box.y1 <= 3 * h {
                    let x0 = min(a.box.x0, b.box.x0), x1 = max(a.box.x1, b.box.x1)
                    if min(a.box.x1, b.box.x1) > max(a.box.x0, b.box.x0) {
                        rectangles.append(PixelBox(x0: x0, y0: a.box.y1, x1: x1, y1: b.box.y0)
                            .grown(left: side, top: 0, right: side, bottom: 0, within: frame.width, frame.height))
                    }
                } else if !a.vertical, a.box.x1 <= b.box.x0, b.box.x0 - a.box.x1 <= 2 * h, continues(a, b),
                          a.characterHeight == b.characterHeight,
                          2 * (min(a.box.y1, b.box.y1) - max(a.box.y0, b.box.y0)) >= min(a.box.height, b.box.height) {
                    // Words of one line: the space between them (a letter at a word's end may be too faint to be found).
                    rectangles.append(PixelBox(x0: a.box.x1, y0: min(a.box.y0, b.box.y0), x1: b.box.x0, y1: max(a.box.y1, b.box.y1)))
                } else if !a.vertical, a.box.x1 <= b.box.x0, lines[i].blocked.after, lines[j].blocked.before,
                          b.box.x0 - a.box.x1 <= max(a.box.width, b.box.width), continuesInSize(a, b),
                          2 * (min(a.box.y1, b.box.y1) - max(a.box.y0, b.box.y0)) >= min(a.box.height, b.box.height) {
                    // Two parts of one line that each ran into something of the text's brightness
                    // facing the other (a band across the line): the words between them are hidden
                    // where they cross it and readable where they leave it.
                    let g = max(margin(a), margin(b))
                    rectangles.append(PixelBox(x0: a.box.x1, y0: min(a.box.y0, b.box.y0), x1: b.box.x0, y1: max(a.box.y1, b.box.y1))
                        .grown(left: 0, top: g, right: 0, bottom: g, within: frame.width, frame.height))
                } else if a.vertical, a.box.x1 <= b.box.x0, b.box.x0 - a.box.x1 <= 3 * h {
                    let y0 = min(a.box.y0, b.box.y0), y1 = max(a.box.y1, b.box.y1)
                    if min(a.box.y1, b.box.y1) > max(a.box.y0, b.box.y0) {
                        rectangles.append(PixelBox(x0: a.box.x1, y0: y0, x1: b.box.x0, y1: y1)
                            .grown(left: 0, top: side, right: 0, bottom: side, within: frame.width, frame.height))
                    }
                }
            }
        }
        let regions = lines.map { TextRegion(frame: index, box: $0.row.box, stage: $0.stage) }
        return TextMask(regions: regions, rectangles: rectangles, rows: sure.map { candidates[$0] })
    }

    /// The row's box, extended along its line over every column (row, for turned text) that still
    /// holds a stroke: a pixel standing out from the band's background by a tenth of the range, in a
    /// column the band does not mostly fill (tissue fills it; letters leave gaps). Stops after a gap
    /// of a character's height, and at most three characters' heights out on either side.
    package static func followed(_ row: TextCandidate, in frame: Frame, range: (lo: Int32, hi: Int32)) -> FollowedRow {
        let sign: Int64 = row.polarity == .bright ? 1 : -1
        let threshold = max(1, Int64(Double(range.hi - range.lo) * 0.1))
        let h = row.characterHeight
        // In row coordinates: `along` runs with the text, `across` over the band of its height.
        let (alongCount, acrossCount) = row.vertical ? (frame.height, frame.width) : (frame.width, frame.height)
        let box = row.vertical ? PixelBox(x0: row.box.y0, y0: row.box.x0, x1: row.box.y1, y1: row.box.x1) : row.box
        let band0 = max(0, box.y0 - 1), band1 = min(acrossCount, box.y1 + 1)
        func value(_ along: Int, _ across: Int) -> Int64 {
            let (x, y) = row.vertical ? (across, along) : (along, across)
            return sign * Int64(frame[y * frame.width + x])
        }
        var band: [Int64] = []
        for a in box.x0..<box.x1 { for c in band0..<band1 { band.append(value(a, c)) } }
        guard !band.isEmpty else { return FollowedRow(box: row.box) }
        band.sort()
        let background = band[band.count / 2]
        // Dark ink in the frame's very lowest value stands out at the screen's lower contrast there.
        let end: Int64 = row.polarity == .dark ? -Int64(range.lo) : Int64.max
        let endThreshold = max(1, Int64((Double(range.hi - range.lo) * TextScreen.saturatedContrast).rounded(.up)))
        func ink(_ along: Int) -> Int? {
            var count = 0
            for c in band0..<band1 {
                let v = value(along, c)
                if v - background >= (v == end ? endThreshold : threshold) { count += 1 }
            }
            return 10 * count > 7 * (band1 - band0) ? nil : count
        }
        let reach = 3 * h
        var x0 = box.x0, x1 = box.x1
        var blockedBefore = false, blockedAfter = false
        var gap = 0, a = box.x1
        while a < min(alongCount, box.x1 + reach), gap <= h {
            guard let count = ink(a) else { blockedAfter = gap <= 1; break }
            if count > 0 { x1 = a + 1; gap = 0 } else { gap += 1 }
            a += 1
        }
        if a >= box.x1 + reach, gap <= 1 { blockedAfter = true }
        gap = 0; a = box.x0 - 1
        while a >= max(0, box.x0 - reach), gap <= h {
            guard let count = ink(a) else { blockedBefore = gap <= 1; break }
            if count > 0 { x0 = a; gap = 0 } else { gap += 1 }
            a -= 1
        }
        // Still on ink where the walk ends: something of the text's brightness runs along the line
        // (a band under the letters), which is as much a wall as one across it.
        if a < box.x0 - reach, gap <= 1 { blockedBefore = true }
        let followed = row.vertical ? PixelBox(x0: row.box.x0, y0: x0, x1: row.box.x1, y1: x1)
            : PixelBox(x0: x0, y0: row.box.y0, x1: x1, y1: row.box.y1)
        return FollowedRow(box: followed, blockedBefore: blockedBefore, blockedAfter: blockedAfter)
    }

    /// Whether the row's ink is saturated (at the top of the frame's range) and so are half of the
    /// band's pixels: a line of text drawn there would be hidden in them. Bright text only: a dark
    /// row is as often the space inside bright lettering, and the band beside it the air around the
    /// block; and text merely as bright as tissue is followed by the stacked-line walk instead.
    package static func hidesALine(_ band: PixelBox, like row: TextCandidate, in frame: Frame, range: (lo: Int32, hi: Int32)) -> Bool {
        guard row.polarity == .bright, band.x0 < band.x1, band.y0 < band.y1 else { return false }
        let saturated = Int64(range.hi) - Int64((Double(range.hi - range.lo) * TextScreen.saturatedContrast).rounded())
        var peak = Int64.min
        for y in row.box.y0..<row.box.y1 {
            for x in row.box.x0..<row.box.x1 { peak = max(peak, Int64(frame[y * frame.width + x])) }
        }
        guard peak >= saturated else { return false }
        var hidden = 0
        for y in band.y0..<band.y1 {
            for x in band.x0..<band.x1 where Int64(frame[y * frame.width + x]) >= saturated { hidden += 1 }
        }
        return 2 * hidden >= band.width * band.height
    }

    /// Which block each row belongs to: rows joined when one continues the other, and so on (a
    /// block's lines are linked through their neighbours, not each to each).
    package static func blocks(_ rows: [TextCandidate]) -> [Int] {
        var parent = Array(rows.indices)
        func root(_ i: Int) -> Int {
            var i = i
            while parent[i] != i { parent[i] = parent[parent[i]]; i = parent[i] }
            return i
        }
        for i in rows.indices {
            for j in rows.indices where j > i && continues(rows[i], rows[j]) { parent[root(i)] = root(j) }
        }
        return rows.indices.map(root)
    }

    /// A row followed along its line, and whether each end ran straight into something of the
    /// text's own brightness (a column the band mostly fills: a bone, a bright band) rather than
    /// ending in a gap: the text may go on into it, so that end is masked a character further.
    package struct FollowedRow {
        package var box: PixelBox
        package var blockedBefore = false
        package var blockedAfter = false
    }

    /// The lines stacked above and below a text row in one block: bands across the row's span, each
    /// about the row's height, whose pixel rows cross several separate short strokes (letters) that
    /// stand out by a tenth of the range from the pixel row's own median. An edge of anatomy crosses
    /// a pixel row once, and texture runs on without the gaps between lines, so both end the walk.
    /// The walk goes outward from the row (of 4 px or more) while the gaps are no more than a line
    /// and a half high, at most `maximumStackedLines` lines either way.
    package static let maximumStackedLines = 6

    package static func stackedLines(_ row: TextCandidate, in frame: Frame, range: (lo: Int32, hi: Int32)) -> [TextCandidate] {
        let sign: Int64 = row.polarity == .bright ? 1 : -1
        let threshold = max(1, Int64(Double(range.hi - range.lo) * 0.1))
        // Ink is drawn in the block's colour, at the extreme of the range as the screen wants it
        // (texture of tissue stands out from its neighbours too, but not into the extreme half),
        // and near the row's own ink (a block is written in one colour; anti-aliasing dims small letters a little).
        let span = Double(range.hi - range.lo)
        var peak = Int64.min
        for y in row.box.y0..<row.box.y1 {
            for x in row.box.x0..<row.box.x1 { peak = max(peak, sign * Int64(frame[y * frame.width + x])) }
        }
        let extreme = row.polarity == .bright ? Int64(range.lo) + Int64((span * TextScreen.extremity).rounded(.up))
            : -(Int64(range.hi) - Int64((span * TextScreen.extremity).rounded(.up)))
        let floor = max(extreme, peak - Int64((span * 0.3).rounded()))
        // Dark ink in the frame's very lowest value stands out at the screen's lower contrast there.
        let end: Int64 = row.polarity == .dark ? -Int64(range.lo) : Int64.max
        let endThreshold = max(1, Int64((span * TextScreen.saturatedContrast).rounded(.up)))
        // In row coordinates: `along` runs with the text, `across` over the stack of lines.
        let acrossCount = row.vertical ? frame.width : frame.height
        let box = row.vertical ? PixelBox(x0: row.box.y0, y0: row.box.x0, x1: row.box.y1, y1: row.box.x1) : row.box
        let lineHeight = max(row.characterHeight, box.height)
        guard box.width >= 2 * lineHeight else { return [] }
        let longestStroke = 2 * lineHeight
        // Small text is set with more space between its lines, relative to its height.
        let lineGap = lineHeight + lineHeight / 2 + 1
        var values = [Int64](repeating: 0, count: box.width), sorted = values
        var lineInk = [Bool](repeating: false, count: box.width)
        /// Whether pixel row `c` crosses letters: at least three separate runs of ink, none longer
        /// than two letters (a longer one is an edge of anatomy), filling at most 60% of the span.
        /// The row's ink is added to `lineInk`.
        func crossesLetters(_ c: Int) -> Bool {
            for a in box.x0..<box.x1 {
                let (x, y) = row.vertical ? (c, a) : (a, c)
                values[a - box.x0] = sign * Int64(frame[y * frame.width + x])
            }
            sorted = values
            sorted.sort()
            let background = sorted[sorted.count / 2]
            // Letters are counted in the block's colour; what stands out at all must not run long.
            var runs = 0, run = 0, bright = 0, longest = 0, standing = 0
            for v in values {
                let stands = v - background >= (v == end ? endThreshold : threshold) && v >= extreme
                if stands { bright += 1; standing += 1; longest = max(longest, standing) } else { standing = 0 }
                if stands && v >= floor {
                    run += 1
                } else {
                    if run > 0 { runs += 1 }
                    run = 0
                }
            }
            if run > 0 { runs += 1 }
            guard runs >= 3 && longest <= longestStroke && 10 * bright <= 6 * box.width else { return false }
            for (k, v) in values.enumerated() where v - background >= (v == end ? endThreshold : threshold) && v >= floor { lineInk[k] = true }
            return true
        }
        /// The line's extent along: the longest stretch of ink columns with gaps of at most two
        /// letters (a word space is less), so a short line is not masked over its longer neighbour's span.
        func extent() -> (Int, Int)? {
            var best: (Int, Int, Int)?, current: (Int, Int, Int)?
            for (k, inked) in lineInk.enumerated() where inked {
                if let open = current, k - open.1 <= longestStroke {
                    current = (open.0, k + 1, open.2 + 1)
                } else {
                    current = (k, k + 1, 1)
                }
                if let c = current, c.2 > best?.2 ?? 0 { best = c }
            }
            return best.map { (box.x0 + $0.0, box.x0 + $0.1) }
        }
        var found: [TextCandidate] = []
        for step in [-1, 1] {
            var c = step < 0 ? box.y0 - 1 : box.y1
            var lines = 0
            while lines < maximumStackedLines {
                // The gap to the next line: at most a line and a half of pixel rows without letters.
                var gap = 0
                while c >= 0, c < acrossCount, gap <= lineGap, !crossesLetters(c) { gap += 1; c += step }
                guard c >= 0, c < acrossCount, gap <= lineGap else { break }
                let start = c
                for k in lineInk.indices { lineInk[k] = false }
                while c >= 0, c < acrossCount, crossesLetters(c) { c += step }
                let thickness = abs(c - start)
                // A line of the block is about as high as the row; a taller band is not a line of text.
                guard thickness <= lineHeight + lineHeight / 2 + 1 else { break }
                lines += 1
                // A thin band is an underline or a stray pixel row, unless the frame's edge cuts it:
                // then it is what is left of a line (the tops of its letters).
                let cut = c < 0 || c >= acrossCount
                guard 2 * thickness >= lineHeight || cut, let (a0, a1) = extent() else { continue }
                let (c0, c1) = step < 0 ? (c + 1, start + 1) : (start, c)
                let lineBox = row.vertical ? PixelBox(x0: c0, y0: a0, x1: c1, y1: a1) : PixelBox(x0: a0, y0: c0, x1: a1, y1: c1)
                found.append(TextCandidate(box: lineBox, polarity: row.polarity, vertical: row.vertical, components: 0,
                                           characterHeight: thickness))
            }
        }
        return found
    }

    /// Covers anti-aliased edges and the strokes' faint ends: a third of a character and 2 px. With
    /// 2 px less, the shared burned-in series kept single pixels of 5-8 px letters at a row's ends
    /// (8 boxes of 489), and a 5 px MR key or value beside a masked line; the pixels changed away
    /// from the text went from 0.56% to 0.64%.
    package static func margin(_ candidate: TextCandidate) -> Int { max(2, (candidate.characterHeight + 2) / 3) + 2 }

    /// Rows of one block are written in one size (within half again).
    package static func continuesInSize(_ a: TextCandidate, _ b: TextCandidate) -> Bool {
        let (short, tall) = (min(a.characterHeight, b.characterHeight), max(a.characterHeight, b.characterHeight))
        return 2 * tall <= 3 * short + 2
    }

    /// A row that continues a text row: beside it on the same line, or the next line of the block.
    package static func continues(_ a: TextCandidate, _ b: TextCandidate) -> Bool {
        guard a.vertical == b.vertical, continuesInSize(a, b) else { return false }
        let h = max(a.characterHeight, b.characterHeight)
        let (gx, gy) = a.box.gaps(to: b.box)
        let (along, across) = a.vertical && b.vertical ? (gy, gx) : (gx, gy)
        return along <= 2 * h && across <= 3 * h / 2
    }

    /// Sets every covered pixel of the frame to `value`; returns how many pixels changed.
    @discardableResult
    public func apply(to frame: inout Frame, value: Int32) -> Int {
        var changed = 0
        let w = frame.width
        let key = frame.key(value)
        frame.keys.withUnsafeMutableBufferPointer { v in
            for rectangle in rectangles {
                for y in rectangle.y0..<rectangle.y1 {
                    for x in rectangle.x0..<rectangle.x1 where v[y * w + x] != key {
                        v[y * w + x] = key
                        changed += 1
                    }
                }
            }
        }
        return changed
    }
}
