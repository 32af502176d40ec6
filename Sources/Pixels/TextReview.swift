import Defacing
import Foundation

/// A small picture of one masked frame, with the masked rectangles outlined, for the QA folder.
/// Made from the masked pixels, so it shows what is delivered and nothing that was removed.
public struct TextPreview: Sendable {
    public let width: Int
    public let height: Int
    /// RGB, row-major.
    public let pixels: [UInt8]

    package static let largestSide = 256

    package init(masked frame: Frame, range: (lo: Int32, hi: Int32), rectangles: [PixelBox]) {
        let step = max(1, (max(frame.width, frame.height) + Self.largestSide - 1) / Self.largestSide)
        width = max(1, frame.width / step)
        height = max(1, frame.height / step)
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        let span = Double(max(1, range.hi - range.lo))
        for y in 0..<height {
            for x in 0..<width {
                let value = frame[(y * step) * frame.width + x * step]
                let grey = UInt8(max(0, min(255, (Double(value) - Double(range.lo)) / span * 255)))
                let p = (y * width + x) * 3
                rgb[p] = grey; rgb[p + 1] = grey; rgb[p + 2] = grey
            }
        }
        for rectangle in rectangles {
            let x0 = rectangle.x0 / step, x1 = min(width - 1, (rectangle.x1 - 1) / step)
            let y0 = rectangle.y0 / step, y1 = min(height - 1, (rectangle.y1 - 1) / step)
            guard x0 <= x1, y0 <= y1 else { continue }
            for x in x0...x1 { for y in [y0, y1] { rgb[(y * width + x) * 3] = 255; rgb[(y * width + x) * 3 + 1] = 0; rgb[(y * width + x) * 3 + 2] = 0 } }
            for y in y0...y1 { for x in [x0, x1] { rgb[(y * width + x) * 3] = 255; rgb[(y * width + x) * 3 + 1] = 0; rgb[(y * width + x) * 3 + 2] = 0 } }
        }
        pixels = rgb
    }

    /// Up to `limit` previews side by side in rows of four: one picture per series for a reviewer.
    package static func sheet(_ previews: [TextPreview], limit: Int = 12) -> Data? {
        let shown = Array(previews.prefix(limit))
        guard !shown.isEmpty else { return nil }
        let columns = min(4, shown.count), rows = (shown.count + columns - 1) / columns
        let cellW = shown.map(\.width).max()!, cellH = shown.map(\.height).max()!
        let gap = 4
        let width = columns * cellW + (columns + 1) * gap, height = rows * cellH + (rows + 1) * gap
        var rgb = [UInt8](repeating: 64, count: width * height * 3)
        for (k, preview) in shown.enumerated() {
            let left = gap + (k % columns) * (cellW + gap), top = gap + (k / columns) * (cellH + gap)
            for y in 0..<preview.height {
                let source = y * preview.width * 3, target = ((top + y) * width + left) * 3
                rgb.replaceSubrange(target..<(target + preview.width * 3), with: preview.pixels[source..<(source + preview.width * 3)])
            }
        }
        return PNGWriter.rgb(width: width, height: height, pixels: rgb)
    }
}
