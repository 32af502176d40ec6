// TEMPORARY: replaced by Defacer.swift, FrontalRendering.swift and PNGWriter.swift.
import Foundation
public struct HeadCheck: Sendable { public let isHead: Bool; public let reason: String }
public struct DefaceOptions: Sendable {
    public var mode: DefaceMode = .remove; public var ears: Bool = false; public var seed: UInt64 = 0
    public init(mode: DefaceMode = .remove, ears: Bool = false, seed: UInt64 = 0) { self.mode = mode; self.ears = ears; self.seed = seed }
}
public enum Defacer {
    public static func checkHead(_ volume: Volume) -> HeadCheck { HeadCheck(isHead: false, reason: "stub") }
    public static func faceMask(_ volume: Volume, options: DefaceOptions = .init()) -> FaceMask? { nil }
    @discardableResult public static func apply(_ mask: FaceMask, to volume: inout Volume, options: DefaceOptions = .init()) -> Int { 0 }
}
