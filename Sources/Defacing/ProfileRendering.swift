/// Profile (lateral) skin rendering for the defacing QA picture: the view from the patient's right
/// (camera at -x looking towards +x), anterior on the image's right, superior up. The nose, lips and
/// chin show as a silhouette here, which the frontal view shows only by shading.
///
/// It is the frontal rendering of the same voxels in patient coordinates turned a quarter about the
/// z axis (x' = -y, y' = x): nothing is resampled or copied (the Hounsfield array is shared).
public enum ProfileRendering {
    public static func render(_ volume: Volume, skinThreshold: Int16 = -300,
                              millimetresPerPixel: Double = 1.0) -> (width: Int, height: Int, pixels: [UInt8]) {
        FrontalRendering.render(turned(volume), skinThreshold: skinThreshold, millimetresPerPixel: millimetresPerPixel)
    }

    /// The rendering and its surface; see `FrontalRendering.render(_:skinThreshold:millimetresPerPixel:continuing:)`.
    package static func render(_ volume: Volume, continuing: FrontalRendering.SurfaceHits?)
        -> (image: (width: Int, height: Int, pixels: [UInt8]), surface: FrontalRendering.SurfaceHits) {
        FrontalRendering.render(turned(volume), continuing: continuing)
    }

    /// The volume with its geometry turned so that patient x points away from the camera.
    package static func turned(_ v: Volume) -> Volume {
        func turn(_ p: SIMD3<Double>) -> SIMD3<Double> { SIMD3(-p.y, p.x, p.z) }
        return Volume(columns: v.columns, rows: v.rows, slices: v.slices, hu: v.hu, origins: v.origins.map(turn),
                      rowDirection: turn(v.rowDirection), columnDirection: turn(v.columnDirection),
                      columnSpacing: v.columnSpacing, rowSpacing: v.rowSpacing)
    }
}
