import CLibSSH2
import Foundation
import Glibc

/// Authenticates a connection in ssh's order: public keys (agent, then identity files), keyboard-interactive,
/// password. Without a terminal it never prompts; what it could not try is said in the failure's hints.
struct Authenticator {
    let connection: SSHConnection
    let credentials: Credentials
    let prompter: Prompter

    private var settings: ConnectionSettings { connection.settings }
    private var session: OpaquePointer { connection.session }
    private var user: String { settings.user }
    /// Each network round of authentication gets this long.
    private var stepDeadline: Deadline { .after(seconds: Double(settings.connectTimeout)) }

    private static let rsaHint =
        "RSA keys cannot be used: libssh2 1.10 signs only with ssh-rsa (SHA-1), which OpenSSH 8.8 and later refuse. Use an ed25519 or ECDSA key (ssh-keygen -t ed25519)."

    func authenticate() throws {
        let offered = try offeredMethods()
        guard !isAuthenticated else {
            connection.report.authentication = "none (the server asked for nothing)"
            return
        }
        var hints: [String] = []
        // PreferredAuthentications decides which methods are tried, and in what order (public keys, or the
        // password methods, first); a method it leaves out is never tried.
        let preferred = settings.preferredAuthentications
        let publicKeys = settings.pubkeyAuthentication && offered.contains("publickey") && preferred.contains("publickey")
        let passwordMethods = preferred.filter {
            offered.contains($0)
                && (($0 == "keyboard-interactive" && settings.kbdInteractiveAuthentication)
                    || ($0 == "password" && settings.passwordAuthentication))
        }
        let publicKeysFirst = (preferred.firstIndex(of: "publickey") ?? .max) < (passwordMethods.first.flatMap(preferred.firstIndex) ?? .max)
        for phase in publicKeysFirst ? [true, false] : [false, true] {
            if phase, publicKeys {
                if try authenticateWithAgent(hints: &hints) { return }
                if try authenticateWithIdentityFiles(hints: &hints) { return }
            }
            if !phase, !passwordMethods.isEmpty {
                if try authenticateWithPassword(methods: passwordMethods, hints: &hints) { return }
            }
        }
        throw SSHError.authenticationFailed(user: user, host: settings.alias, methods: offered, hints: hints)
    }

    private var isAuthenticated: Bool { libssh2_userauth_authenticated(session) != 0 }

    private func offeredMethods() throws -> [String] {
        let deadline = stepDeadline
        while true {
            if let list = libssh2_userauth_list(session, user, UInt32(user.utf8.count)) {
                return String(cString: list).split(separator: ",").map(String.init)
            }
            let status = libssh2_session_last_errno(session)
            if status == LIBSSH2_ERROR_EAGAIN {
                try connection.waitForSocket("authentication", deadline: deadline)
            } else if isAuthenticated {
                return []  // the server accepted "none"
            } else {
                throw connection.failure("asking which authentication methods are allowed", status)
            }
        }
    }

    // MARK: Public keys

    private func authenticateWithAgent(hints: inout [String]) throws -> Bool {
        if settings.identityAgent?.lowercased() == "none" { return false }
        if settings.identityAgent == nil, getenv("SSH_AUTH_SOCK") == nil { return false }
        guard let agent = libssh2_agent_init(session) else { return false }
        defer { libssh2_agent_free(agent) }
        if let path = settings.identityAgent {
            libssh2_agent_set_identity_path(agent, path)
        }
        guard libssh2_agent_connect(agent) == 0 else {
            connection.logger.debug("ssh-agent: cannot connect: \(connection.lastErrorMessage())")
            return false
        }
        defer { libssh2_agent_disconnect(agent) }
        guard libssh2_agent_list_identities(agent) == 0 else { return false }

        // With IdentitiesOnly, only agent keys that match a configured identity are offered.
        let allowedBlobs = settings.identitiesOnly ? Set(settings.identityFiles.compactMap { publicKeyBlob(of: $0.path) }) : nil
        var identity: UnsafeMutablePointer<libssh2_agent_publickey>?
        var previous: UnsafeMutablePointer<libssh2_agent_publickey>?
        while libssh2_agent_get_identity(agent, &identity, previous) == 0, let current = identity {
            previous = current
            let blob = Array(UnsafeBufferPointer(start: current.pointee.blob, count: current.pointee.blob_len))
            if let allowedBlobs, !allowedBlobs.contains(blob) { continue }
            let comment = current.pointee.comment.map { String(cString: $0) } ?? "agent key"
            let status = try connection.retry("agent authentication", deadline: stepDeadline) {
                libssh2_agent_userauth(agent, user, current)
            }
            if status == 0 {
                connection.logger.debug("authenticated with agent key \(comment)")
                connection.report.authentication = "publickey, agent key \(comment)"
                return true
            }
            connection.logger.debug("agent key \(comment) refused")
            if HostKey.typeName(ofBlob: blob) == "ssh-rsa", !hints.contains(Self.rsaHint) { hints.append(Self.rsaHint) }
        }
        return false
    }

    private func authenticateWithIdentityFiles(hints: inout [String]) throws -> Bool {
        for identity in settings.identityFiles {
            // The key is read into memory pss wipes, and handed to libssh2 from there (not through its stdio).
            guard let contents = Secret.contents(ofFile: identity.path) else {
                if identity.isExplicit {
                    prompter.inform("Warning: Identity file \(identity.path) not accessible: \(String(cString: strerror(errno))).")
                }
                continue
            }
            // As ssh: a key of the user's that others may read is not used.
            if let mode = FileSafety.unprotectedKeyMode(identity.path) {
                prompter.inform(
                    """
                    @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
                    @         WARNING: UNPROTECTED PRIVATE KEY FILE!          @
                    @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
                    Permissions 0\(String(mode, radix: 8)) for '\(identity.path)' are too open.
                    It is required that your private key files are NOT accessible by others.
                    This private key will be ignored.
                    """)
                hints.append("The key \(identity.path) was ignored: others may read it (chmod 600 \(identity.path)).")
                continue
            }
            let key = contents.withBytes(PrivateKeyFile.init(bytes:))
            if key?.kind == .rsa, !hints.contains(Self.rsaHint) { hints.append(Self.rsaHint) }

            if key?.isEncrypted == true {
                guard prompter.isAvailable else {
                    hints.append("The key \(identity.path) needs a passphrase and there is no terminal to ask for it; add it to ssh-agent (ssh-add) instead.")
                    continue
                }
                passphrases: for _ in 0..<3 {
                    guard let passphrase = prompter.readSecret("Enter passphrase for key '\(identity.path)': ") else { break }
                    switch try tryKey(contents, path: identity.path, passphrase: passphrase) {
                    case .accepted: return true
                    case .refused: break passphrases
                    case .unreadable: prompter.inform("Bad passphrase, try again for \(identity.path).")
                    }
                }
            } else if try tryKey(contents, path: identity.path, passphrase: nil) == .accepted {
                return true
            }
        }
        return false
    }

    private enum KeyAttempt { case accepted, refused, unreadable }

    private func tryKey(_ contents: Secret, path: String, passphrase: Secret?) throws -> KeyAttempt {
        let status = try connection.retry("public key authentication", deadline: stepDeadline) {
            contents.withCString { key in
                let attempt = { (phrase: UnsafePointer<CChar>?) in
                    libssh2_userauth_publickey_frommemory(session, user, user.utf8.count, nil, 0, key, contents.count, phrase)
                }
                return passphrase.map { $0.withCString(attempt) } ?? attempt(nil)
            }
        }
        switch status {
        case 0:
            connection.logger.debug("authenticated with \(path)")
            connection.report.authentication = "publickey, \(path)"
            return .accepted
        case LIBSSH2_ERROR_FILE, LIBSSH2_ERROR_KEYFILE_AUTH_FAILED:  // a wrong passphrase, from a file or from memory
            connection.logger.debug("\(path): \(connection.lastErrorMessage())")
            return .unreadable
        case LIBSSH2_ERROR_SOCKET_DISCONNECT, LIBSSH2_ERROR_SOCKET_RECV, LIBSSH2_ERROR_SOCKET_SEND:
            throw connection.lost(status)
        default:
            connection.logger.debug("\(path) refused: \(connection.lastErrorMessage())")
            return .refused
        }
    }

    /// The blob of `path.pub`, to match agent keys against configured identities.
    private func publicKeyBlob(of path: String) -> [UInt8]? {
        guard let text = try? String(contentsOfFile: path + ".pub", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count >= 2, let data = Data(base64Encoded: String(fields[1])) else { return nil }
        return [UInt8](data)
    }

    // MARK: Passwords

    private func authenticateWithPassword(methods: [String], hints: inout [String]) throws -> Bool {
        let given = try credentials.password()
        if given == nil, !prompter.isAvailable {
            hints.append("No password was tried: there is no terminal to ask for one (use --password-file FILE, or a key).")
            return false
        }
        var unanswered: [String] = []
        defer {
            if !unanswered.isEmpty {
                hints.append(
                    "The server asked for more than the password (\(unanswered.map { "'\($0.sanitizedForDisplay)'" }.joined(separator: ", "))), and there is no terminal to answer; pss never answers a second prompt with the password."
                )
            }
        }
        for attempt in 0..<3 {
            let password: Secret
            if let given {
                guard attempt == 0 else { break }
                password = given
            } else if let typed = prompter.readSecret("\(user)@\(settings.alias)'s password: ") {
                password = typed
            } else {
                break
            }
            for method in methods {
                if method == "keyboard-interactive", try keyboardInteractive(password: password, unanswered: &unanswered) {
                    connection.report.authentication = "keyboard-interactive"
                    return true
                }
                if method == "password", try plainPassword(password) {
                    connection.report.authentication = "password"
                    return true
                }
            }
            if prompter.isAvailable, given == nil { prompter.inform("Permission denied, please try again.") }
        }
        return false
    }

    private func plainPassword(_ password: Secret) throws -> Bool {
        let status = try connection.retry("password authentication", deadline: stepDeadline) {
            password.withCString {
                libssh2_userauth_password_ex(session, user, UInt32(user.utf8.count), $0, UInt32(password.count), nil)
            }
        }
        return status == 0
    }

    private func keyboardInteractive(password: Secret, unanswered: inout [String]) throws -> Bool {
        let answers = KeyboardInteractiveAnswers(password: password, prompter: prompter)
        connection.callbacks.keyboardInteractive = answers
        defer {
            connection.callbacks.keyboardInteractive = nil
            unanswered += answers.unanswered
        }
        let status = try connection.retry("keyboard-interactive authentication", deadline: stepDeadline) {
            libssh2_userauth_keyboard_interactive_ex(session, user, UInt32(user.utf8.count), answerPrompts)
        }
        return status == 0
    }
}

/// The answers of one keyboard-interactive exchange: the password goes to the first prompt that does not echo and
/// asks for a password, and only to it. Any other prompt (a one-time code before or after it, a second factor, a
/// second password) is asked on the terminal with the server's words, or, without a terminal, answered empty and
/// reported.
final class KeyboardInteractiveAnswers {
    private let password: Secret
    private let prompter: Prompter
    private var passwordGiven = false
    private(set) var unanswered: [String] = []

    init(password: Secret, prompter: Prompter) {
        self.password = password
        self.prompter = prompter
    }

    /// Words for "password" in the prompts PAM and sshd send (lower case).
    static let passwordWords = [
        "password", "passphrase", "passwort", "kennwort", "mot de passe", "contraseña", "senha",
        "parola", "wachtwoord", "lösenord", "hasło", "heslo", "salasana", "jelszó", "passord",
        "adgangskode", "lozinka", "geslo", "şifre", "parool", "κωδικός", "пароль", "密码", "密碼",
        "パスワード", "암호", "비밀번호",
    ]
    /// Words of one-time and second-factor prompts ("One-time password (OATH)", "Verification code", "PIN"): such a
    /// prompt never gets the password, whatever else it says.
    static let codeWords = [
        "one-time", "one time", "otp", "oath", "code", "token", "passcode", "pin", "verification",
        "second factor", "2fa", "yubikey", "duo",
    ]

    static func asksForPassword(_ prompt: String) -> Bool {
        let lowered = prompt.lowercased()
        return passwordWords.contains { lowered.contains($0) } && !codeWords.contains { lowered.contains($0) }
    }

    func answer(_ prompt: String, echo: Bool, heading: String) -> Secret {
        if !echo && !passwordGiven && Self.asksForPassword(prompt) {
            passwordGiven = true
            return password
        }
        if prompter.isAvailable {
            if !heading.isEmpty { prompter.inform(heading) }
            if echo, let text = prompter.ask(prompt) { return Secret(Array(text.utf8)) }
            if !echo, let secret = prompter.readSecret(prompt) { return secret }
        }
        unanswered.append(prompt.trimmingCharacters(in: .whitespaces))
        return Secret([UInt8]())
    }
}

/// libssh2's keyboard-interactive callback: each answer is a malloc'd copy that libssh2 frees through pss's
/// wiping allocator.
private let answerPrompts:
    @convention(c) (
        UnsafePointer<CChar>?, Int32, UnsafePointer<CChar>?, Int32, Int32,
        UnsafePointer<LIBSSH2_USERAUTH_KBDINT_PROMPT>?,
        UnsafeMutablePointer<LIBSSH2_USERAUTH_KBDINT_RESPONSE>?,
        UnsafeMutablePointer<UnsafeMutableRawPointer?>?
    ) -> Void = {
        name, nameLength, instruction, instructionLength, count, prompts, responses, abstract in
        guard let prompts, let responses, let pointer = abstract?.pointee else { return }
        let callbacks = Unmanaged<SessionCallbacks>.fromOpaque(pointer).takeUnretainedValue()
        let text = { (bytes: UnsafePointer<CChar>?, length: Int) -> String in
            guard let bytes, length > 0 else { return "" }
            return String(decoding: UnsafeRawBufferPointer(start: bytes, count: length), as: UTF8.self)
        }
        let heading = [text(name, Int(nameLength)), text(instruction, Int(instructionLength))]
            .filter { !$0.isEmpty }.joined(separator: "\n")
        for index in 0..<Int(count) {
            let prompt = text(prompts[index].text, Int(prompts[index].length))
            let answer =
                callbacks.keyboardInteractive?.answer(prompt, echo: prompts[index].echo != 0, heading: index == 0 ? heading : "")
                ?? Secret([UInt8]())
            responses[index].text = answer.mallocCopy()
            responses[index].length = UInt32(answer.count)
        }
    }
