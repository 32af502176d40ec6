import Foundation
// TEMPORARY until the fixture generator lands.
public struct WrittenStudyStub {}
public enum SampleInbox {
    public static func write(to inbox: URL, mappingCSV: URL, patients: Int, slices: Int, size: Int, seed: UInt64) throws -> [WrittenStudyStub] { [] }
}
