/// Dummy values for action D, each valid for its VR and free of anything from the input.
package enum DummyValue {
    /// nil means the VR has no sensible text dummy (binary): the element is emptied instead.
    package static func forVR(_ vr: String) -> String? {
        switch vr {
        case "PN": "ANONYMOUS"
        case "LO", "SH", "LT", "ST", "UT", "UC": "REMOVED"
        case "AE": "ANONYMOUS"
        case "CS": "REMOVED"
        case "AS": "000Y"
        case "DA": "19000101"
        case "TM": "000000"
        case "DT": "19000101000000"
        case "DS", "IS": "0"
        case "US", "SS", "UL", "SL", "FL", "FD", "UV", "SV": "0"
        case "UR": "urn:removed"
        default: nil
        }
    }
}
