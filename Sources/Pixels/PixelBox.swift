/// A rectangle of pixels: columns x0..<x1, rows y0..<y1.
public struct PixelBox: Sendable, Hashable, CustomStringConvertible {
    public var x0: Int, y0: Int, x1: Int, y1: Int
    public init(x0: Int, y0: Int, x1: Int, y1: Int) {
        self.x0 = x0; self.y0 = y0; self.x1 = x1; self.y1 = y1
    }
    public var width: Int { x1 - x0 }
    public var height: Int { y1 - y0 }
    public var area: Int { max(0, width) * max(0, height) }
    public var description: String { "\(x0),\(y0) \(width)x\(height)" }

    package func grown(by margin: Int, within width: Int, _ height: Int) -> PixelBox {
        grown(left: margin, top: margin, right: margin, bottom: margin, within: width, height)
    }
    package func grown(left: Int, top: Int, right: Int, bottom: Int, within width: Int, _ height: Int) -> PixelBox {
        PixelBox(x0: max(0, x0 - left), y0: max(0, y0 - top), x1: min(width, x1 + right), y1: min(height, y1 + bottom))
    }
    package func union(_ other: PixelBox) -> PixelBox {
        PixelBox(x0: min(x0, other.x0), y0: min(y0, other.y0), x1: max(x1, other.x1), y1: max(y1, other.y1))
    }
    /// Whether this box covers at least half of the other.
    package func coversHalf(of other: PixelBox) -> Bool {
        let shared = PixelBox(x0: max(x0, other.x0), y0: max(y0, other.y0), x1: min(x1, other.x1), y1: min(y1, other.y1))
        guard shared.width > 0, shared.height > 0 else { return false }
        return 2 * shared.area >= other.area
    }
    /// The gap between two boxes along x and along y (negative when they overlap).
    package func gaps(to other: PixelBox) -> (x: Int, y: Int) {
        (max(other.x0 - x1, x0 - other.x1), max(other.y0 - y1, y0 - other.y1))
    }
}
