import Foundation

/// OCR evidence kept across the masking rounds of one frame: a row whose pixels no mask touched
/// reads the same again.
package final class CachedReading {
    private var evidence: [TextCandidate: TextEvidence] = [:]

    package func read(_ candidates: [TextCandidate], _ frame: Frame) throws(PixelError) -> [TextEvidence] {
        let missing = candidates.filter { evidence[$0] == nil }
        if !missing.isEmpty {
            let read = try TextReader.withReader { $0.read(missing, in: frame) }
            for (candidate, found) in zip(missing, read) { evidence[candidate] = found }
        }
        return candidates.map { evidence[$0]! }
    }

    /// Forgets what was read where the frame changed (the reader's crop reaches a margin beyond the row).
    package func changed(_ rectangles: [PixelBox]) {
        evidence = evidence.filter { candidate, _ in
            let reach = candidate.box.grown(by: max(2, candidate.characterHeight / 2) + 1, within: Int.max, Int.max)
            return !rectangles.contains { $0.x0 < reach.x1 && reach.x0 < $0.x1 && $0.y0 < reach.y1 && reach.y0 < $0.y1 }
        }
    }
}
