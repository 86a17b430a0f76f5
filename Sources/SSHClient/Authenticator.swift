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

    private static let rsaHint = "RSA keys cannot be used: libssh2 1.10 signs only with ssh-rsa (SHA-1), which OpenSSH 8.8 and later refuse. Use an ed25519 or ECDSA key (ssh-keygen -t ed25519)."

    func authenticate() throws {
        let offered = try offeredMethods()
        guard !isAuthenticated else { return }
        var hints: [String] = []

        if settings.pubkeyAuthentication, offered.contains("publickey") {
            if try authenticateWithAgent(hints: &hints) { return }
            if try authenticateWithIdentityFiles(hints: &hints) { return }
        }
        let passwordMethods = offered.filter {
            ($0 == "keyboard-interactive" && settings.kbdInteractiveAuthentication)
                || ($0 == "password" && settings.passwordAuthentication)
        }
        if !passwordMethods.isEmpty {
            if try authenticateWithPassword(methods: passwordMethods, hints: &hints) { return }
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
                return true
            }
            connection.logger.debug("agent key \(comment) refused")
            if Self.keyType(ofBlob: blob) == "ssh-rsa", !hints.contains(Self.rsaHint) { hints.append(Self.rsaHint) }
        }
        return false
    }

    private func authenticateWithIdentityFiles(hints: inout [String]) throws -> Bool {
        for identity in settings.identityFiles {
            guard let contents = try? String(contentsOfFile: identity.path, encoding: .utf8) else {
                if identity.isExplicit {
                    prompter.inform("Warning: Identity file \(identity.path) not accessible: \(String(cString: strerror(errno))).")
                }
                continue
            }
            let key = PrivateKeyFile(contents: contents)
            if key?.kind == .rsa, !hints.contains(Self.rsaHint) { hints.append(Self.rsaHint) }

            if key?.isEncrypted == true {
                guard prompter.isAvailable else {
                    hints.append("The key \(identity.path) needs a passphrase and there is no terminal to ask for it; add it to ssh-agent (ssh-add) instead.")
                    continue
                }
                passphrases: for _ in 0..<3 {
                    guard let passphrase = prompter.readSecret("Enter passphrase for key '\(identity.path)': ") else { break }
                    switch try tryKeyFile(identity.path, passphrase: passphrase) {
                    case .accepted: return true
                    case .refused: break passphrases
                    case .unreadable: prompter.inform("Bad passphrase, try again for \(identity.path).")
                    }
                }
            } else if try tryKeyFile(identity.path, passphrase: nil) == .accepted {
                return true
            }
        }
        return false
    }

    private enum KeyAttempt { case accepted, refused, unreadable }

    private func tryKeyFile(_ path: String, passphrase: String?) throws -> KeyAttempt {
        let status = try connection.retry("public key authentication", deadline: stepDeadline) {
            libssh2_userauth_publickey_fromfile_ex(session, user, UInt32(user.utf8.count), nil, path, passphrase)
        }
        switch status {
        case 0:
            connection.logger.debug("authenticated with \(path)")
            return .accepted
        case LIBSSH2_ERROR_FILE:
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

    static func keyType(ofBlob blob: [UInt8]) -> String? {
        var reader = SSHBufferReader(bytes: blob)
        return reader.readString().map { String(decoding: $0, as: UTF8.self) }
    }

    // MARK: Passwords

    private func authenticateWithPassword(methods: [String], hints: inout [String]) throws -> Bool {
        var passwords: [String] = []
        if let password = credentials.password {
            passwords = [password]
        } else if !prompter.isAvailable {
            hints.append("No password was tried: there is no terminal to ask for one (use --password-file FILE, or a key).")
            return false
        }
        for attempt in 0..<3 {
            let password: String
            if attempt < passwords.count {
                password = passwords[attempt]
            } else if credentials.password == nil, let typed = prompter.readSecret("\(user)@\(settings.alias)'s password: ") {
                password = typed
            } else {
                break
            }
            if methods.contains("keyboard-interactive"), try keyboardInteractive(answer: password) { return true }
            if methods.contains("password"), try plainPassword(password) { return true }
            if prompter.isAvailable, credentials.password == nil { prompter.inform("Permission denied, please try again.") }
        }
        return false
    }

    private func plainPassword(_ password: String) throws -> Bool {
        let status = try connection.retry("password authentication", deadline: stepDeadline) {
            libssh2_userauth_password_ex(session, user, UInt32(user.utf8.count), password, UInt32(password.utf8.count), nil)
        }
        return status == 0
    }

    private func keyboardInteractive(answer: String) throws -> Bool {
        connection.callbacks.secretAnswer = answer
        defer { connection.callbacks.secretAnswer = nil }
        let status = try connection.retry("keyboard-interactive authentication", deadline: stepDeadline) {
            libssh2_userauth_keyboard_interactive_ex(session, user, UInt32(user.utf8.count), answerPrompts)
        }
        return status == 0
    }
}

/// Answers keyboard-interactive prompts that do not echo (the password prompts) with the password; others are
/// answered empty. libssh2 frees each answer with free().
private let answerPrompts: @convention(c) (UnsafePointer<CChar>?, Int32, UnsafePointer<CChar>?, Int32, Int32,
                                           UnsafePointer<LIBSSH2_USERAUTH_KBDINT_PROMPT>?,
                                           UnsafeMutablePointer<LIBSSH2_USERAUTH_KBDINT_RESPONSE>?,
                                           UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Void = {
    _, _, _, _, count, prompts, responses, abstract in
    guard let prompts, let responses, let pointer = abstract?.pointee else { return }
    let callbacks = Unmanaged<SessionCallbacks>.fromOpaque(pointer).takeUnretainedValue()
    for index in 0..<Int(count) {
        let answer = prompts[index].echo == 0 ? (callbacks.secretAnswer ?? "") : ""
        responses[index].text = strdup(answer)
        responses[index].length = UInt32(answer.utf8.count)
    }
}
