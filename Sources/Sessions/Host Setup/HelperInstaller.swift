import Foundation
import Logging
import SessionWire
import SSHClient

/// Puts this client's helper on a host: checks that the host can run it (its CPU), prepares the host directory
/// (0700, owned by the user, not writable by others), uploads it compressed (`HelperPackage`) through `sh -s` under
/// a temporary name, unpacks it and verifies size and SHA-256 there, and moves it into place atomically.
struct HelperInstaller {
    let connection: SSHConnection
    let helper: HelperBinary
    let state: ClientState
    let logger: Logger

    func install(notify: (String) -> Void) throws {
        logger.debug("installing \(helper.installedName) on \(connection.settings.alias)")
        let facts = try run(HostScripts.prepare)
        if let error = facts["error"] { throw SessionError.hostUnsupported("host directory: \(error)") }
        if let warning = facts["warn"] { notify(warning) }
        if let problem = HelperBinary.platformProblem(arch: facts["arch"] ?? "?") {
            throw SessionError.hostUnsupported(problem)
        }
        guard let directory = facts["dir"], directory.hasPrefix("/") else {
            throw SessionError.helper("could not find the host directory")
        }
        if let free = facts["free"].flatMap({ Int($0) }), free < helper.spaceNeededKiB {
            throw SessionError.hostUnsupported("host directory \(directory) has \(free) KiB free; the helper needs \(helper.spaceNeededKiB) KiB")
        }

        let temporary = "\(directory)/bin/.upload-\(helper.installedName)-\(UInt32.random(in: 0...UInt32.max))"
        var unpackers = Set((facts["unpack"] ?? "").split(separator: " ").map(String.init))
        while true {
            let package = try HelperPackage.make(helper, unpackers: unpackers, state: state)
            if let free = facts["free"].flatMap({ Int($0) }), free < helper.spaceNeededKiB + package.bytes.count / 1024 {
                throw SessionError.hostUnsupported(
                    "host directory \(directory) has \(free) KiB free; the helper needs \(helper.spaceNeededKiB + package.bytes.count / 1024) KiB while it is unpacked"
                )
            }
            logger.debug("uploading the helper: \(package.bytes.count) bytes (\(package.format.rawValue)) for \(helper.size)")
            try upload(package.bytes, to: package.format == .plain ? temporary : temporary + "." + package.format.rawValue)
            let verified = try run(HostScripts.install(uploaded: temporary, packed: package.format, as: helper, in: directory))
            if verified["ok"] == "1" { return }
            // A package that did not unpack to this helper (an .xz left from another build): the next way, once.
            if package.format == .xz, let error = verified["error"] {
                logger.debug("the .xz beside the helper did not give it (\(error)); sending it another way")
                unpackers.remove("xz")
                continue
            }
            throw SessionError.helper("cannot install the helper: \(verified["error"] ?? "it was not moved into place")")
        }
    }

    /// Copies `bytes` to `path` through the same `sh -s` (SCP runs through the login shell too, and an rc file that
    /// prints breaks its protocol): the script says it is ready, then `cat` takes the bytes until the channel's end.
    private func upload(_ bytes: [UInt8], to path: String) throws {
        let channel = try connection.openExec(HostScripts.command)
        try channel.writeAll(Array(HostScripts.upload(to: path).utf8))
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        defer { buffer.deallocate() }
        var output: [UInt8] = [], errors: [UInt8] = []
        /// Reads both streams; false when nothing was there.
        func take() throws -> Bool {
            let got = try channel.read(.stdout, into: buffer)
            if output.count < Self.preambleLimit { output += UnsafeRawBufferPointer(rebasing: buffer[0..<got]) }
            let gotErrors = try channel.read(.stderr, into: buffer)
            if errors.count < Self.preambleLimit { errors += UnsafeRawBufferPointer(rebasing: buffer[0..<gotErrors]) }
            return got + gotErrors > 0
        }
        // Nothing is sent before the marker: the shell reading the script may read ahead.
        while HostScripts.lines(after: HostScripts.uploadMarker, in: output) == nil {
            if try take() { continue }
            if channel.isAtEnd || output.count >= Self.preambleLimit { break }
            _ = try channel.wait()
        }
        // Written with reads in between: a cat that ended early (a quota, a file size limit) leaves its words on
        // stderr, and the channel's end is seen only once they are read.
        var offset = 0, sent = true
        while offset < bytes.count {
            let written = try bytes[offset...].withUnsafeBytes { try channel.write($0) }
            offset += written
            if try written > 0 || take() { continue }
            if channel.isAtEnd { sent = false; break }
            _ = try channel.wait()
        }
        if sent { try channel.sendEOFWaiting() }
        while true {
            // The reads may have taken in the end: look before waiting, or the wait lasts until the next keepalive.
            if try !take() { if channel.isAtEnd { break }; _ = try channel.wait() }
        }
        let status = try channel.close()
        guard sent, status == .exited(0) else {
            let reason = String(decoding: errors, as: UTF8.self).split(separator: "\n").joined(separator: "; ")
            throw SessionError.hostUnsupported("uploading the helper to \(path) failed (\(status))\(reason.isEmpty ? "" : ": \(reason)")")
        }
    }

    /// The most a host may print where pss expects a few lines (rc files' greetings, facts).
    static let preambleLimit = 1 << 20

    /// Runs a POSIX sh script (on the stdin of `sh -s`, whatever the user's login shell is) and returns the
    /// `key=value` lines it printed after its marker line (what rc files print before is ignored).
    func run(_ script: String) throws -> [String: String] {
        let out = BufferSink(limit: Self.preambleLimit), err = BufferSink(limit: Self.preambleLimit)
        let status = try connection.execute(HostScripts.command, input: Array(script.utf8), stdout: out, stderr: err)
        let errors = String(decoding: err.bytes, as: UTF8.self).split(separator: "\n").joined(separator: "; ")
        guard status == .exited(0) else {
            throw SessionError.helper("pss's script on the host failed (\(status))\(errors.isEmpty ? "" : ": \(errors)")")
        }
        guard let lines = HostScripts.lines(after: HostScripts.factsMarker, in: out.bytes) else {
            throw SessionError.hostUnsupported(
                "the host did not run pss's script (a ForceCommand, or a restricted shell?)"
                    + (errors.isEmpty ? "" : ": \(errors)"))
        }
        var result: [String: String] = [:]
        for line in lines {
            guard let equals = line.firstIndex(of: "=") else { continue }
            result[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return result
    }
}
