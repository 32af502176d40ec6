import Foundation

/// A small proportional sans bitmap font, drawn for these fixtures in the manner of the classic
/// public-domain 5x7 terminal faces (X11 "5x7", "5x8"), with real descenders and lower case.
///
/// The design grid is 9 rows: capitals and digits fill rows 0-6, the lower case x-height is rows 2-6,
/// descenders use rows 7-8. Every stroke is one grid cell wide, so a rendering `height` pixels high has
/// strokes `height / 9` pixels wide: under 1 px at 7-8 px (as on a scanner's overlay) and about 2.7 px
/// at 24 px. A grid of 9 rows, not 13 as in "6x13", because at 13 rows an 8 px rendering smears every
/// stroke over two half-covered pixels and the letters stop being letters.
public enum BitmapFont {
    /// Rows of the design grid (the `height` of a rendering covers all of them).
    public static let gridRows = 9

    /// The design grid is doubled and its diagonals smoothed (`smoothed`) before it is scaled down:
    /// diagonal strokes become continuous bands instead of squares touching at their corners, which
    /// Tesseract reads as broken strokes at the larger sizes.
    static let smoothing = 2
    static var smoothRows: Int { gridRows * smoothing }

    /// Coverage is computed exactly in integers: a pixel's ink area in units of 1/`coverageDenominator`.
    /// Exact, so that "coverage > 0" (the extent of a text box) never depends on floating-point rounding.
    public static var coverageDenominator: Int { smoothRows * smoothRows }

    /// Every character the font draws.
    public static var characters: Set<Character> { Set(glyphs.keys) }

    /// One glyph: ink cells per grid row (all 9 rows, `width` columns).
    struct Glyph: Sendable {
        let width: Int
        let ink: [[Bool]]
    }

    /// `text` rasterised `height` pixels high (7...24 recommended): coverage 0...1 per pixel, row-major,
    /// `width` pixels across. Characters are separated by one grid column (scaled like the rest).
    /// Only `characters` may occur in `text`.
    public static func render(_ text: String, height: Int) -> (width: Int, height: Int, coverage: [Float]) {
        let r = renderLevels(text, height: height)
        let d = Float(coverageDenominator)
        return (r.width, r.height, r.levels.map { Float($0) / d })
    }

    /// Like `render`, with each pixel's coverage as an exact numerator over `coverageDenominator`.
    public static func renderLevels(_ text: String, height: Int) -> (width: Int, height: Int, levels: [UInt16]) {
        precondition(height > 0, "height must be positive")
        let grid = smoothed(layout(text))
        let gw = grid.first?.count ?? 0
        let g = smoothRows
        // Measured in units of 1/g pixel (= 1/h grid cell), pixel p spans [p*g, (p+1)*g) and grid
        // cell c spans [c*h, (c+1)*h): all edges are integers, a pixel's area is g*g.
        let h = height
        let width = (gw * h + g - 1) / g
        let xs = overlaps(pixels: width, cells: gw, height: h)
        let ys = overlaps(pixels: h, cells: g, height: h)
        var levels = [UInt16](repeating: 0, count: width * h)
        for py in 0..<h {
            for px in 0..<width {
                var sum = 0
                for (r, oy) in ys[py] {
                    let row = grid[r]
                    for (c, ox) in xs[px] where row[c] { sum += ox * oy }
                }
                levels[py * width + px] = UInt16(sum)
            }
        }
        return (width, h, levels)
    }

    /// Width in pixels of `text` rendered `height` high.
    public static func width(of text: String, height: Int) -> Int {
        let gw = (layout(text).first?.count ?? 0) * smoothing
        return (gw * height + smoothRows - 1) / smoothRows
    }

    /// The design grid doubled, with the inner steps of diagonal strokes filled: where two ink cells touch
    /// only at a corner, the paper cells beside that corner get their quarter next to it inked (the
    /// Scale2x rule, restricted to paper cells and true diagonals, so that straight strokes keep exactly
    /// one design cell of width and inner corners such as those of "L" or "T" stay square).
    static func smoothed(_ grid: [[Bool]]) -> [[Bool]] {
        let rows = grid.count, cols = grid.first?.count ?? 0
        func at(_ r: Int, _ c: Int) -> Bool { r >= 0 && c >= 0 && r < rows && c < cols && grid[r][c] }
        var out = [[Bool]](repeating: [Bool](repeating: false, count: cols * 2), count: rows * 2)
        for r in 0..<rows {
            for c in 0..<cols {
                if grid[r][c] {
                    out[2 * r][2 * c] = true
                    out[2 * r][2 * c + 1] = true
                    out[2 * r + 1][2 * c] = true
                    out[2 * r + 1][2 * c + 1] = true
                    continue
                }
                let up = at(r - 1, c), down = at(r + 1, c), left = at(r, c - 1), right = at(r, c + 1)
                out[2 * r][2 * c] = up && left && !down && !right && !at(r - 1, c - 1)
                out[2 * r][2 * c + 1] = up && right && !down && !left && !at(r - 1, c + 1)
                out[2 * r + 1][2 * c] = down && left && !up && !right && !at(r + 1, c - 1)
                out[2 * r + 1][2 * c + 1] = down && right && !up && !left && !at(r + 1, c + 1)
            }
        }
        return out
    }

    /// For each output pixel, the grid cells it overlaps and by how much (in the common units).
    static func overlaps(pixels: Int, cells: Int, height h: Int) -> [[(Int, Int)]] {
        let g = smoothRows
        return (0..<pixels).map { p in
            let p0 = p * g, p1 = p0 + g
            var out: [(Int, Int)] = []
            var c = p0 / h
            while c < cells && c * h < p1 {
                let o = min(p1, (c + 1) * h) - max(p0, c * h)
                if o > 0 { out.append((c, o)) }
                c += 1
            }
            return out
        }
    }

    /// The ink grid of a whole string: 9 rows, glyphs joined by one empty column.
    static func layout(_ text: String) -> [[Bool]] {
        var rows = [[Bool]](repeating: [], count: gridRows)
        var first = true
        for ch in text {
            guard let glyph = glyphs[ch] else {
                preconditionFailure("BitmapFont has no glyph for \(ch.debugDescription)")
            }
            for r in 0..<gridRows {
                if !first { rows[r].append(false) }
                rows[r].append(contentsOf: glyph.ink[r])
            }
            first = false
        }
        return rows
    }

    /// (character, first grid row, rows of "#" ink and "." paper). Rows not given are empty.
    static let table: [(Character, Int, [String])] = [
        ("A", 0, [".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"]),
        ("B", 0, ["####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."]),
        ("C", 0, [".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."]),
        ("D", 0, ["####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."]),
        ("E", 0, ["#####", "#....", "#....", "####.", "#....", "#....", "#####"]),
        ("F", 0, ["#####", "#....", "#....", "####.", "#....", "#....", "#...."]),
        ("G", 0, [".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"]),
        ("H", 0, ["#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"]),
        ("I", 0, ["###", ".#.", ".#.", ".#.", ".#.", ".#.", "###"]),
        ("J", 0, ["....#", "....#", "....#", "....#", "....#", "#...#", ".###."]),
        ("K", 0, ["#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"]),
        ("L", 0, ["#....", "#....", "#....", "#....", "#....", "#....", "#####"]),
        ("M", 0, ["#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"]),
        ("N", 0, ["#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"]),
        ("O", 0, [".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."]),
        ("P", 0, ["####.", "#...#", "#...#", "####.", "#....", "#....", "#...."]),
        ("Q", 0, [".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"]),
        ("R", 0, ["####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"]),
        ("S", 0, [".####", "#....", "#....", ".###.", "....#", "....#", "####."]),
        ("T", 0, ["#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."]),
        ("U", 0, ["#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."]),
        ("V", 0, ["#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."]),
        ("W", 0, ["#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."]),
        ("X", 0, ["#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"]),
        ("Y", 0, ["#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."]),
        ("Z", 0, ["#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"]),

        ("a", 2, [".###.", "....#", ".####", "#...#", ".####"]),
        ("b", 0, ["#....", "#....", "####.", "#...#", "#...#", "#...#", "####."]),
        ("c", 2, [".###", "#...", "#...", "#...", ".###"]),
        ("d", 0, ["....#", "....#", ".####", "#...#", "#...#", "#...#", ".####"]),
        ("e", 2, [".###.", "#...#", "#####", "#....", ".###."]),
        ("f", 0, ["..##", ".#..", "###.", ".#..", ".#..", ".#..", ".#.."]),
        ("g", 2, [".####", "#...#", "#...#", "#...#", ".####", "....#", ".###."]),
        ("h", 0, ["#....", "#....", "####.", "#...#", "#...#", "#...#", "#...#"]),
        ("i", 0, ["#", ".", "#", "#", "#", "#", "#"]),
        ("j", 0, ["..#", "...", "..#", "..#", "..#", "..#", "..#", "..#", "##."]),
        ("k", 0, ["#...", "#...", "#..#", "#.#.", "##..", "#.#.", "#..#"]),
        ("l", 0, ["#.", "#.", "#.", "#.", "#.", "#.", ".#"]),
        ("m", 2, ["####.", "#.#.#", "#.#.#", "#.#.#", "#.#.#"]),
        ("n", 2, ["#.##.", "##..#", "#...#", "#...#", "#...#"]),
        ("o", 2, [".###.", "#...#", "#...#", "#...#", ".###."]),
        ("p", 2, ["####.", "#...#", "#...#", "#...#", "####.", "#....", "#...."]),
        ("q", 2, [".####", "#...#", "#...#", "#...#", ".####", "....#", "....#"]),
        ("r", 2, ["#.##", "##..", "#...", "#...", "#..."]),
        ("s", 2, [".####", "#....", ".###.", "....#", "####."]),
        ("t", 1, [".#..", "###.", ".#..", ".#..", ".#..", "..##"]),
        ("u", 2, ["#...#", "#...#", "#...#", "#..##", ".##.#"]),
        ("v", 2, ["#...#", "#...#", "#...#", ".#.#.", "..#.."]),
        ("w", 2, ["#...#", "#...#", "#.#.#", "#.#.#", ".#.#."]),
        ("x", 2, ["#...#", ".#.#.", "..#..", ".#.#.", "#...#"]),
        ("y", 2, ["#...#", "#...#", "#...#", "#...#", ".####", "....#", ".###."]),
        ("z", 2, ["#####", "...#.", "..#..", ".#...", "#####"]),

        ("0", 0, [".##.", "#..#", "#..#", "#..#", "#..#", "#..#", ".##."]),
        ("1", 0, ["..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."]),
        ("2", 0, [".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"]),
        ("3", 0, ["#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."]),
        ("4", 0, ["...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."]),
        ("5", 0, ["#####", "#....", "####.", "....#", "....#", "#...#", ".###."]),
        ("6", 0, ["..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."]),
        ("7", 0, ["#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."]),
        ("8", 0, [".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."]),
        ("9", 0, [".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."]),

        (":", 2, ["#", ".", ".", ".", "#"]),
        ("/", 0, ["....#", "...#.", "...#.", "..#..", ".#...", ".#...", "#...."]),
        (".", 6, ["#"]),
        (",", 6, [".#", ".#", "#."]),
        ("-", 3, ["####"]),
        ("^", 0, ["..#..", ".#.#.", "#...#"]),
        ("(", 0, ["..#", ".#.", "#..", "#..", "#..", "#..", ".#.", "..#"]),
        (")", 0, ["#..", ".#.", "..#", "..#", "..#", "..#", ".#.", "#.."]),
        (" ", 0, ["..."]),
    ]

    static let glyphs: [Character: Glyph] = {
        var out: [Character: Glyph] = [:]
        for (ch, top, rows) in table {
            let width = rows[0].count
            var ink = [[Bool]](repeating: [Bool](repeating: false, count: width), count: gridRows)
            for (i, row) in rows.enumerated() {
                precondition(row.count == width && top + i < gridRows, "malformed glyph \(ch)")
                ink[top + i] = row.map { $0 == "#" }
            }
            out[ch] = Glyph(width: width, ink: ink)
        }
        return out
    }()
}
