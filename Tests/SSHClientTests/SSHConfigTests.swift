import Foundation
@testable import SSHClient
import XCTest

final class SSHConfigTests: XCTestCase {
    private func resolve(_ text: String, _ host: String, commandLine: [String] = []) throws -> ConnectionSettings {
        let config = try SSHConfig.parse(text, file: "cfg")
        let options = try commandLine.map(SSHConfigResolver.commandLineOption)
        return try SSHConfigResolver(commandLine: options, configs: [config]).resolve(try HostSpec(parsing: host))
    }

    func testFirstValueWins() throws {
        let settings = try resolve(
            """
            Host web
                Port 2200
                User alice
            Host *
                Port 22
                User nobody
                ConnectTimeout 7
            """, "web")
        XCTAssertEqual(settings.port, 2200)
        XCTAssertEqual(settings.user, "alice")
        XCTAssertEqual(settings.connectTimeout, 7)
        XCTAssertEqual(settings.hostName, "web")
    }

    func testPatternsWildcardsAndNegation() throws {
        let text = """
            Host *.prod !db*.prod
                User deploy
            Host web?
                HostName %h.example.com
            """
        XCTAssertEqual(try resolve(text, "api.prod").user, "deploy")
        XCTAssertNotEqual(try resolve(text, "db1.prod").user, "deploy")
        XCTAssertEqual(try resolve(text, "web1").hostName, "web1.example.com")
        XCTAssertEqual(try resolve(text, "web12").hostName, "web12")
        XCTAssertNotEqual(try resolve(text, "API.PROD").user, "deploy", "Host patterns compare case-sensitively, as ssh's")
    }

    func testCommandLineBeatsHostSpecWhichBeatsConfig() throws {
        let text = "Host h\n  User alice\n  Port 2200\n"
        let settings = try resolve(text, "h", commandLine: ["User=bob", "Port=2300"])
        XCTAssertEqual(settings.user, "bob")
        XCTAssertEqual(settings.port, 2300)
        let explicit = try resolve(text, "carol@h:2400")
        XCTAssertEqual(explicit.user, "carol")
        XCTAssertEqual(explicit.port, 2400)
        // As ssh: -l and -o User win over user@ in HOST (`ssh -G -l bob alice@h` says bob).
        XCTAssertEqual(try resolve(text, "carol@h:2400", commandLine: ["User=bob"]).user, "bob")
    }

    func testEqualsSignsQuotesAndComments() throws {
        let settings = try resolve(
            """
            # comment
            Host=h
              HostName = "10.0.0.1"  # trailing comment
              IdentityFile "/path with spaces/key"
              IdentityFile ~/.ssh/second
              StrictHostKeyChecking=accept-new
            """, "h")
        XCTAssertEqual(settings.hostName, "10.0.0.1")
        XCTAssertEqual(settings.identityFiles.map(\.path), ["/path with spaces/key", LocalUser.home + "/.ssh/second"])
        XCTAssertTrue(settings.identityFiles.allSatisfy(\.isExplicit))
        XCTAssertEqual(settings.strictHostKeyChecking, .acceptNew)
    }

    func testDefaults() throws {
        let settings = try resolve("", "plain")
        XCTAssertEqual(settings.port, 22)
        XCTAssertEqual(settings.strictHostKeyChecking, .ask)
        XCTAssertEqual(settings.serverAliveCountMax, 3)
        XCTAssertEqual(settings.knownHostsName, "plain")
        XCTAssertFalse(settings.identityFiles.contains(where: \.isExplicit))
        XCTAssertEqual(settings.userKnownHostsFiles.first, LocalUser.home + "/.ssh/known_hosts")
    }

    /// `%k` is HostKeyAlias, else the host as given (not the HostName), as `ssh -G` says.
    func testHostKeyAliasToken() throws {
        XCTAssertEqual(try resolve("Host web\n  HostName Web.Example.COM\n  UserKnownHostsFile /kh/%k\n", "web").userKnownHostsFiles, ["/kh/web"])
        XCTAssertEqual(try resolve("Host web\n  HostKeyAlias vip\n  UserKnownHostsFile /kh/%k\n", "web").userKnownHostsFiles, ["/kh/vip"])
    }

    func testTokensInPaths() throws {
        let settings = try resolve("Host h\n  HostName real\n  User u\n  Port 2022\n  IdentityFile %d/k-%h-%r-%p-%n\n  UserKnownHostsFile /kh/%h none\n", "h")
        XCTAssertEqual(settings.identityFiles.first?.path, "\(LocalUser.home)/k-real-u-2022-h")
        XCTAssertEqual(settings.userKnownHostsFiles, ["/kh/real"])
        XCTAssertEqual(settings.knownHostsName, "[real]:2022")
    }

    func testMatchAllAndHost() throws {
        let text = "Match host db*\n  User dba\nMatch exec \"false\"\n  User never\nMatch all\n  User everyone\n"
        XCTAssertEqual(try resolve(text, "db3").user, "dba")
        XCTAssertEqual(try resolve(text, "web").user, "everyone")
    }

    func testMalformedLinesNameFileAndLine() {
        let cases: [(String, Int, String)] = [
            ("Host h\n  Port abc\n", 2, "bad port"),
            ("Port 70000\n", 1, "bad port"),
            ("Host h\n\n  ConnectTimeout soon\n", 3, "bad time"),
            ("IdentitiesOnly maybe\n", 1, "yes or no"),
            ("StrictHostKeyChecking sometimes\n", 1, "StrictHostKeyChecking must be"),
            ("HostName \"unterminated\n", 1, "unbalanced quote"),
            ("Host\n", 1, "at least one pattern"),
            ("User\n", 1, "needs a value"),
        ]
        for (text, line, message) in cases {
            XCTAssertThrowsError(try SSHConfig.parse(text, file: "cfg"), text) { error in
                let error = error as? SSHConfigError
                XCTAssertEqual(error?.line, line, text)
                XCTAssertEqual(error?.file, "cfg")
                XCTAssertTrue(error?.message.contains(message) == true, "\(text): \(String(describing: error))")
            }
        }
    }

    func testUnknownKeywordsAreIgnoredWithANote() throws {
        let config = try SSHConfig.parse("Host h\n  ForwardAgent yes\n  User u\n", file: "cfg")
        XCTAssertEqual(try SSHConfigResolver(configs: [config]).resolve(HostSpec(host: "h")).user, "u")
        XCTAssertTrue(config.notes.first?.contains("cfg:2") == true)
    }

    func testIncludeIsReadInPlaceAndItsHostBlocksEndWithIt() throws {
        let directory = NSTemporaryDirectory() + "pss-include-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory + "/conf.d", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "Host inc\n  User included\nHost *\n  Port 2201\n".write(toFile: directory + "/conf.d/a.conf", atomically: true, encoding: .utf8)
        try "Host inc other\n  Include conf.d/*.conf\n  User fromMain\n".write(toFile: directory + "/config", atomically: true, encoding: .utf8)
        let config = try SSHConfig.load(path: directory + "/config", includeBase: directory)
        let resolver = SSHConfigResolver(configs: [config])
        let inc = try resolver.resolve(HostSpec(host: "inc"))
        XCTAssertEqual(inc.user, "included")
        XCTAssertEqual(inc.port, 2201)
        let other = try resolver.resolve(HostSpec(host: "other"))
        XCTAssertEqual(other.user, "fromMain", "the included file's Host line must not leak past the include")
        XCTAssertEqual(try resolver.resolve(HostSpec(host: "unrelated")).port, 22, "an include inside a non-matching block is not read")
    }

    func testDurations() {
        XCTAssertEqual(SSHConfigKeyword.seconds("30"), 30)
        XCTAssertEqual(SSHConfigKeyword.seconds("5m"), 300)
        XCTAssertEqual(SSHConfigKeyword.seconds("1h30m"), 5400)
        XCTAssertNil(SSHConfigKeyword.seconds("x"))
        XCTAssertNil(SSHConfigKeyword.seconds(""))
    }

    func testCommandLineOptionMustBeOneOption() {
        XCTAssertThrowsError(try SSHConfigResolver.commandLineOption("Host x"))
        XCTAssertThrowsError(try SSHConfigResolver.commandLineOption("Port=x"))
        XCTAssertEqual(try SSHConfigResolver.commandLineOption("Port=2200").arguments, ["2200"])
    }

    func testCRLFAndBytesThatAreNotUTF8() throws {
        let directory = NSTemporaryDirectory() + "pss-crlf-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let bytes: [UInt8] = Array("Host web\r\n  User alice\r\n  # caf".utf8) + [0xE9, 0xFF] + Array("\r\n  Port 2200\r\n".utf8)
        XCTAssertTrue(FileManager.default.createFile(atPath: directory + "/config", contents: Data(bytes)))
        let config = try SSHConfig.load(path: directory + "/config", includeBase: directory)
        let settings = try SSHConfigResolver(configs: [config]).resolve(HostSpec(host: "web"))
        XCTAssertEqual(settings.user, "alice", "a CRLF file reads line by line")
        XCTAssertEqual(settings.port, 2200)
    }

    func testKnownHostsNameIsLowerCaseOrTheHostKeyAlias() throws {
        XCTAssertEqual(try resolve("Host web\n  HostName LocalHost\n", "web").knownHostsName, "localhost")
        XCTAssertEqual(try resolve("Host web\n  HostName LocalHost\n  Port 2222\n", "web").knownHostsName, "[localhost]:2222")
        XCTAssertEqual(try resolve("", "LOCALHOST").knownHostsName, "localhost")
        XCTAssertEqual(try resolve("", "LOCALHOST").hostName, "localhost")
        // HostKeyAlias replaces the name and its port, as in ssh.
        XCTAssertEqual(try resolve("Host web\n  HostKeyAlias Shared-VIP\n  Port 2222\n", "web").knownHostsName, "shared-vip")
        XCTAssertEqual(try resolve("Host web\n  HashKnownHosts yes\n", "web").hashKnownHosts, true)
        XCTAssertEqual(try resolve("", "web").hashKnownHosts, false)
    }

    /// ssh refuses a user's config, or a file it includes, that another user could have written.
    func testConfigFilesOthersCouldWriteAreRefused() throws {
        let directory = NSTemporaryDirectory() + "pss-perm-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/config", included = directory + "/included.conf"
        try "Include included.conf\n".write(toFile: config, atomically: true, encoding: .utf8)
        try "User x\n".write(toFile: included, atomically: true, encoding: .utf8)
        chmod(config, 0o644)
        chmod(included, 0o644)
        XCTAssertNoThrow(try SSHConfig.load(path: config, includeBase: directory, checkingPermissions: true))
        for (path, mode) in [(config, 0o664), (config, 0o646), (included, 0o666)] as [(String, mode_t)] {
            chmod(config, 0o644)
            chmod(included, 0o644)
            chmod(path, mode)
            XCTAssertThrowsError(try SSHConfig.load(path: config, includeBase: directory, checkingPermissions: true)) { error in
                XCTAssertTrue("\(error)".contains("Bad owner or permissions on \(path)"), "\(error)")
            }
        }
        chmod(included, 0o644)
        chmod(config, 0o666)
        XCTAssertNoThrow(try SSHConfig.load(path: config, includeBase: directory), "-F files are not checked, as in ssh")
    }
}

/// ControlMaster, ControlPersist and ControlPath, as pss applies them (ssh's values, pss's defaults).
final class ConnectionKeepingTests: XCTestCase {
    func testKeywordsGiveTheKeeping() throws {
        let cases: [(options: [String], enabled: Bool, linger: Int?, explicit: Bool, path: String?)] = [
            ([], true, 600, false, nil),
            (["ControlMaster=no"], false, 600, false, nil),
            (["ControlMaster=auto"], true, 600, false, nil),
            (["ControlMaster=autoask"], true, 600, false, nil),
            (["ControlPath=none"], false, 600, false, nil),
            (["ControlPath=/run/cm-%p"], true, 600, false, "/run/cm-22.pss"),
            (["ControlPersist=yes"], true, nil, true, nil),
            (["ControlPersist=0"], true, nil, true, nil),
            (["ControlPersist=no"], true, 0, true, nil),
            (["ControlPersist=90"], true, 90, true, nil),
            (["ControlPersist=1h30m"], true, 5400, true, nil),
        ]
        for item in cases {
            let options = try item.options.map(SSHConfigResolver.commandLineOption)
            let settings = try SSHConfigResolver(commandLine: options, configs: []).resolve(HostSpec(parsing: "h"))
            XCTAssertEqual(settings.keeping.isEnabled, item.enabled, "\(item.options)")
            XCTAssertEqual(settings.keeping.linger, item.linger, "\(item.options)")
            XCTAssertEqual(settings.keeping.lingerIsExplicit, item.explicit, "\(item.options)")
            XCTAssertEqual(settings.keeping.path, item.path, "\(item.options)")
        }
        for bad in ["ControlMaster=maybe", "ControlPersist=soon", "ControlPersist=1x"] {
            XCTAssertThrowsError(try SSHConfigResolver.commandLineOption(bad), bad)
        }
    }
}
