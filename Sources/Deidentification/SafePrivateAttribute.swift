import DICOM
import Foundation
import Platform

/// A private attribute kept by the Retain Safe Private option: (gggg,xxEE) under `creator`.
public struct SafePrivateAttribute: Sendable, Hashable {
    public let creator: String
    public let group: UInt16
    public let element: UInt8

    /// Numeric acquisition parameters from PS3.15 Table E.3.10-1 that identify nobody.
    public static let defaults: Set<SafePrivateAttribute> = [
        SafePrivateAttribute(creator: "GEMS_ACQU_01", group: 0x0019, element: 0x23),  // table speed
        SafePrivateAttribute(creator: "GEMS_PARM_01", group: 0x0043, element: 0x27),  // scan pitch ratio
    ]
}
