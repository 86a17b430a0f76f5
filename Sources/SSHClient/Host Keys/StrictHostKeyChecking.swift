/// ssh's StrictHostKeyChecking policy for keys not yet in known_hosts. A changed key is refused under every policy.
public enum StrictHostKeyChecking: String, Sendable, Equatable {
    /// Refuse unknown keys.
    case yes
    /// Ask on the terminal; without a terminal, refuse (the default, as ssh's).
    case ask
    /// Add unknown keys to known_hosts without asking.
    case acceptNew = "accept-new"
    /// Add unknown keys without asking (ssh's `no`; a changed key is still refused here).
    case no

    public init?(configValue: String) {
        switch configValue.lowercased() {
        case "yes", "true": self = .yes
        case "ask": self = .ask
        case "accept-new": self = .acceptNew
        case "no", "off", "false": self = .no
        default: return nil
        }
    }
}
