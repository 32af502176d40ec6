/// One fragment of encapsulated pixel data, as much of it as the check for bytes beyond the
/// frames needs: its length and its last bytes.
package struct PixelFragment: Sendable, Equatable {
    package let length: Int
    /// Up to the last three bytes.
    package let tail: [UInt8]
}

/// Encapsulated pixel data carries its frames and nothing else. RLE has exactly one fragment per
/// frame (PS3.5 G.2); the JPEG family (baseline and extended, lossless, JPEG-LS, JPEG 2000,
/// HTJ2K) ends each frame's codestream with the marker FF D9 (EOI; EOC in JPEG 2000), with one
/// zero byte after it when the length is odd. A fragment after the last frame's end, or bytes
/// after the last end marker, are no image and could hold anything.
package enum PixelFragments {
    package static let rle = "1.2.840.10008.1.2.5"
    package static let endMarked: Set<String> = [
        "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70",
        "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91",
        "1.2.840.10008.1.2.4.92", "1.2.840.10008.1.2.4.93", "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202",
        "1.2.840.10008.1.2.4.203",
    ]

    /// What lies beyond the frames, said without any of its bytes; nil when nothing does (or the
    /// transfer syntax gives no way to tell). `fragments` excludes the Basic Offset Table.
    package static func beyondFrames(_ fragments: [PixelFragment], frames: Int, transferSyntax: String) -> String? {
        guard frames > 0, !fragments.isEmpty else { return nil }
        if transferSyntax == rle {
            return fragments.count > frames ? "\(fragments.count) fragments for \(frames) frame(s)" : nil
        }
        guard endMarked.contains(transferSyntax) else { return nil }
        var ends = 0
        for (index, fragment) in fragments.enumerated() where endsFrame(fragment) {
            ends += 1
            if ends == frames, index < fragments.count - 1 {
                return "\(fragments.count - 1 - index) fragment(s) after the last frame's end"
            }
        }
        if !endsFrame(fragments[fragments.count - 1]) {
            return "bytes after the last frame's end marker"
        }
        return nil
    }

    package static func endsFrame(_ fragment: PixelFragment) -> Bool {
        let tail = fragment.tail
        if tail.count >= 2, tail[tail.count - 2] == 0xFF, tail[tail.count - 1] == 0xD9 { return true }
        return tail.count >= 3 && tail[tail.count - 3] == 0xFF && tail[tail.count - 2] == 0xD9 && tail[tail.count - 1] == 0
    }

    /// The fragments of an encapsulated value as it lies in a file's bytes (items of defined
    /// length after the Basic Offset Table, up to the sequence delimiter).
    package static func parse(_ value: UnsafeRawBufferPointer) -> [PixelFragment] {
        func u16(_ at: Int) -> UInt16 { UInt16(value[at]) | UInt16(value[at + 1]) << 8 }
        func u32(_ at: Int) -> UInt32 { UInt32(u16(at)) | UInt32(u16(at + 2)) << 16 }
        var fragments: [PixelFragment] = []
        var at = 0, first = true
        while at + 8 <= value.count, u16(at) == 0xFFFE, u16(at + 2) == 0xE000 {
            let length = Int(u32(at + 4))
            guard at + 8 + length <= value.count else { break }
            if !first {
                let end = at + 8 + length
                fragments.append(PixelFragment(length: length, tail: Array(value[max(at + 8, end - 3)..<end])))
            }
            first = false
            at += 8 + length
        }
        return fragments
    }
}
