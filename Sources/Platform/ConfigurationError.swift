/// A usage or configuration problem: exit code 2, nothing processed.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
