import Foundation

/// Inclusive pixel bounds: columns x0...x1, rows y0...y1.
public struct TextBox: Sendable, Codable, Equatable, Hashable, CustomStringConvertible {
    public let x0: Int
    public let y0: Int
    public let x1: Int
    public let y1: Int

    public init(x0: Int, y0: Int, x1: Int, y1: Int) {
        self.x0 = x0
        self.y0 = y0
        self.x1 = x1
        self.y1 = y1
    }

    public var width: Int { x1 - x0 + 1 }
    public var height: Int { y1 - y0 + 1 }

    public func contains(x: Int, y: Int) -> Bool { x >= x0 && x <= x1 && y >= y0 && y <= y1 }

    public func union(_ o: TextBox) -> TextBox {
        TextBox(x0: min(x0, o.x0), y0: min(y0, o.y0), x1: max(x1, o.x1), y1: max(y1, o.y1))
    }

    public func intersects(_ o: TextBox) -> Bool { x0 <= o.x1 && o.x0 <= x1 && y0 <= o.y1 && o.y0 <= y1 }

    public var description: String { "x \(x0)...\(x1), y \(y0)...\(y1)" }
}

/// Bright text is drawn at the slice's maximum stored value, dark text at its minimum.
public enum TextPolarity: String, Sendable, Codable {
    case bright, dark
}

/// A block of burned-in text to draw: one or more lines (separated by "\n"), left-aligned.
public struct TextPlacement: Sendable, Equatable {
    public var text: String
    /// Top-left corner of the block's bitmap (after rotation): column x, row y.
    public var x: Int
    public var y: Int
    /// Pixel height of each line (cap top to descender bottom); 7...24 is the range the font is drawn for.
    public var height: Int
    public var polarity: TextPolarity
    /// Turned 90° clockwise: the text reads top to bottom, the first line is the rightmost column.
    public var rotated: Bool
    /// Stored value to draw with instead of the slice's maximum / minimum (signed when the slice is).
    public var ink: Int?
    /// Edges blended with what is under them; when false, every pixel the glyph half covers or more
    /// is set to the ink value and the rest left alone (overlays burned in by many viewers and
    /// scanners are drawn that way).
    public var antialiased: Bool

    public init(_ text: String, x: Int, y: Int, height: Int, polarity: TextPolarity = .bright,
                rotated: Bool = false, ink: Int? = nil, antialiased: Bool = true) {
        self.text = text
        self.x = x
        self.y = y
        self.height = height
        self.polarity = polarity
        self.rotated = rotated
        self.ink = ink
        self.antialiased = antialiased
    }

    public var lines: [String] { text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) }
}

/// What `BurnedInText.draw` did for one placement.
public struct PlacedText: Sendable, Equatable {
    public let text: String
    /// Exact bounds of every pixel the placement covers (coverage > 0).
    public let box: TextBox
    /// The same per line, in the order of `TextPlacement.lines`.
    public let lineBoxes: [TextBox]
    public let height: Int
    public let polarity: TextPolarity
    public let rotated: Bool
    /// The stored value drawn with (signed when the slice is).
    public let ink: Int
}

/// Burns text into a slice's stored values the way a scanner or a secondary-capture tool does:
/// full-coverage pixels take the ink value, edge pixels are blended by their coverage,
/// `pixel = round(original * (1 - c) + ink * c)`.
public enum BurnedInText {
    /// Empty pixel rows between the lines of a block (about two grid rows, never under 2 px, so that
    /// lines never share a pixel row and every line's box is separate).
    public static func lineGap(height: Int) -> Int { max(2, (2 * height + 4) / BitmapFont.gridRows) }

    /// A placement rendered at the origin: coverage levels (over `BitmapFont.coverageDenominator`)
    /// and, per pixel, the 1-based line it belongs to (0 for none).
    struct Block {
        var width: Int
        var height: Int
        var levels: [UInt16]
        var line: [UInt8]
        var lineCount: Int
    }

    static func block(_ p: TextPlacement) -> Block {
        let lines = p.lines
        precondition(!lines.isEmpty && lines.count < 256, "a placement needs 1...255 lines")
        let rendered = lines.map { BitmapFont.renderLevels($0, height: p.height) }
        let gap = lineGap(height: p.height)
        let w = rendered.map(\.width).max() ?? 0
        let h = lines.count * p.height + (lines.count - 1) * gap
        var levels = [UInt16](repeating: 0, count: w * h)
        var line = [UInt8](repeating: 0, count: w * h)
        for (k, r) in rendered.enumerated() {
            let top = k * (p.height + gap)
            for row in 0..<r.height {
                for col in 0..<r.width {
                    let v = r.levels[row * r.width + col]
                    if v == 0 { continue }
                    let i = (top + row) * w + col
                    levels[i] = v
                    line[i] = UInt8(k + 1)
                }
            }
        }
        guard p.rotated else { return Block(width: w, height: h, levels: levels, line: line, lineCount: lines.count) }
        // Clockwise: source (row r, column c) lands on row c, column h - 1 - r.
        var rl = [UInt16](repeating: 0, count: w * h)
        var rn = [UInt8](repeating: 0, count: w * h)
        for r in 0..<h {
            for c in 0..<w {
                let j = c * h + (h - 1 - r)
                rl[j] = levels[r * w + c]
                rn[j] = line[r * w + c]
            }
        }
        return Block(width: h, height: w, levels: rl, line: rn, lineCount: lines.count)
    }

    /// The boxes a placement gets wherever it is drawn: they depend only on the placement, not on the slice.
    public static func boxes(of p: TextPlacement) -> (box: TextBox, lineBoxes: [TextBox]) {
        boxes(of: p, block: block(p))
    }

    static func boxes(of p: TextPlacement, block b: Block) -> (box: TextBox, lineBoxes: [TextBox]) {
        var lo = [(Int, Int)](repeating: (Int.max, Int.max), count: b.lineCount)
        var hi = [(Int, Int)](repeating: (Int.min, Int.min), count: b.lineCount)
        for r in 0..<b.height {
            for c in 0..<b.width where b.levels[r * b.width + c] > 0 {
                let k = Int(b.line[r * b.width + c]) - 1
                lo[k] = (min(lo[k].0, c), min(lo[k].1, r))
                hi[k] = (max(hi[k].0, c), max(hi[k].1, r))
            }
        }
        var lineBoxes: [TextBox] = []
        for k in 0..<b.lineCount {
            precondition(lo[k].0 != Int.max, "line \(k + 1) of \(p.text.debugDescription) draws nothing")
            lineBoxes.append(TextBox(x0: p.x + lo[k].0, y0: p.y + lo[k].1, x1: p.x + hi[k].0, y1: p.y + hi[k].1))
        }
        return (lineBoxes.dropFirst().reduce(lineBoxes[0]) { $0.union($1) }, lineBoxes)
    }

    /// Draws `placements` in order into `values` (rows x columns, row-major, stored 16-bit values; read as
    /// two's complement when `signed`). Ink values come from the slice as it was before any drawing, so
    /// the order only matters where placements overlap. Every placement must lie inside the image.
    public static func draw(_ placements: [TextPlacement], into values: inout [UInt16], rows: Int, columns: Int,
                            signed: Bool) -> [PlacedText] {
        precondition(values.count == rows * columns, "values must hold rows * columns pixels")
        guard !placements.isEmpty else { return [] }
        @inline(__always) func read(_ v: UInt16) -> Int { signed ? Int(Int16(bitPattern: v)) : Int(v) }
        var lowest = Int.max, highest = Int.min
        for v in values {
            let x = read(v)
            lowest = min(lowest, x)
            highest = max(highest, x)
        }
        let range = signed ? Int(Int16.min)...Int(Int16.max) : 0...Int(UInt16.max)
        let d = BitmapFont.coverageDenominator
        var placed: [PlacedText] = []
        for p in placements {
            let b = block(p)
            precondition(p.x >= 0 && p.y >= 0 && p.x + b.width <= columns && p.y + b.height <= rows,
                         "\(p.text.debugDescription) (\(b.width)x\(b.height) at \(p.x),\(p.y)) does not fit a \(columns)x\(rows) image")
            let ink = min(range.upperBound, max(range.lowerBound, p.ink ?? (p.polarity == .bright ? highest : lowest)))
            for r in 0..<b.height {
                for c in 0..<b.width {
                    var n = Int(b.levels[r * b.width + c])
                    if !p.antialiased { n = 2 * n >= d ? d : 0 }
                    if n == 0 { continue }
                    let i = (p.y + r) * columns + p.x + c
                    let blended = roundedDivision(read(values[i]) * (d - n) + ink * n, d)
                    values[i] = signed ? UInt16(bitPattern: Int16(blended)) : UInt16(blended)
                }
            }
            let (box, lineBoxes) = boxes(of: p, block: b)
            placed.append(PlacedText(text: p.text, box: box, lineBoxes: lineBoxes, height: p.height,
                                     polarity: p.polarity, rotated: p.rotated, ink: ink))
        }
        return placed
    }

    /// n / d rounded half away from zero, exactly (d > 0).
    @inline(__always) static func roundedDivision(_ n: Int, _ d: Int) -> Int {
        n >= 0 ? (2 * n + d) / (2 * d) : -((-2 * n + d) / (2 * d))
    }
}
