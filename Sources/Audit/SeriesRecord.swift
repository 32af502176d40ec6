/// The audit row of one series of a job.
public struct SeriesRecord: Sendable {
    public var index: Int
    public var files: Int
    public var verdict: String
    public var reason: String?
    public var voxelsRemoved: Int
    /// The frontal skin rendering before | after.
    public var qaImage: String?
    /// The profile (lateral) skin rendering before | after.
    public var qaProfile: String? = nil

    package init(index: Int, files: Int, verdict: String, reason: String?, voxelsRemoved: Int, qaImage: String?,
                 qaProfile: String? = nil) {
        self.index = index
        self.files = files
        self.verdict = verdict
        self.reason = reason
        self.voxelsRemoved = voxelsRemoved
        self.qaImage = qaImage
        self.qaProfile = qaProfile
    }
}
