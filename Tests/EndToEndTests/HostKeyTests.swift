import Foundation
import TestSupport
import XCTest

/// Host keys against known_hosts, for each StrictHostKeyChecking policy.
final class HostKeyTests: XCTestCase {
    nonisolated(unsafe) static var server: SSHServer!

    override class func setUp() {
        var options = SSHServer.Options()
        options.hostKeyTypes = ["ed25519", "ecdsa"]
        server = SSHServer(options)
    }

    override class func tearDown() { server = nil }

    var server: SSHServer { Self.server }

    /// A client whose known_hosts holds `knownHosts` and whose alias uses `policy`.
    private func client(knownHosts: [String], policy: String) -> ClientMachine {
        let client = ClientMachine()
        server.authorize(client.publicKey)
        client.writeConfig(
            client.hostBlock(alias: "h", server: server)
                .map { $0.contains("StrictHostKeyChecking") ? "    StrictHostKeyChecking \(policy)" : $0 })
        try! knownHosts.map { $0 + "\n" }.joined().write(toFile: client.knownHostsPath, atomically: true, encoding: .utf8)
        return client
    }

    private func run(_ client: ClientMachine) -> ProcessResult {
        client.pss(["invoke", "--host", "h", "--", "echo connected"])
    }

    func testKnownKeyIsAccepted() {
        let result = run(client(knownHosts: [server.knownHostsLine("ed25519")], policy: "yes"))
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertEqual(result.stdoutText, "connected\n")
    }

    func testHostKnownOnlyByItsSecondKeyType() {
        // OpenSSH's client records the type it negotiated; pss must ask for that type, not refuse.
        let result = run(client(knownHosts: [server.knownHostsLine("ecdsa")], policy: "yes"))
        XCTAssertEqual(result.status, 0, "\(result)")
    }

    func testHostWithSeveralKnownKeyTypes() {
        let result = run(client(knownHosts: [server.knownHostsLine("ecdsa"), server.knownHostsLine("ed25519")], policy: "yes"))
        XCTAssertEqual(result.status, 0, "\(result)")
    }

    func testHashedEntryIsAccepted() {
        let client = client(knownHosts: [server.knownHostsLine("ed25519")], policy: "yes")
        shell("ssh-keygen -q -H -f '\(client.knownHostsPath)' && rm -f '\(client.knownHostsPath).old'")
        XCTAssertTrue(client.scratch.read("home/.ssh/known_hosts").hasPrefix("|1|"))
        let result = run(client)
        XCTAssertEqual(result.status, 0, "\(result)")
    }

    func testUnknownKeyIsRefusedWithYes() {
        let client = client(knownHosts: [], policy: "yes")
        let result = run(client)
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("Host key verification failed"), result.stderrText)
        XCTAssertTrue(result.stderrText.contains("SHA256:"), result.stderrText)
        XCTAssertEqual(client.scratch.read("home/.ssh/known_hosts"), "")
    }

    func testUnknownKeyWithAskAndNoTerminalIsRefusedWithoutPrompting() {
        let result = run(client(knownHosts: [], policy: "ask"))
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("no terminal"), result.stderrText)
        XCTAssertFalse(result.timedOut)
    }

    func testAcceptNewAddsTheKeyAndThenRequiresIt() {
        let client = client(knownHosts: [], policy: "accept-new")
        let first = run(client)
        XCTAssertEqual(first.status, 0, "\(first)")
        XCTAssertTrue(first.stderrText.contains("Permanently added"), first.stderrText)
        let recorded = client.scratch.read("home/.ssh/known_hosts")
        XCTAssertTrue(recorded.contains("[127.0.0.1]:\(server.port) ssh-ed25519 "), recorded)

        // Now recorded: the same key passes under `yes`.
        client.writeConfig(client.hostBlock(alias: "h", server: server))
        XCTAssertEqual(run(client).status, 0)
    }

    func testNoAddsTheKey() {
        let client = client(knownHosts: [], policy: "no")
        XCTAssertEqual(run(client).status, 0)
        XCTAssertTrue(client.scratch.read("home/.ssh/known_hosts").contains("ssh-ed25519"))
    }

    func testChangedKeyIsRefusedUnderEveryPolicyAndNamesTheLine() {
        let impostor = Scratch("impostor")
        shell("ssh-keygen -q -t ed25519 -N '' -f '\(impostor.file("key"))'")
        let wrongKey = impostor.read("key.pub").split(separator: " ").prefix(2).joined(separator: " ")
        let knownHosts = [
            "# a comment", "other.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherOtherOtherOtherOtherOtherOtherOtherO",
            "[127.0.0.1]:\(server.port) \(wrongKey)",
        ]
        for policy in ["yes", "ask", "accept-new", "no"] {
            let client = client(knownHosts: knownHosts, policy: policy)
            let result = run(client)
            XCTAssertEqual(result.status, 255, "\(policy): \(result)")
            XCTAssertTrue(result.stderrText.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"), "\(policy): \(result.stderrText)")
            XCTAssertTrue(result.stderrText.contains("\(client.knownHostsPath):3"), "\(policy): \(result.stderrText)")
            XCTAssertFalse(result.stdoutText.contains("connected"))
        }
    }

    func testAskOnATerminalAddsTheKeyWhenTheUserSaysYes() {
        let client = client(knownHosts: [], policy: "ask")
        let terminal = TmuxTerminal(
            command: "'\(PSSBinary.path)' -F '\(client.configPath)' invoke --host h -- echo connected",
            environment: client.baseEnvironment)
        XCTAssertTrue(terminal.waitFor("Are you sure you want to continue connecting"), terminal.screen)
        XCTAssertTrue(terminal.screen.contains("ED25519 key fingerprint is SHA256:"), terminal.screen)
        terminal.typeLine("yes")
        XCTAssertTrue(terminal.waitFor("[exit 0]"), terminal.screen)
        XCTAssertTrue(terminal.screen.contains("connected"), terminal.screen)
        XCTAssertTrue(client.scratch.read("home/.ssh/known_hosts").contains("ssh-ed25519"))
    }

    func testAskOnATerminalRefusesWhenTheUserSaysNo() {
        let client = client(knownHosts: [], policy: "ask")
        let terminal = TmuxTerminal(
            command: "'\(PSSBinary.path)' -F '\(client.configPath)' invoke --host h -- echo connected",
            environment: client.baseEnvironment)
        XCTAssertTrue(terminal.waitFor("Are you sure you want to continue connecting"), terminal.screen)
        terminal.typeLine("no")
        XCTAssertTrue(terminal.waitFor("[exit 255]"), terminal.screen)
        XCTAssertEqual(client.scratch.read("home/.ssh/known_hosts"), "")
    }

    // MARK: As strict as OpenSSH

    /// known_hosts holds another key type for the host than the one it offers: the identity changed, under every
    /// policy (it was accepted as new), and nothing is added.
    func testAnotherKeyTypeForTheHostIsAChangedKey() {
        var options = SSHServer.Options()
        options.hostKeyTypes = ["ed25519"]
        let edOnly = SSHServer(options)
        let impostor = Scratch("other-type")
        shell("ssh-keygen -q -t ecdsa -N '' -f '\(impostor.file("key"))'")
        let ecdsa = impostor.read("key.pub").split(separator: " ").prefix(2).joined(separator: " ")
        for policy in ["yes", "ask", "accept-new", "no"] {
            let client = ClientMachine()
            edOnly.authorize(client.publicKey)
            client.writeConfig(
                client.hostBlock(alias: "h", server: edOnly)
                    .map { $0.contains("StrictHostKeyChecking") ? "    StrictHostKeyChecking \(policy)" : $0 })
            let knownHosts = "[127.0.0.1]:\(edOnly.port) \(ecdsa)\n"
            try! knownHosts.write(toFile: client.knownHostsPath, atomically: true, encoding: .utf8)
            let result = run(client)
            XCTAssertEqual(result.status, 255, "\(policy): \(result)")
            XCTAssertTrue(result.stderrText.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"), "\(policy): \(result.stderrText)")
            XCTAssertTrue(result.stderrText.contains("Offending ECDSA key in \(client.knownHostsPath):1"), "\(policy): \(result.stderrText)")
            XCTAssertEqual(client.scratch.read("home/.ssh/known_hosts"), knownHosts, "\(policy): nothing may be added")
        }
    }

    /// Host names compare without case, in HostName, in known_hosts and in hashed entries.
    func testNamesCompareWithoutCase() {
        let plain = client(knownHosts: ["[LOCALHOST]:\(server.port) \(server.hostPublicKey())"], policy: "yes")
        plain.writeConfig(plain.hostBlock(alias: "h", server: server).map { $0.contains("HostName") ? "    HostName LocalHost" : $0 })
        XCTAssertEqual(run(plain).status, 0, "\(run(plain))")

        let hashed = client(knownHosts: ["[localhost]:\(server.port) \(server.hostPublicKey())"], policy: "yes")
        shell("ssh-keygen -q -H -f '\(hashed.knownHostsPath)' && rm -f '\(hashed.knownHostsPath).old'")
        hashed.writeConfig(hashed.hostBlock(alias: "h", server: server).map { $0.contains("HostName") ? "    HostName LOCALhost" : $0 })
        XCTAssertEqual(run(hashed).status, 0, "\(run(hashed))")
    }

    /// known_hosts is read as bytes, line by line (CRLF too), with ssh's patterns: a byte that is not UTF-8, or a
    /// line pss cannot read, hides nothing else.
    func testKnownHostsIsReadAsSSHReadsIt() {
        let client = client(knownHosts: [], policy: "yes")
        let bytes: [UInt8] =
            Array("# caf".utf8) + [0xE9, 0xFF, 0x0D, 0x0A] + Array("garbage line\r\n".utf8)
            + Array("other.example,[127.0.0.*]:\(server.port) \(server.hostPublicKey())\r\n".utf8)
        XCTAssertTrue(FileManager.default.createFile(atPath: client.knownHostsPath, contents: Data(bytes)))
        let result = run(client)
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertEqual(result.stdoutText, "connected\n")
    }

    func testNegatedPatternExcludesTheHost() {
        let client = client(knownHosts: ["[127.0.0.*]:\(server.port),![127.0.0.1]:\(server.port) \(server.hostPublicKey())"], policy: "yes")
        let result = run(client)
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("No host key is known"), result.stderrText)
    }

    /// A key marked @revoked is refused under every policy, even when also listed as the host's.
    func testRevokedKeyIsRefused() {
        for policy in ["yes", "no"] {
            let client = client(knownHosts: ["@revoked * \(server.hostPublicKey())", server.knownHostsLine()], policy: policy)
            let result = run(client)
            XCTAssertEqual(result.status, 255, "\(policy): \(result)")
            XCTAssertTrue(result.stderrText.contains("REVOKED HOST KEY DETECTED"), "\(policy): \(result.stderrText)")
            XCTAssertTrue(result.stderrText.contains("\(client.knownHostsPath):1"), result.stderrText)
            XCTAssertFalse(result.stdoutText.contains("connected"))
        }
    }

    func testCertificateAuthorityIsReportedAsUnsupported() {
        let client = client(knownHosts: ["@cert-authority [127.0.0.1]:* \(server.hostPublicKey("ecdsa"))"], policy: "yes")
        let result = run(client)
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("@cert-authority"), result.stderrText)
        XCTAssertTrue(result.stderrText.contains("no host certificates"), result.stderrText)
        XCTAssertTrue(result.stderrText.contains("\(client.knownHostsPath):1"), result.stderrText)
    }

    /// HostKeyAlias: the key is looked up, and recorded, under the alias (without a port), as ssh does.
    func testHostKeyAlias() {
        let known = client(knownHosts: ["shared-vip \(server.hostPublicKey())"], policy: "yes")
        known.writeConfig(known.hostBlock(alias: "h", server: server) + ["    HostKeyAlias Shared-VIP"])
        XCTAssertEqual(run(known).status, 0, "\(run(known))")

        let fresh = client(knownHosts: [], policy: "accept-new")
        fresh.writeConfig(
            fresh.hostBlock(alias: "h", server: server).map { $0.contains("StrictHostKeyChecking") ? "    StrictHostKeyChecking accept-new" : $0 }
                + ["    HostKeyAlias Pinned-Name"])
        XCTAssertEqual(run(fresh).status, 0)
        XCTAssertTrue(fresh.scratch.read("home/.ssh/known_hosts").hasPrefix("pinned-name ssh-ed25519 "), fresh.scratch.read("home/.ssh/known_hosts"))
    }

    /// HashKnownHosts yes (Debian's /etc/ssh/ssh_config sets it): new keys are recorded under hashed names that
    /// ssh itself finds.
    func testHashKnownHostsRecordsHashedNames() {
        let client = client(knownHosts: [], policy: "accept-new")
        client.writeConfig(
            client.hostBlock(alias: "h", server: server).map { $0.contains("StrictHostKeyChecking") ? "    StrictHostKeyChecking accept-new" : $0 }
                + ["    HashKnownHosts yes"])
        XCTAssertEqual(run(client).status, 0)
        let recorded = client.scratch.read("home/.ssh/known_hosts")
        XCTAssertTrue(recorded.hasPrefix("|1|"), recorded)
        XCTAssertFalse(recorded.contains("127.0.0.1"))
        let found = ProcessRunner.run("/usr/bin/ssh-keygen", ["-F", "[127.0.0.1]:\(server.port)", "-f", client.knownHostsPath])
        XCTAssertEqual(found.status, 0, "\(found)")
        client.writeConfig(client.hostBlock(alias: "h", server: server))
        XCTAssertEqual(run(client).status, 0, "the hashed entry is found under StrictHostKeyChecking yes")
    }

    /// A host known only by its RSA key, which libssh2 1.10 cannot verify: refused (another key was offered), and
    /// the message says this is not proof of a change, and how to check.
    func testHostKnownOnlyByRSAIsRefusedWithTheReason() {
        var options = SSHServer.Options()
        options.hostKeyTypes = ["rsa", "ed25519"]
        let server = SSHServer(options)
        let client = ClientMachine()
        server.authorize(client.publicKey)
        client.writeConfig(client.hostBlock(alias: "h", server: server))
        try! (server.knownHostsLine("rsa") + "\n").write(toFile: client.knownHostsPath, atomically: true, encoding: .utf8)
        let result = run(client)
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("known only by ssh-rsa keys, which pss cannot verify"), result.stderrText)
        XCTAssertTrue(result.stderrText.contains("this is not proof that the host changed"), result.stderrText)
    }

    /// RevokedHostKeys as ssh: a key listed there is refused; a file that cannot be read, or a KRL pss cannot read,
    /// refuses every key.
    func testRevokedHostKeysFile() {
        let client = client(knownHosts: [server.knownHostsLine()], policy: "yes")
        let listed = client.scratch.write("revoked", "# revoked keys\n\(server.hostPublicKey()) old host\n")
        let krl = client.scratch.write("revoked.krl", "SSHKRL\n\u{0}binary")
        let other = client.scratch.write("other", "\(server.hostPublicKey("ecdsa"))\n")
        let withRevoked = { (file: String) in
            client.writeConfig(client.hostBlock(alias: "h", server: self.server) + ["    RevokedHostKeys \(file)"])
        }
        for (file, message) in [
            (listed, "REVOKED HOST KEY DETECTED"), (client.scratch.file("missing"), "cannot be read"),
            (krl, "Key Revocation List"),
        ] {
            withRevoked(file)
            let result = run(client)
            XCTAssertEqual(result.status, 255, "\(file): \(result)")
            XCTAssertTrue(result.stderrText.contains(message), "\(file): \(result.stderrText)")
        }
        withRevoked(other)
        XCTAssertEqual(run(client).status, 0)
    }

    /// KnownHostsCommand, which would decide trust without pss, refuses the connection; a ProxyCommand is the way
    /// in, never ignored (one that fails fails the connection, rather than pss connecting directly).
    func testKnownHostsCommandIsRefusedAndProxyCommandIsNeverIgnored() {
        let client = client(knownHosts: [server.knownHostsLine()], policy: "yes")
        for (line, message) in [("KnownHostsCommand /bin/true %H", "not supported"), ("ProxyCommand false", "closed the connection")] {
            client.writeConfig(client.hostBlock(alias: "h", server: server) + ["    " + line])
            let result = run(client)
            XCTAssertEqual(result.status, 255, "\(line): \(result)")
            XCTAssertTrue(result.stderrText.contains(message), result.stderrText)
            XCTAssertFalse(result.stdoutText.contains("connected"))
        }
        client.writeConfig(client.hostBlock(alias: "h", server: server) + ["    ProxyCommand none"])
        XCTAssertEqual(run(client).status, 0)
    }

    // MARK: ssh_config as ssh reads it

    /// `Match host` tests the HostName, so a block for 127.0.0.1 applies to an alias that points there: here it
    /// pins an empty known_hosts, and the connection is refused. (Tested against the alias, it never applied.)
    func testMatchHostTestsTheHostName() {
        let client = client(knownHosts: [server.knownHostsLine()], policy: "yes")
        let empty = client.scratch.write("empty_known_hosts", "")
        client.writeConfig(
            ["Host h", "    HostName 127.0.0.1", "Match host 127.0.0.1", "    UserKnownHostsFile \(empty)"]
                + client.hostBlock(alias: "h", server: server))
        let result = run(client)
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("No host key is known"), result.stderrText)
    }

    /// A `Match user` block's security options apply (they were skipped, with accept-new left to add the key).
    func testMatchUserBlockApplies() {
        let client = client(knownHosts: [], policy: "accept-new")
        client.writeConfig(
            ["Match user root", "    StrictHostKeyChecking yes"]
                + client.hostBlock(alias: "h", server: server).map { $0.contains("StrictHostKeyChecking") ? "    StrictHostKeyChecking accept-new" : $0 })
        let result = run(client)
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("StrictHostKeyChecking is yes"), result.stderrText)
        XCTAssertEqual(client.scratch.read("home/.ssh/known_hosts"), "")
    }

    func testUnsupportedMatchCriterionRefusesTheFile() {
        let client = client(knownHosts: [server.knownHostsLine()], policy: "yes")
        client.writeConfig(["Match tagged prod", "    StrictHostKeyChecking no"] + client.hostBlock(alias: "h", server: server))
        let result = run(client)
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("\(client.configPath) line 1"), result.stderrText)
    }

    /// ~/.ssh/config that group or others may write is refused, as ssh refuses it.
    func testUserConfigOthersCanWriteIsRefused() {
        let client = client(knownHosts: [server.knownHostsLine()], policy: "yes")
        XCTAssertEqual(client.pssRaw(["invoke", "--host", "h", "--", "true"]).status, 0)
        chmod(client.configPath, 0o664)
        let result = client.pssRaw(["invoke", "--host", "h", "--", "true"])
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("Bad owner or permissions on \(client.configPath)"), result.stderrText)
    }

    /// A config written with CRLF line ends reads line by line (it collapsed into one line).
    func testCRLFConfig() {
        let client = client(knownHosts: [server.knownHostsLine()], policy: "yes")
        let text = client.hostBlock(alias: "h", server: server).joined(separator: "\r\n") + "\r\n"
        try! text.write(toFile: client.configPath, atomically: true, encoding: .utf8)
        XCTAssertEqual(run(client).status, 0, "\(run(client))")
    }
}

/// The algorithms offered are OpenSSH 9's defaults: a server that only speaks legacy ones is refused unless the
/// user allows them, with `+` lists as in ssh.
final class AlgorithmNegotiationTests: XCTestCase {
    func testLegacyAlgorithmsOnlyWhenAskedFor() {
        var options = SSHServer.Options()
        options.extraConfig = ["Ciphers 3des-cbc", "MACs hmac-md5", "KexAlgorithms diffie-hellman-group14-sha1"]
        let legacy = SSHServer(options)
        let client = ClientMachine(servers: ["h": legacy])
        let refused = client.pss(["invoke", "--host", "h", "--", "echo connected"])
        XCTAssertEqual(refused.status, 255, "\(refused)")
        XCTAssertTrue(refused.stderrText.contains("no algorithm in common"), refused.stderrText)
        XCTAssertTrue(refused.stderrText.contains("Ciphers=+NAME"), refused.stderrText)
        XCTAssertFalse(refused.stderrText.contains("3des-cbc"), "3des-cbc was offered: \(refused.stderrText)")

        let allowed = client.pss([
            "-v", "-o", "Ciphers=+3des-cbc", "-o", "MACs=+hmac-md5", "-o", "KexAlgorithms=+diffie-hellman-group14-sha1",
            "invoke", "--host", "h", "--", "echo connected",
        ])
        XCTAssertEqual(allowed.status, 0, "\(allowed)")
        XCTAssertEqual(allowed.stdoutText, "connected\n")
        XCTAssertTrue(allowed.stderrText.contains("cipher 3des-cbc"), allowed.stderrText)
    }

    func testAlgorithmLibssh2LacksIsSaidPlainly() {
        let server = SSHServer()
        let client = ClientMachine(servers: ["h": server])
        let result = client.pss(["-o", "Ciphers=chacha20-poly1305@openssh.com", "invoke", "--host", "h", "--", "true"])
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("none of the Ciphers asked for"), result.stderrText)
        XCTAssertTrue(result.stderrText.contains("aes128-ctr"), result.stderrText)
    }
}
