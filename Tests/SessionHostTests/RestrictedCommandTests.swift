import SessionHost
import XCTest

/// The rules of restricted configurations, as tables: how a line is cut into words, what is refused, how patterns
/// match, and which options are refused in every spelling.
final class RestrictedCommandTests: XCTestCase {
    private func words(_ line: String) throws -> [String] {
        try CommandLineWords.split(Array(line.utf8)).map { String(decoding: $0, as: UTF8.self) }
    }

    func testWords() throws {
        let cases: [(String, [String])] = [
            ("uptime", ["uptime"]),
            ("systemctl status nginx", ["systemctl", "status", "nginx"]),
            ("  a   b  ", ["a", "b"]),
            ("echo 'a b' \"c d\"", ["echo", "a b", "c d"]),
            ("echo it'\"s'", ["echo", "it\"s"]),
            ("echo '' x", ["echo", "", "x"]),
            ("echo 'a;b|c&d>e<f(g)'", ["echo", "a;b|c&d>e<f(g)"]),
            ("ls *.log ~ #x !y {a,b} [c]", ["ls", "*.log", "~", "#x", "!y", "{a,b}", "[c]"]),  // never expanded
            ("echo a\u{00A0}b", ["echo", "a\u{00A0}b"]),  // a no-break space is not a separator
            ("echo a\u{037E}b", ["echo", "a\u{037E}b"]),  // Greek question mark, which looks like ';': a byte like any
        ]
        for (line, expected) in cases {
            XCTAssertEqual(try words(line), expected, line)
        }
    }

    func testRefusals() {
        let cases: [(String, String)] = [
            ("echo a\nrm -rf /", "control character (0x0a)"),
            ("echo a\rb", "control character (0x0d)"),
            ("echo a\tb", "control character (0x09)"),
            ("echo \u{1B}[2J", "control character (0x1b)"),
            ("echo a\u{0}b", "control character (0x00)"),
            ("echo a\u{7F}", "control character (0x7f)"),
            ("echo $HOME", "'$'"),
            ("echo '$HOME'", "'$'"),  // even inside quotes
            ("echo `id`", "'`'"),
            ("echo \"a\\\"b\"", "'\\'"),
            ("uptime; id", "';'"),
            ("uptime && id", "'&'"),
            ("uptime | sh", "'|'"),
            ("cat < /etc/shadow", "'<'"),
            ("echo > /etc/motd", "'>'"),
            ("(id)", "'('"),
            ("echo 'open", "not closed"),
            ("echo \"open", "not closed"),
            ("", "empty"),
            ("   ", "empty"),
        ]
        for (line, reason) in cases {
            XCTAssertThrowsError(try words(line), line) { error in
                XCTAssertTrue("\(error)".contains(reason), "\(line.debugDescription): \(error)")
            }
        }
        // Checked whole, however long: a refused byte after 64 KiB is still found.
        let long = "echo " + String(repeating: "a", count: 70_000) + ";id"
        XCTAssertThrowsError(try words(long))
        XCTAssertEqual(try words("echo " + String(repeating: "a", count: 70_000)).last?.count, 70_000)
    }

    func testPatterns() throws {
        let cases: [(pattern: String, line: String, matches: Bool)] = [
            ("uptime", "uptime", true),
            ("uptime", "uptime -p", false),
            ("/bin/uptime", "uptime", false),
            ("uptime", "/bin/uptime", false),
            ("systemctl status *", "systemctl status", true),
            ("systemctl status *", "systemctl status nginx ssh", true),
            ("systemctl status *", "systemctl restart nginx", false),
            ("cat /var/log/app/*.log", "cat /var/log/app/web.log", true),
            ("cat /var/log/app/*.log", "cat /var/log/app/../secret.log", false),
            ("cat /var/log/app/*.log", "cat /var/log/app/x/y.log", false),
            ("cat /var/log/app/*.log", "cat /var/log/app/a.log /var/log/app/b.log", false),
            ("cat /var/log/app/*.log", "cat /var/log/app/.log", true),
            ("cat * *", "cat a b c", true),  // the last `*` word: any words; the first: one word
            ("cat * x", "cat a/b x", false),
            ("echo 'a b'", "echo \"a b\"", true),
            ("echo a*b*c", "echo aXbYc", true),
            ("echo a*b*c", "echo aXbY", false),
            // A part a `*` made is never empty, `.` or `..`.
            ("cat /var/log/*/*.log", "cat /var/log/../x.log", false),
            ("cat /var/log/*", "cat /var/log/..", false),
            ("cat /var/log/*", "cat /var/log/.", false),
            ("cat /var/log/*", "cat /var/log/", false),
            ("cat * /etc/motd", "cat .. /etc/motd", false),
            ("cat * /etc/motd", "cat '' /etc/motd", false),
            ("cat /var/log/*", "cat /var/log/..x", true),
            ("cat /var/log/../x", "cat /var/log/../x", true),  // spelled out by the admin
            // A quoted `*` is a plain `*`.
            ("echo '*'", "echo a", false),
            ("echo '*'", "echo '*'", true),
            ("echo 'a*'", "echo abc", false),
            ("echo '*'", "echo a b c", false),
        ]
        for (text, line, expected) in cases {
            let pattern = try CommandPattern(parsing: text)
            XCTAssertEqual(pattern.matches(try CommandLineWords.split(Array(line.utf8))), expected, "\(text) ~ \(line)")
        }
    }

    func testDangerousOptionsInEverySpelling() throws {
        let refused = [
            "systemctl -H host status", "systemctl --host=h status", "systemctl --host h status", "systemctl -Hh status",
            "systemctl -aH h", "systemctl --machine=m", "systemctl -M m", "/usr/bin/systemctl --ho=h status",
            "journalctl -D /tmp/x", "journalctl --directory=/tmp", "journalctl --direc=/tmp", "journalctl --file=/x",
            "journalctl --root /", "journalctl --image=x", "journalctl -M m", "journalctl --machine m",
            "journalctl --cursor-file=/tmp/c", "journalctl --vacuum-size=1", "journalctl --vacuum-time=1s", "journalctl --vac",
            "journalctl --rotate", "journalctl --flush", "journalctl --sync", "journalctl --relinquish-var",
            "journalctl --smart-relinquish-var", "journalctl --setup-keys", "journalctl --update-catalog", "journalctl -fD /x",
            "journalctl -u nginx -i /tmp/x.journal", "journalctl -fi/tmp/x",  // -i is --file
            "systemctl --host=\u{301}u@evil", "journalctl --directory=\u{200D}/x", "systemctl --ho=\u{FE0F}x",  // a mark after =
            "journalctl --=x", "journalctl/ --file=x", "systemctl --root=/mnt", "systemctl -C x", "loginctl -H h",
            "machinectl --machine=m", "coredumpctl -o /tmp/x", "busctl --host h",
            // Subcommands and options that start a shell, an editor, a debugger or any program.
            "systemctl edit nginx", "machinectl shell .host", "machinectl login x", "coredumpctl debug", "coredumpctl gdb 1",
            "coredumpctl --debugger=/bin/sh", "coredumpctl -A x debug", "busctl --address=unixexec:path=/bin/sh status",
            "busctl --addr=unixexec:path=/bin/sh", "networkctl edit eth0", "machinectl edit x",
        ]
        for line in refused {
            XCTAssertNotNil(DangerousOptions.refused(in: try CommandLineWords.split(Array(line.utf8))), line)
        }
        let allowed = [
            "systemctl status nginx", "systemctl --no-pager status", "journalctl -u nginx --since today", "journalctl -f",
            "journalctl --system -n 50", "journalctl --fields", "journalctl --identifier=sshd", "journalctl --reverse",
            "journalctl --verify", "cat --file=x", "uptime -H", "coredumpctl list", "machinectl list", "busctl status",
        ]
        for line in allowed {
            XCTAssertNil(DangerousOptions.refused(in: try CommandLineWords.split(Array(line.utf8))), line)
        }
    }

    /// The whole check a restricted session applies to a line: split, matched, cleared of dangerous options.
    func testAllowedCommandsCheckWholeLines() {
        let rules = AllowedCommands(["uptime", "systemctl status *", "cat /var/log/app/*.log", "journalctl -u *", "echo *"])
        let cases: [(String, [String]?)] = [
            // lshell's escapes: CVE-2016-6902 (a function defined after &&) and CVE-2016-6903 (a newline typed
            // with Ctrl-V Ctrl-J, operators inside what lshell took for a quoted string).
            ("echo FREEDOM! && help () sh && help", nil),
            ("echo\u{16}\nsh", nil),
            ("echo 'a' && sh", nil),
            ("echo \"&& sh\"", ["echo", "&& sh"]),  // quoted: one word, given to echo, never to a shell
            ("echo \"'\"&&sh", nil),
            ("echo $(sh)", nil),
            ("echo ${IFS}sh", nil),
            ("uptime", ["uptime"]),
            ("uptime now", nil),  // no final `*`: no more words
            ("/usr/bin/uptime", nil),  // byte for byte
            ("systemctl status nginx cron", ["systemctl", "status", "nginx", "cron"]),
            ("systemctl status -H evil nginx", nil),  // a remote client, even where `*` matches
            ("systemctl status --host=evil", nil),
            ("cat /var/log/app/a.log", ["cat", "/var/log/app/a.log"]),
            ("cat /var/log/app/../../../etc/shadow.log", nil),
            ("cat /var/log/app/a.log /etc/shadow", nil),
            ("journalctl -u nginx --file=/etc/shadow", nil),
            ("journalctl -u nginx; sh", nil),
            ("uptime\u{037E} sh", nil),  // a look-alike ';' is an ordinary byte: the word is not `uptime`
            ("journalctl -u '$(id)'", nil),
            ("journalctl -u " + String(repeating: "a", count: 70_000), ["journalctl", "-u", String(repeating: "a", count: 70_000)]),
            ("journalctl -u " + String(repeating: "a", count: 70_000) + "\n sh", nil),
        ]
        for (line, expected) in cases {
            let words = try? rules.check(line).map { String(decoding: $0, as: UTF8.self) }
            XCTAssertEqual(words, expected, String(line.prefix(80)))
        }
        XCTAssertThrowsError(try rules.check("id")) { error in
            XCTAssertTrue("\(error)".contains("matches none of the allowed commands"), "\(error)")
        }
    }

    func testProgramsAreFoundOnTheFixedPathOnly() {
        XCTAssertEqual(AllowedCommands.program(Array("sh".utf8)).map { $0.hasSuffix("/sh") }, true)
        XCTAssertNil(AllowedCommands.program(Array("pss-test-no-such-program".utf8)))
        XCTAssertEqual(AllowedCommands.program(Array("/bin/sh".utf8)), "/bin/sh")
        XCTAssertNil(AllowedCommands.program(Array("/etc/passwd".utf8)), "not executable")
    }

    func testTheEnvironmentIsBuiltFromScratch() {
        let environment = AllowedCommands.environment(
            account: ["HOME": "/home/ops", "USER": "ops", "LOGNAME": "ops"],
            locale: ["LANG=C.UTF-8", "LC_TIME=C", "LD_PRELOAD=/tmp/x.so", "BASH_ENV=/tmp/x", "EDITOR=vi"],
            configured: [("PAGER", "less"), ("TEAM", "blue")])
        XCTAssertEqual(
            environment,
            [
                "PATH=\(AllowedCommands.searchPath)", "TERM=dumb", "HOME=/home/ops", "USER=ops", "LOGNAME=ops", "LANG=C.UTF-8",
                "LC_TIME=C", "TEAM=blue", "PAGER=cat", "SYSTEMD_PAGER=cat", "SYSTEMD_PAGERSECURE=1", "LESSSECURE=1", "GIT_PAGER=cat",
            ])
    }
}
