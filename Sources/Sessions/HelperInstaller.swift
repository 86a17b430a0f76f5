import Foundation
import Logging
import SessionWire
import SSHClient

/// Puts this client's helper on a host: checks that the host can run it (CPU, glibc), prepares the host directory
/// (0700, owned by the user, not writable by others), uploads by SCP under a temporary name, verifies size and
/// SHA-256 there, and moves it into place atomically.
struct HelperInstaller {
    let connection: SSHConnection
    let helper: HelperBinary
    let logger: Logger

    func install() throws {
        logger.debug("installing \(helper.installedName) on \(connection.settings.alias)")
        let facts = try run(HostScripts.prepare)
        if let error = facts["error"] { throw SessionError.hostUnsupported("host directory: \(error)") }
        let arch = facts["arch"] ?? "?"
        guard arch == HelperBinary.architecture else {
            throw SessionError.hostUnsupported("the host is \(arch); this pss carries a \(HelperBinary.architecture) helper")
        }
        let glibc = (facts["glibc"] ?? "").split(separator: " ").last.map(String.init) ?? ""
        let parts = glibc.split(separator: ".").compactMap { Int($0) }
        guard parts.count >= 2, (parts[0], parts[1]) >= HelperBinary.minimumGlibc else {
            let needed = "\(HelperBinary.minimumGlibc.0).\(HelperBinary.minimumGlibc.1)"
            throw SessionError.hostUnsupported("the host has \(glibc.isEmpty ? "no glibc" : "glibc \(glibc)"); the pss helper needs glibc \(needed) or later")
        }
        guard let directory = facts["dir"], directory.hasPrefix("/") else {
            throw SessionError.helper("could not find the host directory")
        }
        let neededKiB = helper.size / 1024 + 1024  // the helper, and room for a session or two
        if let free = facts["free"].flatMap({ Int($0) }), free < neededKiB {
            throw SessionError.hostUnsupported("host directory \(directory) has \(free) KiB free; the helper needs \(neededKiB) KiB")
        }

        let temporary = "\(directory)/bin/.upload-\(helper.installedName)-\(UInt32.random(in: 0...UInt32.max))"
        try connection.upload(try helper.contents(), to: temporary, mode: 0o700)
        let verified = try run(HostScripts.install(uploaded: temporary, as: helper, in: directory))
        if let error = verified["error"] { throw SessionError.helper("cannot install the helper: \(error)") }
        guard verified["ok"] == "1" else { throw SessionError.helper("could not install the helper") }
    }

    /// Runs a POSIX sh script (whatever the user's login shell is) and returns its `key=value` lines.
    private func run(_ script: String) throws -> [String: String] {
        let out = BufferSink(), err = BufferSink()
        let status = try connection.execute("sh -c \(ShellQuoting.quote(script))", stdin: nil, stdout: out, stderr: err)
        guard status == .exited(0) else {
            throw SessionError.helper("installing the helper failed: \(String(decoding: err.bytes, as: UTF8.self))")
        }
        var result: [String: String] = [:]
        for line in String(decoding: out.bytes, as: UTF8.self).split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            result[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return result
    }
}
