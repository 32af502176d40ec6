import DICOM
/// Where the frames of an image lie and how their stored values become Hounsfield units: from the
/// top-level attributes of a single-frame image, or from the functional groups of a multi-frame
/// one (Enhanced CT, PS3.3 C.7.6.16): each frame's group in the Per-frame Functional Groups
/// Sequence, else the Shared Functional Groups Sequence, else the top level.
package struct FrameGeometry {
    package var positions: [SIMD3<Double>] = []
    package var orientation: [Double] = []
    package var pixelSpacing: [Double] = []
    package var slope: Double = 1
    package var intercept: Double = 0
    /// Set when the frames differ in orientation, spacing or rescale: they are not one stack.
    package var disagreement: String?

    package static let sharedGroups = Tag(0x5200, 0x9229)
    package static let perFrameGroups = Tag(0x5200, 0x9230)
    package static let planePosition = Tag(0x0020, 0x9113)
    package static let planeOrientation = Tag(0x0020, 0x9116)
    package static let pixelMeasures = Tag(0x0028, 0x9110)
    package static let valueTransformation = Tag(0x0028, 0x9145)
    package static let imagePosition = Tag(0x0020, 0x0032)
    package static let imageOrientation = Tag(0x0020, 0x0037)
    package static let spacing = Tag(0x0028, 0x0030)
    package static let rescaleIntercept = Tag(0x0028, 0x1052)
    package static let rescaleSlope = Tag(0x0028, 0x1053)

    package init(_ dataset: DicomItem, frames: Int) {
        func numbers(_ item: DicomItem?, _ tag: Tag) -> [Double] { item?.strings(tag).compactMap(Double.init) ?? [] }
        let shared = dataset.items(Self.sharedGroups).first
        let perFrame = dataset.items(Self.perFrameGroups)
        /// A value of frame `k`: in its own group's macro, else the shared one's, else the top level.
        func value(_ macro: Tag, _ tag: Tag, frame k: Int) -> [Double] {
            if k < perFrame.count, case let own = numbers(perFrame[k].items(macro).first, tag), !own.isEmpty { return own }
            if case let common = numbers(shared?.items(macro).first, tag), !common.isEmpty { return common }
            return numbers(dataset, tag)
        }
        let count = perFrame.isEmpty ? 1 : frames
        var positions: [SIMD3<Double>] = []
        for k in 0..<count {
            let p = value(Self.planePosition, Self.imagePosition, frame: k)
            guard p.count == 3 else { positions = []; break }
            positions.append(SIMD3(p[0], p[1], p[2]))
        }
        self.positions = frames > 1 && positions.count != frames ? [] : positions
        orientation = value(Self.planeOrientation, Self.imageOrientation, frame: 0)
        pixelSpacing = value(Self.pixelMeasures, Self.spacing, frame: 0)
        slope = value(Self.valueTransformation, Self.rescaleSlope, frame: 0).first ?? 1
        intercept = value(Self.valueTransformation, Self.rescaleIntercept, frame: 0).first ?? 0
        for k in 1..<max(1, perFrame.count) where k < frames {
            if !Self.same(value(Self.planeOrientation, Self.imageOrientation, frame: k), orientation, 1e-3) {
                disagreement = "frames of different orientations"
            } else if !Self.same(value(Self.pixelMeasures, Self.spacing, frame: k), pixelSpacing, 1e-4) {
                disagreement = "frames of different pixel spacings"
            } else if (value(Self.valueTransformation, Self.rescaleSlope, frame: k).first ?? 1) != slope
                || (value(Self.valueTransformation, Self.rescaleIntercept, frame: k).first ?? 0) != intercept {
                disagreement = "frames of different rescale slopes or intercepts"
            }
            if disagreement != nil { break }
        }
    }

    package static func same(_ a: [Double], _ b: [Double], _ tolerance: Double) -> Bool {
        a.count == b.count && !zip(a, b).contains { abs($0 - $1) > tolerance }
    }
}
