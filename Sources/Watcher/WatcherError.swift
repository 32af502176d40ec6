import Foundation
import Glibc
import Platform

public struct WatcherError: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
    public init(reason: String) { self.reason = reason }
}
