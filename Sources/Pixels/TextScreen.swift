

/// The fast first stage of the burned-in text detector: finds rows of thin, high-contrast,
/// character-sized strokes at the extremes of a frame's values, in both polarities and both
/// orientations. Cheap enough for every frame; only what it finds is read by OCR.
public enum TextScreen {
    /// Strokes must stand out from the pixels on both sides by this share of the frame's range.
    package static let contrast = 0.2
    /// ...and lie in the outer part of the range: overlays are drawn at (or near) the extreme value.
    package static let extremity = 0.5
    /// A dark stroke in the frame's very lowest value needs only this share, in rows across the
    /// frame. An overlay drawn in the lowest value over soft tissue, in a frame whose range a
    /// saturated region stretches (contrast or bone windowed to the top value), stands out from the
    /// tissue by a tenth of the range or less. Dark only: bone texture saturated at the top value
    /// stands out from marrow the same way and lines up in rows, while the lowest value inside the
    /// body is air, in bubbles and airways rather than in rows of strokes. Across only: at that
    /// contrast the gaps between the letters of light text over light tissue line up as turned rows.
    package static let saturatedContrast = 0.05
    package static let minimumHeight = 3
    package static let maximumHeight = 40
    package static let strongComponents = 6
    /// See `TextCandidate.isReadable`.
    package static let minimumStemShare = 0.15

    /// Every candidate row of the frame. Thresholds come from `range` when given (a masked frame is
    /// screened with the thresholds of its original, so the mask's own value does not shift them).
    public static func candidates(in frame: Frame, range given: (lo: Int32, hi: Int32)? = nil) -> [TextCandidate] {
        guard let range = given ?? frame.range, range.hi > range.lo, frame.width >= 8, frame.height >= 8 else { return [] }
        var found: [TextCandidate] = []
        let busy = Tiles(frame, range: range)
        for polarity in [TextPolarity.bright, .dark] where busy.flags(polarity).contains(true) {
            let span = Double(range.hi) - Double(range.lo)
            let atEnd = polarity == .dark ? Int16(clamping: Int32((span * saturatedContrast).rounded(.up))) : nil
            let hits = strokePixels(frame, range: range, polarity: polarity, busy: busy, atEnd: atEnd)
            if hits.isEmpty { continue }
            let components = strokeComponents(hits, in: frame)
            found += rows(components, vertical: false, polarity: polarity, strokes: hits, width: frame.width)
            // Turned rows from the strokes that pass the usual contrast (the same set when none
            // passed at the end's lower contrast only).
            let strict = atEnd == nil ? hits
                : hits.filter { frame[$0] != range.lo || standsOut($0, in: frame, range: range, polarity: polarity) }
            found += rows(strict.count == hits.count ? components : strokeComponents(strict, in: frame), vertical: true,
                          polarity: polarity, strokes: strict, width: frame.width)
        }
        return found
    }

    /// Pixels that are thin, high-contrast strokes of the given polarity: at or beyond the floor (the
    /// extreme half of the range), and standing out by `threshold` from both pixels 2 or 3 away
    /// across or down. The hot loop of the screen (it runs on the busy tiles of every frame): a
    /// tile's row of sixteen keys at a time, with the scalar test only at the frame's border.
    /// Returns the stroke pixels' indices in raster order (no frame-sized mask for a frame without any).
    /// `atEnd`: the threshold for a pixel at the polarity's very end of the range (see
    /// `saturatedContrast`), when it is lower than the usual one.
    package static func strokePixels(_ frame: Frame, range: (lo: Int32, hi: Int32), polarity: TextPolarity,
                             busy: Tiles? = nil, atEnd: Int16? = nil) -> [Int] {
        let busy = busy ?? Tiles(frame, range: range)
        let span = Double(range.hi) - Double(range.lo)
        let threshold = Int16(clamping: Int32((span * contrast).rounded(.up)))
        let extreme = Int32((span * extremity).rounded(.up))
        // In the polarity's own order (dark keys are complemented, which reverses the order and
        // keeps every difference): the test is then "at least the floor, and above both sides".
        let floor: Int16 = polarity == .bright ? frame.key(range.lo &+ extreme) : ~frame.key(range.hi &- extreme)
        let end: Int16 = polarity == .bright ? frame.key(range.hi) : ~frame.key(range.lo)
        let endThreshold = min(threshold, atEnd ?? threshold)
        var hits: [Int] = []
        frame.keys.withUnsafeBufferPointer { keys in
            busy.flags(polarity).withUnsafeBufferPointer { flags in
                // Two copies of the loop, one per polarity, with the complement folded in.
                if polarity == .bright {
                    strokes(keys, frame, flags: flags, columns: busy.columns, bright: true,
                            floor: floor, threshold: threshold, end: end, endThreshold: endThreshold, into: &hits)
                } else {
                    strokes(keys, frame, flags: flags, columns: busy.columns, bright: false,
                            floor: floor, threshold: threshold, end: end, endThreshold: endThreshold, into: &hits)
                }
            }
        }
        // Tile by tile above; raster order for the components (and so for the candidates' order).
        hits.sort()
        return hits
    }

    /// `c - threshold` cannot wrap where it counts: a pixel passes the floor only when it lies at
    /// least half the range above the polarity's lowest key, and the threshold is a fifth of it.
    @inline(__always)
    private static func strokes(_ keys: UnsafeBufferPointer<Int16>, _ frame: Frame, flags: UnsafeBufferPointer<Bool>,
                                columns: Int, bright: Bool, floor: Int16, threshold: Int16,
                                end: Int16, endThreshold: Int16, into hits: inout [Int]) {
        typealias Lanes = SIMD16<Int16>
        let w = frame.width, h = frame.height
        let k = keys.baseAddress!
        let raw = UnsafeRawPointer(k)
        let skipped = frame.padding.map { frame.key($0) }
        @inline(__always) func ordered(_ x: Int16) -> Int32 { Int32(bright ? x : ~x) }
        @inline(__always) func at(_ x: Int, _ y: Int) -> Int32 { ordered(k[y &* w &+ x]) }
        @inline(__always) func load(_ index: Int) -> Lanes {
            let lanes = raw.loadUnaligned(fromByteOffset: index &* 2, as: Lanes.self)
            return bright ? lanes : ~lanes
        }
        /// The test on one pixel, with its neighbours clamped to the frame (the border).
        func scalar(_ x: Int, _ y: Int) {
            let stored = k[y &* w &+ x]
            let c = ordered(stored)
            if c < Int32(floor) { return }
            if let skipped, stored == skipped { return }
            let threshold = Int32(c == Int32(end) ? endThreshold : threshold)
            var stroke = false
            for r in 2...3 where !stroke {
                stroke = c &- max(at(max(0, x - r), y), at(min(w - 1, x + r), y)) >= threshold
                    || c &- max(at(x, max(0, y - r)), at(x, min(h - 1, y + r))) >= threshold
            }
            if stroke { hits.append(y &* w &+ x) }
        }
        let floors = Lanes(repeating: floor), thresholds = Lanes(repeating: threshold)
        let ends = Lanes(repeating: end), endThresholds = Lanes(repeating: endThreshold)
        let relaxed = endThreshold < threshold
        let paddings = Lanes(repeating: skipped ?? 0)
        let width = Lanes.scalarCount
        for tile in 0..<flags.count where flags[tile] {
            let tx = tile % columns, ty = tile / columns
            let x0 = tx &* Tiles.size, x1 = min(w, x0 &+ Tiles.size)
            for y in (ty &* Tiles.size)..<min(h, (ty &+ 1) &* Tiles.size) {
                let row = y &* w
                var x = x0
                if y >= 3 && y < h &- 3 {
                    while x < 3 && x < x1 { scalar(x, y); x &+= 1 }
                    while x &+ width <= x1 && x &+ width &+ 3 <= w {
                        let p = row &+ x
                        let c = load(p)
                        var hit = c .>= floors
                        if any(hit) {
                            let t = c &- (relaxed ? thresholds.replacing(with: endThresholds, where: c .== ends) : thresholds)
                            let across2 = (load(p &+ 2) .<= t) .& (load(p &- 2) .<= t)
                            let down2 = (load(p &+ 2 &* w) .<= t) .& (load(p &- 2 &* w) .<= t)
                            let across3 = (load(p &+ 3) .<= t) .& (load(p &- 3) .<= t)
                            let down3 = (load(p &+ 3 &* w) .<= t) .& (load(p &- 3 &* w) .<= t)
                            hit = hit .& (across2 .| down2 .| across3 .| down3)
                            if skipped != nil {
                                hit = hit .& (raw.loadUnaligned(fromByteOffset: p &* 2, as: Lanes.self) .!= paddings)
                            }
                            if any(hit) {
                                for lane in 0..<width where hit[lane] { hits.append(p &+ lane) }
                            }
                        }
                        x &+= width
                    }
                }
                while x < x1 { scalar(x, y); x &+= 1 }
            }
        }
    }

    /// Tiles of the frame where a stroke of each polarity can be: the tile reaches the extreme half
    /// of the range on the polarity's side, and the tile with its neighbours spans at least the
    /// contrast a stroke needs. Flat ground (air, even tissue: most of a frame) and tiles with
    /// nothing at the extreme are skipped whole, which makes the screen cheap enough for every frame.
    package struct Tiles {
        package static let size = 16
        package let columns: Int
        package let bright: [Bool]
        package let dark: [Bool]

        package func flags(_ polarity: TextPolarity) -> [Bool] { polarity == .bright ? bright : dark }

        package init(_ frame: Frame, range: (lo: Int32, hi: Int32)) {
            let span = Double(range.hi) - Double(range.lo)
            let contrast = Int32((span * TextScreen.contrast).rounded(.up))
            let extreme = Int32((span * TextScreen.extremity).rounded(.up))
            // In keys (differences are the same as in values).
            let brightFloor = Int32(frame.key(range.lo &+ extreme)), darkCeiling = Int32(frame.key(range.hi &- extreme))
            // A tile that reaches the lowest value needs only the contrast of a stroke there.
            let darkEnd = Int32(frame.key(range.lo)), endContrast = Int32((span * TextScreen.saturatedContrast).rounded(.up))
            let w = frame.width, h = frame.height, size = Self.size
            let columns = (w + size - 1) / size, rows = (h + size - 1) / size
            var lows = [Int16](repeating: .max, count: columns * rows), highs = [Int16](repeating: .min, count: columns * rows)
            // Column by column over a band of tiles' rows, then across each tile: every pixel is one
            // vectorised min and max, with no reduction inside the hot loop.
            var columnLows = [Int16](repeating: .max, count: w), columnHighs = [Int16](repeating: .min, count: w)
            frame.keys.withUnsafeBufferPointer { v in
                columnLows.withUnsafeMutableBufferPointer { cl in
                    columnHighs.withUnsafeMutableBufferPointer { ch in
                        for ty in 0..<rows {
                            for x in 0..<w { cl[x] = .max; ch[x] = .min }
                            for y in (ty * size)..<min(h, (ty + 1) * size) {
                                let row = y &* w
                                for x in 0..<w {
                                    let value = v[row &+ x]
                                    cl[x] = min(cl[x], value); ch[x] = max(ch[x], value)
                                }
                            }
                            for tx in 0..<columns {
                                var lo = Int16.max, hi = Int16.min
                                for x in (tx * size)..<min(w, (tx + 1) * size) { lo = min(lo, cl[x]); hi = max(hi, ch[x]) }
                                lows[ty * columns + tx] = lo; highs[ty * columns + tx] = hi
                            }
                        }
                    }
                }
            }
            // A stroke within 3 px of a tile's edge is compared with pixels of the next tile.
            var bright = [Bool](repeating: false, count: columns * rows), dark = bright
            for ty in 0..<rows {
                for tx in 0..<columns {
                    let tile = ty * columns + tx
                    let tileLow = Int32(lows[tile]), tileHigh = Int32(highs[tile])
                    guard tileHigh >= brightFloor || tileLow <= darkCeiling else { continue }
                    var lo = Int32.max, hi = Int32.min
                    for ny in max(0, ty - 1)...min(rows - 1, ty + 1) {
                        for nx in max(0, tx - 1)...min(columns - 1, tx + 1) {
                            lo = min(lo, Int32(lows[ny * columns + nx])); hi = max(hi, Int32(highs[ny * columns + nx]))
                        }
                    }
                    bright[tile] = tileHigh >= brightFloor && tileHigh - lo >= contrast
                    dark[tile] = tileLow <= darkCeiling && hi - tileLow >= (tileLow == darkEnd ? min(contrast, endContrast) : contrast)
                }
            }
            self.columns = columns
            self.bright = bright
            self.dark = dark
        }
    }

    /// Whether the stroke pixel at `p` stands out by the usual contrast (a pixel found at the end's
    /// lower contrast may not): the test of `strokes`, once, with neighbours clamped to the frame.
    package static func standsOut(_ p: Int, in frame: Frame, range: (lo: Int32, hi: Int32), polarity: TextPolarity) -> Bool {
        let threshold = Int32(((Double(range.hi) - Double(range.lo)) * contrast).rounded(.up))
        let w = frame.width, h = frame.height, x = p % w, y = p / w
        func at(_ x: Int, _ y: Int) -> Int32 { polarity == .bright ? frame[y * w + x] : -frame[y * w + x] }
        let c = at(x, y)
        for r in 2...3 {
            if c - max(at(max(0, x - r), y), at(min(w - 1, x + r), y)) >= threshold
                || c - max(at(x, max(0, y - r)), at(x, min(h - 1, y + r))) >= threshold { return true }
        }
        return false
    }

    /// The 8-connected components of the stroke pixels (`hits`, in raster order) small enough to be
    /// characters (or words).
    package static func strokeComponents(_ hits: [Int], in frame: Frame) -> [Component] {
        guard !hits.isEmpty else { return [] }
        let w = frame.width, h = frame.height
        var mask = [UInt8](repeating: 0, count: w * h)
        for p in hits { mask[p] = 1 }
        var components: [Component] = []
        var stack: [Int] = []
        for start in hits where mask[start] == 1 {
            mask[start] = 2
            stack.append(start)
            var box = PixelBox(x0: start % w, y0: start / w, x1: start % w + 1, y1: start / w + 1)
            var area = 0
            while let p = stack.popLast() {
                let x = p % w, y = p / w
                area += 1
                box.x0 = min(box.x0, x); box.x1 = max(box.x1, x + 1)
                box.y0 = min(box.y0, y); box.y1 = max(box.y1, y + 1)
                for dy in -1...1 {
                    let yy = y + dy
                    if yy < 0 || yy >= h { continue }
                    for dx in -1...1 {
                        let xx = x + dx
                        if xx < 0 || xx >= w { continue }
                        let q = yy * w + xx
                        if mask[q] == 1 {
                            mask[q] = 2
                            stack.append(q)
                        }
                    }
                }
            }
            if box.width <= 8 * maximumHeight && box.height <= 8 * maximumHeight { components.append(Component(box: box, area: area)) }
        }
        return components
    }

    /// The share of a row's positions (along it) where its strokes span at least half its height
    /// (across it): letters' stems, bowls and diagonals do, in every letter; a band of anatomy (the
    /// edge of a bone) that crosses its box at a slant holds only its own thickness at each position.
    package static func stemShare(_ box: PixelBox, vertical: Bool, strokes: [Int], width: Int) -> Double {
        let along = vertical ? box.height : box.width, across = vertical ? box.width : box.height
        guard along > 0, across > 0 else { return 0 }
        var low = [Int](repeating: Int.max, count: along), high = [Int](repeating: Int.min, count: along)
        for y in box.y0..<box.y1 {
            // The row's stroke pixels: a binary search to its first, then in order.
            let first = y * width + box.x0, last = y * width + box.x1
            var lo = 0, hi = strokes.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if strokes[mid] < first { lo = mid + 1 } else { hi = mid }
            }
            while lo < strokes.count && strokes[lo] < last {
                let x = strokes[lo] - y * width
                let (position, offset) = vertical ? (y - box.y0, x - box.x0) : (x - box.x0, y - box.y0)
                low[position] = min(low[position], offset)
                high[position] = max(high[position], offset)
                lo += 1
            }
        }
        let stems = (0..<along).filter { high[$0] >= low[$0] && 2 * (high[$0] - low[$0] + 1) >= across }.count
        return Double(stems) / Double(along)
    }

    /// A connected piece of stroke: its bounds and how many pixels it has.
    package struct Component {
        package var box: PixelBox
        package var area: Int
    }

    /// Letters stand on one line: most components share their bottom (the baseline) or their top
    /// (capitals, digits), which blobs of anatomy grouped by chance do not.
    package static func aligned(_ group: [PixelBox], height: Int) -> Bool {
        return 2 * lined(group, height: height) >= group.count + 1
    }

    /// How many components share the most common bottom or top (within a fifth of the height).
    package static func lined(_ group: [PixelBox], height: Int) -> Int {
        let tolerance = max(1, height / 5)
        func share(_ edges: [Int]) -> Int {
            let sorted = edges.sorted()
            let median = sorted[sorted.count / 2]
            return sorted.filter { abs($0 - median) <= tolerance }.count
        }
        return max(share(group.map(\.y1)), share(group.map(\.y0)))
    }

    /// Components joined into rows: neighbours of similar height, overlapping across the row, with
    /// gaps of at most a character and a half. A row of one component counts when it is word-shaped.
    /// `strokes`: the stroke pixels (raster order) the components were made of, for `stemShare`.
    package static func rows(_ all: [Component], vertical: Bool, polarity: TextPolarity, strokes: [Int], width: Int) -> [TextCandidate] {
        // In row coordinates: x along the row, y across it.
        let kept = all.map { c in (box: vertical ? PixelBox(x0: c.box.y0, y0: c.box.x0, x1: c.box.y1, y1: c.box.x1) : c.box, area: c.area) }
            .filter { $0.box.height >= minimumHeight && $0.box.height <= maximumHeight && $0.box.width <= max(8 * $0.box.height, 12) }
        let boxes = kept.map(\.box)
        guard !boxes.isEmpty else { return [] }
        var parent = Array(0..<boxes.count)
        func root(_ i: Int) -> Int {
            var i = i
            while parent[i] != i { parent[i] = parent[parent[i]]; i = parent[i] }
            return i
        }
        let order = boxes.indices.sorted { boxes[$0].x0 < boxes[$1].x0 }
        for (position, i) in order.enumerated() {
            let a = boxes[i]
            for j in order[(position + 1)...] {
                let b = boxes[j]
                let tall = max(a.height, b.height), short = min(a.height, b.height)
                if Double(b.x0 - a.x1) > 1.5 * Double(max(a.height, maximumHeight / 4)) { break }
                if Double(b.x0 - a.x1) > 1.5 * Double(tall) { continue }
                let overlap = min(a.y1, b.y1) - max(a.y0, b.y0)
                if Double(overlap) >= 0.5 * Double(short) && Double(tall) <= 2.5 * Double(short) + 1 {
                    parent[root(i)] = root(j)
                }
            }
        }
        var groups: [Int: [Int]] = [:]
        for i in boxes.indices { groups[root(i), default: []].append(i) }
        var found: [TextCandidate] = []
        // In a fixed order (a dictionary's is not): the OCR sheets, and so what OCR reads, follow it.
        for members in groups.values.sorted(by: { $0[0] < $1[0] }) {
            let group = members.map { boxes[$0] }
            let box = group.dropFirst().reduce(group[0]) { $0.union($1) }
            let heights = group.map(\.height).sorted()
            let characterHeight = heights[heights.count / 2]
            guard box.height <= maximumHeight + maximumHeight / 2 else { continue }
            let wordShaped = box.width >= 2 * box.height
            // One component is a word whose letters ran together only when it fills its box like
            // letters do; a thin arc (a rib, the edge of a ring) spans a box it hardly fills.
            let lone = group.count == 1 && box.width >= 3 * box.height && 5 * kept[members[0]].area >= box.area
            guard group.count >= 3 || (wordShaped && group.count >= 2) || lone else { continue }
            guard group.count == 1 || aligned(group, height: characterHeight) else { continue }
            let frameBox = vertical ? PixelBox(x0: box.y0, y0: box.x0, x1: box.y1, y1: box.x1) : box
            // Capitals and digits are one height, lower case letters (and colons) about two thirds of it.
            let capital = heights[(3 * heights.count) / 4]
            let tolerance = max(1, capital / 4)
            let sized = heights.filter { 5 * $0 >= 3 * capital && $0 <= capital + tolerance }.count
            let uniform = 3 * sized >= 2 * group.count && 3 * lined(group, height: characterHeight) >= 2 * group.count
            var candidate = TextCandidate(box: frameBox, polarity: polarity, vertical: vertical, components: group.count,
                                          characterHeight: characterHeight, uniform: uniform)
            if group.count <= 2 { candidate.stems = stemShare(frameBox, vertical: vertical, strokes: strokes, width: width) }
            found.append(candidate)
        }
        return found
    }
}
