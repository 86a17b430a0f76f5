import ArgumentParser
import Foundation
import Logging
import Sessions
import SessionWire
import SSHClient

/// The connection options every command takes, as ssh's.
struct ConnectionOptions: ParsableArguments {
    @Option(
        name: .customShort("F", allowingJoined: true),
        help: ArgumentHelp("ssh_config file (default ~/.ssh/config, then /etc/ssh/ssh_config).", valueName: "file"))
    var configFile: String?

    @Option(name: .customShort("o", allowingJoined: true), help: ArgumentHelp("An ssh_config option, as ssh -o.", valueName: "key=value"))
    var options: [String] = []

    @Option(name: .customShort("i", allowingJoined: true), help: ArgumentHelp("Identity (private key) file.", valueName: "file"))
    var identityFiles: [String] = []

    @Option(name: .customShort("l", allowingJoined: true), help: ArgumentHelp("Remote user name.", valueName: "user"))
    var loginName: String?

    @Option(name: .customShort("p", allowingJoined: true), help: ArgumentHelp("Remote port.", valueName: "port"))
    var port: Int?

    @Option(
        name: .customShort("J", allowingJoined: true),
        help: ArgumentHelp("Jump hosts to go through, as ssh -J: [user@]host[:port][,...] (ProxyJump).", valueName: "destination"))
    var jumpHosts: String?

    @Option(help: ArgumentHelp("Read the password for password or keyboard-interactive authentication from this file (its first line).", valueName: "file"))
    var passwordFile: String?

    @Option(
        help: ArgumentHelp(
            "Use the sessions of this session configuration on the host (pss config register); a session this client knows is found in its own.",
            valueName: "name"))
    var configuration: String?

    @Flag(help: "Print machine-readable JSON, one object per line.")
    var json = false

    @Flag(name: .shortAndLong, help: "Log connection details to stderr.")
    var verbose = false

    func validate() throws {
        if let port, !(1...65535).contains(port) {
            throw ValidationError("-p: port must be from 1 to 65535, not \(port)")
        }
        for option in options {
            let parsed: SSHConfig.Option
            do { parsed = try SSHConfigResolver.commandLineOption(option) } catch { throw ValidationError("\(error)") }
            if parsed.keyword == .user, !HostSpec.isValidRemoteUser(parsed.arguments[0]) {
                throw ValidationError("-o User: the user name holds characters a shell would read, or starts with '-'")
            }
        }
        if let configuration, let problem = ConfigurationName.problem(with: configuration) {
            throw ValidationError("--configuration: \(problem)")
        }
        if let loginName, !HostSpec.isValidRemoteUser(loginName) {
            throw ValidationError("-l: the user name holds characters a shell would read (' ` \" ; & < > | ( ) { }), or starts with '-'")
        }
    }

    /// The ssh_config options the command line sets, in ssh's precedence: they beat every config file.
    private func commandLineOptions() throws -> [SSHConfig.Option] {
        var result = try options.map(SSHConfigResolver.commandLineOption)
        result += identityFiles.map { SSHConfig.Option(keyword: .identityFile, arguments: [$0], file: "-i", line: 0) }
        if let loginName { result.append(SSHConfig.Option(keyword: .user, arguments: [loginName], file: "-l", line: 0)) }
        if let port { result.append(SSHConfig.Option(keyword: .port, arguments: [String(port)], file: "-p", line: 0)) }
        if let jumpHosts { result.append(SSHConfig.Option(keyword: .proxyJump, arguments: [jumpHosts], file: "-J", line: 0)) }
        return result
    }

    /// These options as the connection keeper takes them (`pss _keep` parses them back): paths made absolute, for
    /// a process in another directory; ControlMaster, ControlPersist and ControlPath left out (they decide the
    /// keeping, which the keeper is told, and would make one connection seem two).
    func keeperArguments() -> [String] {
        let directory = FileManager.default.currentDirectoryPath
        let absolute = { (path: String) in path.hasPrefix("/") || path.hasPrefix("~") ? path : directory + "/" + path }
        var arguments: [String] = []
        if let configFile { arguments += ["-F", absolute(configFile)] }
        for option in options {
            let keyword = (try? SSHConfigResolver.commandLineOption(option))?.keyword
            if [.controlMaster, .controlPersist, .controlPath].contains(keyword) { continue }
            arguments += ["-o", option]
        }
        for file in identityFiles { arguments += ["-i", absolute(file)] }
        if let loginName { arguments += ["-l", loginName] }
        if let port { arguments += ["-p", String(port)] }
        if let jumpHosts { arguments += ["-J", jumpHosts] }
        if let passwordFile { arguments += ["--password-file", absolute(passwordFile)] }
        return arguments
    }

    /// ssh_config as ssh reads it: -F or the usual files, the command line first.
    func makeResolver() throws -> SSHConfigResolver {
        try SSHConfigResolver.load(configFile: configFile, commandLine: commandLineOptions())
    }

    /// A client for this command's sessions: its connections, in the configuration given (if any).
    func makeClient(prompting: Bool = true, state: ClientState = ClientState()) throws -> SessionClient {
        var client = SessionClient(connector: try makeConnector(prompting: prompting), state: state)
        client.configuration = configuration
        return client
    }

    /// `prompting` false: nothing is asked (several targets run at once): an unknown host key under `ask`, a
    /// passphrase, a password fail that target with the reason.
    func makeConnector(prompting: Bool = true) throws -> HostConnector {
        var logger = Logger(label: "pss")
        logger.logLevel = verbose ? .debug : .warning
        let resolver = try makeResolver()
        for note in resolver.notes { logger.debug("\(note)") }
        if let passwordFile {
            if let mode = FileSafety.unprotectedSecretFileMode(passwordFile) {
                throw CommandFailure.usage(
                    "--password-file: \(passwordFile.sanitizedForDisplay) may be read or written by others (mode \(FileSafety.octal(mode))): chmod 600 it")
            }
            if Secret.firstLine(ofFile: passwordFile) == nil {
                throw CommandFailure.usage("--password-file: cannot read \(passwordFile.sanitizedForDisplay)")
            }
        }
        var connector = HostConnector(
            resolver: resolver, credentials: Credentials(passwordFile: passwordFile),
            prompter: prompting ? TerminalPrompter() : NoPrompter(), logger: logger)
        connector.keeperArguments = keeperArguments()
        return connector
    }
}
