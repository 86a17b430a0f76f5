import Foundation
import TestSupport
import XCTest

/// `pss -G HOST` against `ssh -G` for the same inputs, keyword by keyword: Host and Match blocks, Include, first value
/// wins, tokens, -o, -l, -p and the HOST form. The keywords where pss's defaults differ from ssh's (README: "Where pss
/// differs from ssh") are compared only when the configuration sets them.
final class PrintConfigTests: XCTestCase {
    private var scratch: Scratch!

    override func setUp() { scratch = Scratch("print-config") }
    override func tearDown() { scratch = nil }  // XCTest keeps the test instances until the process ends

    private static let differingDefaults: Set<String> = [
        "connecttimeout", "serveraliveinterval", "identityfile", "controlmaster", "controlpersist",
    ]

    /// keyword → values (several for identityfile), from `X -G` output.
    private func parse(_ text: String) -> [String: [String]] {
        var result: [String: [String]] = [:]
        for line in text.split(separator: "\n") {
            guard let space = line.firstIndex(of: " ") else { continue }
            result[String(line[..<space]), default: []].append(String(line[line.index(after: space)...]))
        }
        return result
    }

    private func compare(_ config: String, _ arguments: [String], file: StaticString = #filePath, line: UInt = #line) {
        let path = scratch.write("config-\(UUID().uuidString)", config)
        let environment = ["HOME": String(cString: getpwuid(getuid())!.pointee.pw_dir)]  // ssh's ~ is the account's home
        let ssh = ProcessRunner.run("/usr/bin/ssh", ["-G", "-F", path] + arguments, environment: environment)
        let pss = ProcessRunner.run(PSSBinary.path, ["-F", path, "-G"] + arguments, environment: environment)
        XCTAssertEqual(ssh.status, 0, "\(ssh)", file: file, line: line)
        XCTAssertEqual(pss.status, 0, "\(pss)", file: file, line: line)
        let expected = parse(ssh.stdoutText), got = parse(pss.stdoutText)
        XCTAssertGreaterThan(got.count, 20, pss.stdoutText, file: file, line: line)
        for (keyword, values) in got {
            if Self.differingDefaults.contains(keyword), !config.lowercased().contains(keyword),
                !arguments.joined(separator: " ").lowercased().contains(keyword)
            {
                continue
            }
            XCTAssertEqual(values, expected[keyword] ?? [], "\(keyword) for \(arguments) with:\n\(config)", file: file, line: line)
        }
    }

    /// A token ssh does not know is refused as ssh refuses it, not passed on as written.
    func testUnknownTokensAreRefusedAsSshRefusesThem() {
        for (line, ok) in [("HostName delta.%d", false), ("HostName %h.example", true), ("IdentityFile ~/.ssh/id_%r", true), ("IdentityFile ~/k%Q", true)] {
            let path = scratch.write("config-\(UUID().uuidString)", "Host delta\n    \(line)\n")
            let environment = ["HOME": String(cString: getpwuid(getuid())!.pointee.pw_dir)]
            let ssh = ProcessRunner.run("/usr/bin/ssh", ["-G", "-F", path, "delta"], environment: environment)
            let pss = ProcessRunner.run(PSSBinary.path, ["-F", path, "-G", "delta"], environment: environment)
            XCTAssertEqual(ssh.status == 0, ok, "ssh, \(line): \(ssh)")
            XCTAssertEqual(pss.status == 0, ok, "pss, \(line): \(pss)")
            if !ok { XCTAssertTrue(pss.stderrText.contains("unknown token %"), pss.stderrText) }
        }
    }

    func testPatternsAndFirstValueWins() {
        let config = """
            Host *.prod !db*.prod
                User deploy
                StrictHostKeyChecking accept-new
            Host web?
                HostName %h.example.com
                Port 2200
                User webuser
            Host *
                Port 22
                ConnectTimeout 12
                ServerAliveInterval 20
                ServerAliveCountMax 5
                HashKnownHosts yes
                BatchMode yes
            """
        for host in ["api.prod", "db1.prod", "web1", "WEB1", "web12", "other"] { compare(config, [host]) }
    }

    func testMatchIncludeAndTokens() {
        scratch.write("conf.d/a.conf", "Host inc\n  User included\n  IdentityFile ~/.ssh/inc_%h\nHost *\n  Port 2201\n")
        let config = """
            Host inc other
                Include \(scratch.file("conf.d"))/*.conf
                HostName Real.Example.COM
            Match host real.example.com user included
                HostKeyAlias Shared
                UserKnownHostsFile ~/kh/%h-%p-%r %d/kh2
            Match originalhost other
                IdentityAgent ~/agent/%n
                PreferredAuthentications publickey,password
            Match exec "test %h = real.example.com"
                Ciphers +3des-cbc
                MACs -hmac-sha1*
            Match final
                KexAlgorithms ^diffie-hellman-group14-sha1
            Host *
                IdentitiesOnly yes
                CanonicalizeHostname no
            """
        for host in ["inc", "other", "deploy@inc", "unrelated"] { compare(config, [host]) }
    }

    func testCommandLineOptionsAndHostForms() {
        let config = "Host h\n  User fromconfig\n  Port 2000\n  StrictHostKeyChecking no\n  PubkeyAuthentication no\n"
        compare(config, ["-o", "User=cmd", "-o", "Port=2100", "h"])
        compare(config, ["-l", "viaL", "-p", "2300", "h"])
        for persist in ["5m", "yes", "no", "0", "30"] {
            compare(config, ["-o", "ControlMaster=autoask", "-o", "ControlPersist=\(persist)", "-o", "ControlPath=/tmp/cm-%C", "h"])
        }
        compare(config, ["-o", "ControlMaster=yes", "h"])
        compare(config, ["-o", "ControlMaster=no", "h"])
        compare(config, ["alice@h"])
        compare(config, ["-o", "StrictHostKeyChecking=yes", "-o", "HostKeyAlgorithms=ssh-ed25519", "h"])
        compare(config, ["-o", "ProxyJump=bastion:2222", "h"])
        compare(config, ["-o", "RevokedHostKeys=/etc/ssh/revoked", "-o", "KbdInteractiveAuthentication=no", "h"])
    }
}
