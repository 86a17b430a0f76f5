import ArgumentParser
import Foundation
import Sessions
import SessionWire
import SSHClient

/// `pss config`: the session configurations of a host (PowerShell's Register-PSSessionConfiguration and friends).
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Register, unregister and list session configurations on a host.",
        discussion: """
            A configuration is an admin's policy for sessions on a host: who may use it, as whom they run (runAs), \
            which commands they may run (allowedCommands), and more (README, "Session configurations"). register \
            and unregister need a root login on the host; list works for any user.
            """
                + Examples.section([
                    "register a configuration (with a root login)": "pss config register --host root@web1 ops-readonly --file ops.json",
                    "what a host has, and what makes any unusable": "pss config list --host web1",
                    "use it": "pss new web1 --configuration ops-readonly --name ro",
                ]),
        subcommands: [Register.self, Unregister.self, List.self]
    )

    /// A configuration name: checked here as the host checks it, so a bad one costs no connection.
    static func check(name: String) throws {
        if let problem = ConfigurationName.problem(with: name) { throw ValidationError("'\(name.sanitizedForDisplay)': \(problem)") }
    }

    struct Register: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate FILE.json on HOST and install it as configuration NAME (with a root login).",
            discussion: """
                The host refuses unknown fields, users and groups it does not have, and a runAs root without \
                allowedCommands, with the reasons. It installs the helper in /usr/local/lib/pss, writes \
                /etc/pss/configurations/NAME.json and, for runAs, a sudoers drop-in checked with visudo.
                """)

        @OptionGroup var connection: ConnectionOptions
        @Option(help: ArgumentHelp("The host (with a root login: root@host, or User root in ssh_config).", valueName: "host"))
        var host: String
        @Argument(help: "The configuration's name.") var name: String
        @Option(help: ArgumentHelp("The configuration, as JSON.", valueName: "file.json")) var file: String

        func validate() throws {
            try ConfigCommand.check(name: name)
            do { _ = try HostSpec(parsing: host) } catch { throw ValidationError("--host: \(error)") }
        }

        func run() throws {
            guard let text = FileManager.default.contents(atPath: file) else {
                throw CommandFailure.usage("--file: cannot read \(file.sanitizedForDisplay)")
            }
            guard text.count <= 64 * 1024 else { throw CommandFailure.usage("--file: a configuration is at most 64 KiB") }
            try ConfigCommand.change(host, connection: connection, .registerConfiguration(name: name, text: [UInt8](text)))
        }
    }

    struct Unregister: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove configuration NAME from HOST: its file and its sudoers drop-in (with a root login).")

        @OptionGroup var connection: ConnectionOptions
        @Option(help: ArgumentHelp("The host.", valueName: "host")) var host: String
        @Argument(help: "The configuration's name.") var name: String

        func validate() throws {
            try ConfigCommand.check(name: name)
            do { _ = try HostSpec(parsing: host) } catch { throw ValidationError("--host: \(error)") }
        }

        func run() throws {
            try ConfigCommand.change(host, connection: connection, .unregisterConfiguration(name: name))
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the configurations of HOST, with what makes any of them unusable.")

        @OptionGroup var connection: ConnectionOptions
        @Option(help: ArgumentHelp("The host.", valueName: "host")) var host: String

        func validate() throws {
            do { _ = try HostSpec(parsing: host) } catch { throw ValidationError("--host: \(error)") }
        }

        func run() throws {
            let client = try connection.makeClient()
            let entries = try client.withLink(host) { try $0.requestList(.listConfigurations) }.flatMap { answer -> [ConfigurationEntry] in
                guard case let .configurations(page, _) = answer else { throw SessionError.helper("unexpected answer") }
                return page
            }
            ConfigurationOutput.print(entries, host: host, json: connection.json)
        }
    }

    /// Sends a register or unregister request and prints what the host did.
    static func change(_ host: String, connection: ConnectionOptions, _ request: ClientMessage) throws {
        let client = try connection.makeClient()
        guard case let .configured(lines) = try client.withLink(host, { try $0.request(request) }) else {
            throw SessionError.helper("unexpected answer")
        }
        Terminal.write(lines.map { "\(host): \($0.sanitizedForDisplay)\n" }.joined())
    }
}
