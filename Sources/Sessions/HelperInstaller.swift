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

    func install(notify: (String) -> Void) throws {
        logger.debug("installing \(helper.installedName) on \(connection.settings.alias)")
        let facts = try run(HostScripts.prepare)
        if let error = facts["error"] { throw SessionError.hostUnsupported("host directory: \(error)") }
        if let warning = facts["warn"] { notify(warning) }
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
        try upload(try helper.contents(), to: temporary)
        let verified = try run(HostScripts.install(uploaded: temporary, as: helper, in: directory))
        if let error = verified["error"] { throw SessionError.helper("cannot install the helper: \(error)") }
        guard verified["ok"] == "1" else { throw SessionError.helper("could not install the helper") }
    }

    /// Copies `bytes` to `path` through the same `sh -s` (SCP runs through the login shell too, and an rc file that
    /// prints breaks its protocol): the script says it is ready, then `cat` takes the bytes until the channel's end.
    private func upload(_ bytes: [UInt8], to path: String) throws {
        let channel = try connection.openExec(HostScripts.command)
        try channel.writeAll(Array(HostScripts.upload(to: path).utf8))
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        defer { buffer.deallocate() }
        var output: [UInt8] = [], errors: [UInt8] = []
        let marker = Array(HostScripts.uploadMarker.utf8)
        // Nothing is sent before the marker: the shell reading the script may read ahead.
        while !output.split(separator: 0x0A).contains(where: { $0.elementsEqual(marker) }) {
            let got = try channel.read(.stdout, into: buffer)
            output += UnsafeRawBufferPointer(rebasing: buffer[0..<got])
            let gotErrors = try channel.read(.stderr, into: buffer)
            errors += UnsafeRawBufferPointer(rebasing: buffer[0..<gotErrors])
            if got == 0 && gotErrors == 0 {
                if channel.isAtEnd { break }
                _ = try channel.wait()
            }
        }
        try channel.writeAll(bytes)
        try channel.sendEOFWaiting()
        while true {
            let got = try channel.read(.stdout, into: buffer) + channel.read(.stderr, into: buffer)
            // The reads may have taken in the end: look before waiting, or the wait lasts until the next keepalive.
            if got == 0 { if channel.isAtEnd { break }; _ = try channel.wait() }
        }
        let status = try channel.close()
        guard status == .exited(0) else {
            throw SessionError.helper("uploading the helper to \(path) failed (\(status)): \(String(decoding: errors, as: UTF8.self))")
        }
    }

    /// Runs a POSIX sh script (on the stdin of `sh -s`, whatever the user's login shell is) and returns the
    /// `key=value` lines it printed after its marker line (what rc files print before is ignored).
    func run(_ script: String) throws -> [String: String] {
        let out = BufferSink(), err = BufferSink()
        let status = try connection.execute(HostScripts.command, input: Array(script.utf8), stdout: out, stderr: err)
        guard status == .exited(0) else {
            throw SessionError.helper("installing the helper failed: \(String(decoding: err.bytes, as: UTF8.self))")
        }
        let lines = String(decoding: out.bytes, as: UTF8.self).split(separator: "\n")
        var result: [String: String] = [:]
        for line in lines[((lines.lastIndex(of: Substring(HostScripts.factsMarker)) ?? lines.endIndex) + 1)...] {
            guard let equals = line.firstIndex(of: "=") else { continue }
            result[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return result
    }
}
