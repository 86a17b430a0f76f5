import Foundation
import TestSupport
import XCTest

/// Authentication against a real sshd: agent, key files, passwords, and what fails with a clear message.
final class AuthenticationTests: XCTestCase {
    nonisolated(unsafe) static var server: SSHServer!
    static let passwordUser = "pss-test-pw"
    static let password = "correct horse battery"

    override class func setUp() {
        var options = SSHServer.Options()
        options.passwordAuthentication = true
        server = SSHServer(options)
        LocalAccount.ensure(passwordUser, password: password)
    }

    override class func tearDown() {
        server = nil
        LocalAccount.remove(passwordUser)
    }

    var server: SSHServer { Self.server }

    /// A client configured for alias `h` with the given identity lines (no default key).
    private func client(user: String = "root", identityFiles: [String]? = nil, extra: [String] = []) -> ClientMachine {
        let client = ClientMachine()
        var block = client.hostBlock(alias: "h", server: server, user: user)
        if let identityFiles {
            block = block.filter { !$0.contains("IdentityFile \(client.identityPath)") }
            block += identityFiles.map { "    IdentityFile \($0)" }
        }
        // ssh_config's first value wins: drop the block's own line for any keyword `extra` sets.
        let overridden = Set(extra.compactMap { $0.split(separator: " ").first.map(String.init) })
        block = block.filter { line in !overridden.contains { line.trimmingCharacters(in: .whitespaces).hasPrefix($0 + " ") } }
        client.writeConfig(block + extra.map { "    " + $0 })
        try! (server.knownHostsLine() + "\n").write(toFile: client.knownHostsPath, atomically: true, encoding: .utf8)
        return client
    }

    private func makeKey(_ scratch: Scratch, _ name: String, type: String = "ed25519", passphrase: String = "") -> String {
        let path = scratch.file(name)
        shell("ssh-keygen -q -t \(type) -N '\(passphrase)' -C \(name) -f '\(path)'")
        return path
    }

    func testKeyFileWithoutPassphrase() {
        let client = client()
        server.authorize(client.publicKey)
        let result = client.pss(["invoke", "--host", "h", "--", "whoami"])
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertEqual(result.stdoutText, "root\n")
    }

    func testAgent() {
        let keys = Scratch("agent")
        let key = makeKey(keys, "agent_key")
        server.authorize(keys.read("agent_key.pub"))
        let socket = keys.file("agent.sock")
        shell("ssh-agent -a '\(socket)' > '\(keys.file("agent.env"))'")
        let agentPID = keys.read("agent.env").components(separatedBy: "SSH_AGENT_PID=").last?.prefix(while: \.isNumber) ?? ""
        defer { shell("kill \(agentPID)") }
        shell("SSH_AUTH_SOCK='\(socket)' ssh-add -q '\(key)'")

        // No identity file that the server knows: only the agent's key can succeed.
        let client = client(identityFiles: [], extra: ["IdentitiesOnly no"])
        client.environment["SSH_AUTH_SOCK"] = socket
        let result = client.pss(["invoke", "--host", "h", "--", "echo via-agent"])
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertEqual(result.stdoutText, "via-agent\n")
    }

    func testEncryptedKeyWithoutTerminalFailsAndSaysWhy() {
        let keys = Scratch("enc")
        let key = makeKey(keys, "enc_key", passphrase: "sekrit-phrase")
        server.authorize(keys.read("enc_key.pub"))
        let client = client(identityFiles: [key])
        let result = client.pss(["invoke", "--host", "h", "--", "true"])
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("needs a passphrase and there is no terminal"), result.stderrText)
    }

    func testEncryptedKeyPassphraseAskedOnTerminal() {
        let keys = Scratch("enc-tty")
        let key = makeKey(keys, "enc_key", passphrase: "sekrit-phrase")
        server.authorize(keys.read("enc_key.pub"))
        let client = client(identityFiles: [key])
        let terminal = TmuxTerminal(
            command: "'\(PSSBinary.path)' -F '\(client.configPath)' invoke --host h -- echo unlocked",
            environment: client.baseEnvironment)
        XCTAssertTrue(terminal.waitFor("Enter passphrase for key '\(key)'"), terminal.screen)
        terminal.typeLine("wrong")
        XCTAssertTrue(terminal.waitFor("Bad passphrase"), terminal.screen)
        terminal.typeLine("sekrit-phrase")
        XCTAssertTrue(terminal.waitFor("[exit 0]"), terminal.screen)
        XCTAssertTrue(terminal.screen.contains("unlocked"), terminal.screen)
        XCTAssertFalse(terminal.screen.contains("sekrit-phrase"), "the passphrase was echoed")
    }

    func testPasswordFromFile() {
        let client = client(user: Self.passwordUser, identityFiles: [])
        let file = client.scratch.write("password", Self.password + "\n", mode: 0o600)
        let result = client.pss(["invoke", "--password-file", file, "--host", "h", "--", "whoami"])
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertEqual(result.stdoutText, "\(Self.passwordUser)\n")
    }

    func testWrongPasswordIsRefused() {
        let client = client(user: Self.passwordUser, identityFiles: [])
        let file = client.scratch.write("password", "not it\n", mode: 0o600)
        let result = client.pss(["invoke", "--password-file", file, "--host", "h", "--", "whoami"])
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("Permission denied"), result.stderrText)
        XCTAssertFalse(result.stderrText.contains("not it"), "the password leaked into a message")
    }

    /// A password file others may read is refused before anything is sent (the password is no secret there).
    func testPasswordFileOthersCanReadIsRefused() {
        let client = client(user: Self.passwordUser, identityFiles: [])
        let logins = server.log.components(separatedBy: "password for").count
        for mode in [0o644, 0o640, 0o604, 0o620] {
            let file = client.scratch.write("password-\(mode)", Self.password + "\n", mode: mode)
            let result = client.pss(["invoke", "--password-file", file, "--host", "h", "--", "whoami"])
            XCTAssertEqual(result.status, 64, "\(String(mode, radix: 8)): \(result)")
            XCTAssertTrue(result.stderrText.contains("may be read or written by others"), result.stderrText)
            XCTAssertFalse(result.stderrText.contains(Self.password))
        }
        XCTAssertEqual(server.log.components(separatedBy: "password for").count, logins, "nothing was tried")
    }

    func testNoPasswordWithoutTerminalFailsAtOnce() {
        let client = client(user: Self.passwordUser, identityFiles: [])
        let result = client.pss(["invoke", "--host", "h", "--", "whoami"], limit: 30)
        XCTAssertFalse(result.timedOut)
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("no terminal"), result.stderrText)
    }

    func testKeyboardInteractiveThroughPAM() {
        var options = SSHServer.Options()
        options.keyboardInteractive = true
        let pamServer = SSHServer(options)
        let client = ClientMachine()
        client.writeConfig(
            client.hostBlock(alias: "h", server: pamServer, user: Self.passwordUser)
                .filter { !$0.contains("IdentityFile \(client.identityPath)") })
        try! (pamServer.knownHostsLine() + "\n").write(toFile: client.knownHostsPath, atomically: true, encoding: .utf8)
        let file = client.scratch.write("password", Self.password + "\n", mode: 0o600)
        let result = client.pss(["invoke", "--password-file", file, "--host", "h", "--", "whoami"])
        XCTAssertEqual(result.status, 0, "\(result)\n\(pamServer.log)")
        XCTAssertEqual(result.stdoutText, "\(Self.passwordUser)\n")
    }

    func testRSAKeyFailsWithAnExplanation() {
        let keys = Scratch("rsa")
        let key = makeKey(keys, "rsa_key", type: "rsa")
        server.authorize(keys.read("rsa_key.pub"))
        let client = client(identityFiles: [key])
        let result = client.pss(["invoke", "--host", "h", "--", "true"])
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("RSA keys cannot be used"), result.stderrText)
        XCTAssertTrue(result.stderrText.contains("ed25519"), result.stderrText)
    }

    func testWrongKeyIsRefused() {
        let client = client()  // its key is never authorized
        let result = client.pss(["invoke", "--host", "h", "--", "true"])
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("pss: h: Permission denied (publickey,password) for user "), result.stderrText)
        XCTAssertFalse(result.stderrText.contains("@h: "), "the host is named once, by pss's prefix: \(result.stderrText)")
    }

    func testMissingIdentityFileIsWarnedAboutAndTheNextIsTried() {
        let client = client(identityFiles: ["/nonexistent/id_ed25519"])
        server.authorize(client.publicKey)
        client.writeConfig(
            client.hostBlock(alias: "h", server: server).flatMap {
                $0.contains("IdentityFile") ? ["    IdentityFile /nonexistent/id_ed25519", $0] : [$0]
            })
        let result = client.pss(["invoke", "--host", "h", "--", "echo fine"])
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertTrue(result.stderrText.contains("Identity file /nonexistent/id_ed25519 not accessible"), result.stderrText)
    }

    func testCommandLineIdentityAndLoginName() {
        let client = client(identityFiles: [])
        server.authorize(client.publicKey)
        let result = client.pss(["invoke", "-i", client.identityPath, "-l", "root", "--host", "h", "--", "whoami"])
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertEqual(result.stdoutText, "root\n")
    }

    // MARK: Keys and secrets handled as ssh handles them

    /// A private key of the user's that others may read is ignored, as ssh ignores it.
    func testUnprotectedPrivateKeyIsIgnored() {
        let client = client()
        server.authorize(client.publicKey)
        chmod(client.identityPath, 0o644)
        let result = client.pss(["invoke", "--host", "h", "--", "true"])
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("UNPROTECTED PRIVATE KEY FILE"), result.stderrText)
        XCTAssertTrue(result.stderrText.contains("Permissions 0644 for '\(client.identityPath)' are too open"), result.stderrText)
        chmod(client.identityPath, 0o600)
        XCTAssertEqual(client.pss(["invoke", "--host", "h", "--", "true"]).status, 0)
    }

    /// A server whose keyboard-interactive asks for the password, then for a one-time code (Debian's
    /// pam_google_authenticator, its secret file holding two scratch codes, 12345678 and 87654321).
    private func twoPromptServer() -> SSHServer {
        let secrets = Scratch("otp")
        let secret = secrets.write("ga", "JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n12345678\n87654321\n", mode: 0o600)
        var options = SSHServer.Options()
        options.pamStack = [
            "auth required pam_unix.so", "auth required pam_google_authenticator.so secret=\(secret) user=root",
            "account required pam_unix.so", "session required pam_permit.so", "password required pam_deny.so",
        ]
        let server = SSHServer(options)
        otpSecrets.append(secrets)
        return server
    }

    private var otpSecrets: [Scratch] = []

    override func tearDown() {
        otpSecrets = []  // XCTest keeps test instances alive: their scratch directories go now
        super.tearDown()
    }

    private func passwordClient(for server: SSHServer) -> ClientMachine {
        let client = ClientMachine()
        client.writeConfig(
            client.hostBlock(alias: "h", server: server, user: Self.passwordUser)
                .filter { !$0.contains("IdentityFile \(client.identityPath)") })
        try! (server.knownHostsLine() + "\n").write(toFile: client.knownHostsPath, atomically: true, encoding: .utf8)
        return client
    }

    func testSecondSecretPromptIsNeverAnsweredWithThePassword() {
        let server = twoPromptServer()
        let client = passwordClient(for: server)
        let file = client.scratch.write("password", Self.password + "\n", mode: 0o600)
        let result = client.pss(["invoke", "--password-file", file, "--host", "h", "--", "whoami"])
        XCTAssertEqual(result.status, 255, "\(result)\n\(server.log)")
        XCTAssertTrue(result.stderrText.contains("asked for more than the password"), result.stderrText)
        XCTAssertTrue(result.stderrText.contains("Verification code:"), result.stderrText)
    }

    func testSecondSecretPromptIsAskedOnTheTerminal() {
        let server = twoPromptServer()
        let client = passwordClient(for: server)
        let file = client.scratch.write("password", Self.password + "\n", mode: 0o600)
        let terminal = TmuxTerminal(
            command: "'\(PSSBinary.path)' -F '\(client.configPath)' invoke --password-file '\(file)' --host h -- whoami",
            environment: client.baseEnvironment)
        XCTAssertTrue(terminal.waitFor("Verification code:"), terminal.screen)
        terminal.typeLine("12345678")
        XCTAssertTrue(terminal.waitFor("[exit 0]"), terminal.screen + server.log)
        XCTAssertTrue(terminal.screen.contains(Self.passwordUser), terminal.screen)
        XCTAssertFalse(terminal.screen.contains("12345678"), "the code was echoed")
    }

    /// A stack that asks for the one-time code first: the password is not the answer to it.
    func testOneTimeCodeAskedFirstIsNotAnsweredWithThePassword() {
        let secrets = Scratch("otp-first")
        let secret = secrets.write("ga", "JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n12345678\n", mode: 0o600)
        var options = SSHServer.Options()
        options.pamStack = [
            "auth required pam_google_authenticator.so secret=\(secret) user=root", "auth required pam_unix.so",
            "account required pam_unix.so", "session required pam_permit.so", "password required pam_deny.so",
        ]
        let server = SSHServer(options)
        let client = passwordClient(for: server)
        let file = client.scratch.write("password", Self.password + "\n", mode: 0o600)
        let result = client.pss(["invoke", "--password-file", file, "--host", "h", "--", "whoami"])
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("'Verification code:'"), result.stderrText)
    }

    /// PreferredAuthentications decides what is tried: `publickey` alone never sends a password.
    func testPreferredAuthenticationsIsHonoured() {
        let client = client(user: Self.passwordUser, identityFiles: [], extra: ["PreferredAuthentications publickey"])
        let file = client.scratch.write("password", Self.password + "\n", mode: 0o600)
        let logged = server.log.count
        let result = client.pss(["invoke", "--password-file", file, "--host", "h", "--", "whoami"])
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("Permission denied"), result.stderrText)
        XCTAssertFalse(String(server.log.dropFirst(logged)).contains("password for"), "a password was sent")
        let allowed = client.pss(["-o", "PreferredAuthentications=password", "invoke", "--password-file", file, "--host", "h", "--", "whoami"])
        XCTAssertEqual(allowed.status, 0, "\(allowed)")
        XCTAssertEqual(allowed.stdoutText, "\(Self.passwordUser)\n")
    }

    /// Ctrl-C at a passphrase prompt ends pss with the terminal's echo back on; meanwhile the process can dump no
    /// core.
    func testInterruptedPromptGivesEchoBackAndNoCoreIsDumpedMeanwhile() {
        let keys = Scratch("interrupt")
        let key = makeKey(keys, "enc_key", passphrase: "sekrit-phrase")
        let client = client(identityFiles: [key])
        let marker = "pss-interrupt-\(getpid())"
        // The script survives the Ctrl-C (a trap, not an ignore, which pss would inherit) to report the echo.
        let command =
            "trap : INT; '\(PSSBinary.path)' -F '\(client.configPath)' invoke --host h -- echo \(marker); "
            + "if stty -a | grep -q -- ' -echo '; then echo ECHO-OFF; else echo ECHO-ON; fi"
        let terminal = TmuxTerminal(command: command, environment: client.baseEnvironment)
        XCTAssertTrue(terminal.waitFor("Enter passphrase for key"), terminal.screen)
        let pid =
            ProcessRunner.run("/usr/bin/pgrep", ["-f", "invoke --host h -- echo \(marker)"]).stdoutText
            .split(separator: "\n").first.map(String.init) ?? ""
        let limits = (try? String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)) ?? ""
        let coreLine = limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") } ?? ""
        XCTAssertEqual(
            coreLine.split(separator: " ", omittingEmptySubsequences: true).dropFirst(4).prefix(2), ["0", "0"],
            "core dumps are off while a passphrase is asked for: \(coreLine)")
        terminal.press("C-c")
        XCTAssertTrue(terminal.waitFor("ECHO-"), terminal.screen)
        XCTAssertTrue(terminal.screen.contains("ECHO-ON"), terminal.screen)
    }

    /// The password is not kept: while the command runs, pss's memory holds it nowhere (libssh2's buffers are
    /// wiped when freed; the file is read again if a reconnection needs it).
    func testPasswordIsNotInMemoryWhileTheCommandRuns() throws {
        let client = client(user: Self.passwordUser, identityFiles: [])
        let file = client.scratch.write("password", Self.password + "\n", mode: 0o600)
        let output = client.scratch.file("output")
        let process = try ProcessRunner.start(
            PSSBinary.path,
            [
                "-F", client.configPath, "invoke", "--password-file", file,
                "--host", "h", "--", "echo started; sleep 30",
            ],
            environment: client.baseEnvironment, stdoutFile: output)
        defer { process.signal(SIGKILL); _ = process.wait(limit: 10) }
        XCTAssertTrue(Processes.waitUntil { client.scratch.read("output").contains("started") })
        XCTAssertNotEqual(
            MemoryScan.contains(pid: process.pid, Array("echo started; sleep 30".utf8)), [],
            "the scan reads pss's memory (it finds the command)")
        let found = MemoryScan.contains(pid: process.pid, Array(Self.password.utf8))
        XCTAssertEqual(found, [], "the password is in pss's memory at \(found)")
    }
}
