import Foundation

extension FrontalRendering {
    /// Two renderings side by side (before | after) with a grey bar between them, as one PNG.
    package static func sideBySidePNG(_ before: (width: Int, height: Int, pixels: [UInt8]),
                              _ after: (width: Int, height: Int, pixels: [UInt8])) -> Data {
        let gap = gapWidth
        let width = before.width + gap + after.width
        let height = max(before.height, after.height)
        var pixels = [UInt8](repeating: 0, count: width * height)
        for y in 0..<height { for x in before.width..<(before.width + gap) { pixels[y * width + x] = 96 } }
        for (image, offset) in [(before, 0), (after, before.width + gap)] {
            for y in 0..<image.height {
                for x in 0..<image.width { pixels[y * width + offset + x] = image.pixels[y * image.width + x] }
            }
        }
        return PNGWriter.grayscale(width: width, height: height, pixels: pixels)
    }
}
