import Glibc

/// Facts about the local user that ssh_config tokens and default paths need.
public enum LocalUser {
    /// `$HOME` when set (so tests and wrappers can move it), else the password database's home.
    public static var home: String {
        if let home = getenv("HOME").map({ String(cString: $0) }), !home.isEmpty { return home }
        return passwdEntry?.home ?? "/"
    }

    /// The shell ssh runs ProxyCommand and `Match exec` with: `$SHELL`, else /bin/sh.
    static var shell: String {
        getenv("SHELL").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/bin/sh"
    }

    public static var name: String {
        passwdEntry?.name ?? String(getuid())
    }

    /// Read once: getpwuid's answer lives in a static buffer that fan-out threads would share.
    private static let passwdEntry: (name: String, home: String)? = {
        guard let entry = getpwuid(geteuid()) else { return nil }
        return (String(cString: entry.pointee.pw_name), String(cString: entry.pointee.pw_dir))
    }()
}
