/// ssh's connection sharing, as pss applies it: a client keeps its connection to a host while it holds an Opened
/// session there, and for `linger` seconds after (ssh's ControlPersist; 10 minutes unless set).
public struct ConnectionKeeping: Sendable, Equatable {
    /// False for `ControlMaster no` or `ControlPath none`.
    public var isEnabled = true
    /// Seconds the connection stays after its last use and last session; nil: as long as it lasts
    /// (`ControlPersist yes` or `0`, as ssh reads them).
    public var linger: Int? = ConnectionKeeping.defaultLinger
    /// ControlPersist was set: connections are kept for one-off commands (`invoke --host`) too.
    public var lingerIsExplicit = false
    /// ControlPath, its tokens expanded: where the kept connection's socket goes, `.pss` appended (ssh's own
    /// master, if any, keeps the path itself: the two speak different protocols). nil: in the client directory.
    public var path: String?

    public static let defaultLinger = 600

    public init() {}

    /// From the three keywords' values as written.
    init(master: String?, persist: String?, path: String?, expand: (String) -> String) {
        if let master, ["no", "false"].contains(master.lowercased()) { isEnabled = false }
        if let path {
            if path.lowercased() == "none" { isEnabled = false } else { self.path = expand(path) + ".pss" }
        }
        if let persist {
            lingerIsExplicit = true
            switch SSHConfigKeyword.flag(persist) {
            case true?: linger = nil
            case false?: linger = 0
            case nil:
                let seconds = SSHConfigKeyword.seconds(persist) ?? Self.defaultLinger
                linger = seconds == 0 ? nil : seconds
            }
        }
    }
}
