import Dispatch
import Foundation
import Synchronization

// Low-level building blocks of the defacer: bit planes (one bit per voxel, rows padded to whole
// 64-bit words), separable dilation on them, runs of set bits and union-find over runs. Everything
// is linear in the number of voxels (or of runs) so a 512x512x300 series stays well under a second.

/// A stack of bit planes: slice k, row j, column i at word (k * rows + j) * wordsPerRow + i / 64.
package final class BitVolume: @unchecked Sendable {
    package let columns: Int
    package let rows: Int
    package let slices: Int
    package let wordsPerRow: Int
    package let words: UnsafeMutablePointer<UInt64>
    package let count: Int

    package init(columns: Int, rows: Int, slices: Int) {
        self.columns = columns
        self.rows = rows
        self.slices = slices
        wordsPerRow = (columns + 63) / 64
        count = wordsPerRow * rows * slices
        words = .allocate(capacity: max(1, count))
        words.initialize(repeating: 0, count: max(1, count))
    }

    deinit { words.deallocate() }

    @inline(__always) package func plane(_ k: Int) -> UnsafeMutablePointer<UInt64> { words + k * rows * wordsPerRow }

    @inline(__always) package func get(_ i: Int, _ j: Int, _ k: Int) -> Bool {
        words[(k * rows + j) * wordsPerRow + (i >> 6)] & (1 << UInt64(i & 63)) != 0
    }

    @inline(__always) package func set(_ i: Int, _ j: Int, _ k: Int) {
        words[(k * rows + j) * wordsPerRow + (i >> 6)] |= 1 << UInt64(i & 63)
    }

    @inline(__always) package func clear(_ i: Int, _ j: Int, _ k: Int) {
        words[(k * rows + j) * wordsPerRow + (i >> 6)] &= ~(1 << UInt64(i & 63))
    }
}

/// Operations on one plane of `rows` rows of `wordsPerRow` words (`columns` valid bits per row).
package struct PlaneShape {
    package let columns: Int
    package let rows: Int
    package let wordsPerRow: Int
    package var wordCount: Int { rows * wordsPerRow }

    /// Mask of the valid bits in the last word of a row.
    package var tailMask: UInt64 {
        let r = columns & 63
        return r == 0 ? ~0 : (1 << UInt64(r)) - 1
    }

    /// dst = src dilated by `w` columns to each side (w >= 0). dst and src must not overlap.
    package func dilateRow(_ src: UnsafePointer<UInt64>, into dst: UnsafeMutablePointer<UInt64>, by w: Int) {
        let n = wordsPerRow
        dst.update(from: src, count: n)
        guard w > 0 else { return }
        // One-column steps repeated w times: w is a few pixels (a few mm).
        var tmp = [UInt64](repeating: 0, count: n)
        for _ in 0..<w {
            for x in 0..<n { tmp[x] = dst[x] }
            for x in 0..<n {
                let left = (tmp[x] << 1) | (x > 0 ? tmp[x - 1] >> 63 : 0)
                let right = (tmp[x] >> 1) | (x + 1 < n ? tmp[x + 1] << 63 : 0)
                dst[x] = tmp[x] | left | right
            }
        }
        dst[n - 1] &= tailMask
    }

    /// Dilation by an ellipse of half-widths rx columns and ry rows (a disc in millimetres).
    package func dilateDisc(_ src: UnsafePointer<UInt64>, into dst: UnsafeMutablePointer<UInt64>, rx: Double, ry: Double) {
        let n = wordsPerRow
        let iry = Int(ry.rounded(.down)), irx = Int(rx.rounded(.down))
        if iry <= 0 && irx <= 0 {
            dst.update(from: src, count: wordCount)
            return
        }
        // Half-width per row offset.
        var widths = [Int](repeating: 0, count: 2 * iry + 1)
        for d in -iry...iry {
            let f = ry > 0 ? Double(d) / ry : 0
            widths[d + iry] = Int((rx * max(0, 1 - f * f).squareRoot()).rounded(.down))
        }
        // Horizontal dilations of every row by each width the disc uses (ascending), each level
        // grown from the one before by d more columns with one shift each way. That leaves no gap
        // while d <= w + 1, also where the row's end cut the level off (else the growth goes
        // through intermediate levels).
        var levels: [Int] = []
        var needed = Set(widths)
        needed.insert(0)
        var w = 0
        for target in needed.sorted() {
            while w < target { w = min(target, 2 * w + 1, w + 63); levels.append(w) }
        }
        // The level of each row offset's width.
        let levelOfOffset = widths.map { width in width == 0 ? 0 : levels.firstIndex(of: width)! + 1 }
        let horizontal = [UInt64](unsafeUninitializedCapacity: (levels.count + 1) * wordCount) { h, initialized in
            let h = h.baseAddress!
            for j in 0..<rows {
                let row = src + j * n
                (h + j * n).update(from: row, count: n)
                var from = 0
                for (l, to) in levels.enumerated() {
                    let d = to - from
                    let prev = h + l * wordCount + j * n
                    let cur = h + (l + 1) * wordCount + j * n
                    for x in 0..<n {
                        let t = prev[x]
                        let left = (t << UInt64(d)) | (x > 0 ? prev[x - 1] >> UInt64(64 - d) : 0)
                        let right = (t >> UInt64(d)) | (x + 1 < n ? prev[x + 1] << UInt64(64 - d) : 0)
                        cur[x] = t | left | right
                    }
                    cur[n - 1] &= tailMask
                    from = to
                }
            }
            initialized = (levels.count + 1) * wordCount
        }
        horizontal.withUnsafeBufferPointer { h in
            for j in 0..<rows {
                let out = dst + j * n
                for x in 0..<n { out[x] = 0 }
                for d in -iry...iry {
                    let r = j + d
                    if r < 0 || r >= rows { continue }
                    let line = h.baseAddress! + levelOfOffset[d + iry] * wordCount + r * n
                    for x in 0..<n { out[x] |= line[x] }
                }
            }
        }
    }

    /// Square (Chebyshev) dilation by rx columns and ry rows: separable, used for safety margins.
    package func dilateBox(_ src: UnsafePointer<UInt64>, into dst: UnsafeMutablePointer<UInt64>, rx: Int, ry: Int) {
        let n = wordsPerRow
        var horizontal = [UInt64](repeating: 0, count: wordCount)
        horizontal.withUnsafeMutableBufferPointer { h in
            for j in 0..<rows { dilateRow(src + j * n, into: h.baseAddress! + j * n, by: rx) }
            for j in 0..<rows {
                let out = dst + j * n
                for x in 0..<n { out[x] = 0 }
                for r in max(0, j - ry)...min(rows - 1, j + ry) {
                    let line = h.baseAddress! + r * n
                    for x in 0..<n { out[x] |= line[x] }
                }
            }
        }
    }
}

/// Runs of set bits, row by row: run r covers columns starts[r]..<ends[r] of row rowOf(r).
package struct Runs {
    package var starts: [Int32] = []
    package var ends: [Int32] = []
    /// rowStart[j]..<rowStart[j + 1] are the runs of row j.
    package var rowStart: [Int32] = []

    package init() {}

    /// Extracts the runs of a plane.
    package init(plane: UnsafePointer<UInt64>, shape: PlaneShape) {
        rowStart.reserveCapacity(shape.rows + 1)
        for j in 0..<shape.rows {
            rowStart.append(Int32(starts.count))
            Runs.append(row: plane + j * shape.wordsPerRow, shape: shape, starts: &starts, ends: &ends)
        }
        rowStart.append(Int32(starts.count))
    }

    package var count: Int { starts.count }

    package static func append(row: UnsafePointer<UInt64>, shape: PlaneShape, starts: inout [Int32], ends: inout [Int32]) {
        var open = -1
        for x in 0..<shape.wordsPerRow {
            var w = row[x]
            let base = x << 6
            if open >= 0 {
                // Continue the open run through set low bits.
                let ones = (~w).trailingZeroBitCount
                if ones == 64 { continue }
                starts.append(Int32(open)); ends.append(Int32(base + ones))
                open = -1
                w &= ~((1 << UInt64(ones)) - 1)
            }
            while w != 0 {
                let s = w.trailingZeroBitCount
                let inv = ~(w | ((1 << UInt64(s)) - 1))
                let e = inv.trailingZeroBitCount
                if e == 64 {
                    open = base + s
                    break
                }
                starts.append(Int32(base + s)); ends.append(Int32(base + e))
                w &= ~((e == 64 ? 0 : (1 << UInt64(e))) - 1)
            }
        }
        if open >= 0 { starts.append(Int32(open)); ends.append(Int32(shape.columns)) }
    }
}

/// Union-find over run indices.
package struct UnionFind {
    package var parent: [Int32]

    package init(count: Int) { parent = (0..<count).map { Int32($0) } }

    @inline(__always) package mutating func find(_ a: Int) -> Int {
        var x = a
        while Int(parent[x]) != x {
            let p = Int(parent[x])
            parent[x] = parent[p]
            x = p
        }
        return x
    }

    @inline(__always) package mutating func union(_ a: Int, _ b: Int) {
        let ra = find(a), rb = find(b)
        if ra == rb { return }
        if ra < rb { parent[rb] = Int32(ra) } else { parent[ra] = Int32(rb) }
    }

    /// Unions every pair of overlapping runs between two sorted run lists (4-connectivity).
    package mutating func linkOverlaps(_ a: Runs, _ aRange: Range<Int>, offsetA: Int,
                               _ b: Runs, _ bRange: Range<Int>, offsetB: Int) {
        var p = aRange.lowerBound, q = bRange.lowerBound
        while p < aRange.upperBound && q < bRange.upperBound {
            if a.starts[p] < b.ends[q] && b.starts[q] < a.ends[p] { union(p + offsetA, q + offsetB) }
            if a.ends[p] < b.ends[q] { p += 1 } else { q += 1 }
        }
    }
}

extension Runs {
    @inline(__always) package func range(row j: Int) -> Range<Int> { Int(rowStart[j])..<Int(rowStart[j + 1]) }

    /// Labels the 4-connected components of a plane's runs; returns the union-find over the runs.
    package func components() -> UnionFind {
        var uf = UnionFind(count: count)
        let rows = rowStart.count - 1
        if rows > 1 {
            for j in 1..<rows { uf.linkOverlaps(self, range(row: j - 1), offsetA: 0, self, range(row: j), offsetB: 0) }
        }
        return uf
    }

    /// Sets the bits of the runs for which `keep(run)` holds into `plane`.
    package func paint(into plane: UnsafeMutablePointer<UInt64>, shape: PlaneShape, where keep: (Int) -> Bool) {
        let rows = rowStart.count - 1
        for j in 0..<rows {
            let row = plane + j * shape.wordsPerRow
            for r in range(row: j) where keep(r) {
                setBits(row, from: Int(starts[r]), to: Int(ends[r]))
            }
        }
    }
}

/// Sets columns from..<to of a row.
@inline(__always) package func setBits(_ row: UnsafeMutablePointer<UInt64>, from: Int, to: Int) {
    var c = from
    while c < to {
        let x = c >> 6, b = c & 63
        let n = min(64 - b, to - c)
        let m: UInt64 = n == 64 ? ~0 : ((1 << UInt64(n)) - 1) << UInt64(b)
        row[x] |= m
        c += n
    }
}


/// 6-connected components of per-slice runs stacked in 3-D: runs of adjacent rows in a slice and of
/// the same row in adjacent slices are joined when their columns overlap. Returns the offset of each
/// slice's first run and every run's component root.
package func components3D(_ runs: [Runs], rows: Int) -> (offsets: [Int], roots: [Int32]) {
    var offsets = [Int](repeating: 0, count: runs.count + 1)
    for k in runs.indices { offsets[k + 1] = offsets[k] + runs[k].count }
    var uf = UnionFind(count: offsets[runs.count])
    for k in runs.indices {
        let here = runs[k]
        for j in 0..<rows {
            if j > 0 {
                uf.linkOverlaps(here, here.range(row: j - 1), offsetA: offsets[k], here, here.range(row: j), offsetB: offsets[k])
            }
            if k > 0 {
                let below = runs[k - 1]
                uf.linkOverlaps(below, below.range(row: j), offsetA: offsets[k - 1], here, here.range(row: j), offsetB: offsets[k])
            }
        }
    }
    var roots = [Int32](repeating: 0, count: offsets[runs.count])
    for r in roots.indices { roots[r] = Int32(uf.find(r)) }
    return (offsets, roots)
}
