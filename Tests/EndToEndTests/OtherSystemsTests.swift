import Foundation
import TestSupport
import XCTest

/// Servers of other systems, without virtual machines: sshd's ChrootDirectory gives a login whose every process
/// runs inside a root the test makes (scripts/lib/rootfs.sh), with /proc and /dev mounted as a system has them. An
/// older Debian (bullseye: glibc 2.31, as RHEL 9 and Ubuntu 22.04 are older than Debian 12), and a busybox system
/// with no libc at all (as Alpine's musl is not glibc). The same static helper serves both.
final class OtherSystemsTests: XCTestCase {
    static let user = "pss-test-chroot"
    /// scripts/lib/rootfs.sh, which makes the roots.
    static let rootfsScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/lib/rootfs.sh").path

    override class func setUp() {
        super.setUp()
        LocalAccount.ensure(user, password: "chroot-test", shell: "/bin/sh")
    }

    override class func tearDown() {
        LocalAccount.remove(user)
        super.tearDown()
    }

    /// Makes `root` a system the test user logs in to: the account and its home inside, /proc and /dev mounted
    /// (unmounted, and the home removed, when the test ends).
    private func prepare(_ root: String) {
        let uid = getpwnam(Self.user)!.pointee.pw_uid, gid = getpwnam(Self.user)!.pointee.pw_gid
        let home = "/home/\(Self.user)"
        shell(
            """
            set -e; r='\(root)'
            sed -i '/^\(Self.user):/d' "$r/etc/passwd" "$r/etc/group"
            echo '\(Self.user):x:\(uid):\(gid)::\(home):/bin/sh' >> "$r/etc/passwd"
            echo '\(Self.user):x:\(gid):' >> "$r/etc/group"
            rm -rf "$r\(home)"; mkdir -p "$r\(home)"; chown \(uid):\(gid) "$r\(home)"; chmod 700 "$r\(home)"
            mkdir -p "$r/proc" "$r/dev"
            mount -t proc proc "$r/proc"
            mount --rbind /dev "$r/dev"; mount --make-rslave "$r/dev"
            """)
        addTeardownBlock {
            _ = ProcessRunner.run("/usr/bin/pkill", ["-KILL", "-u", Self.user])
            _ = Processes.waitUntil(limit: 10) { ProcessRunner.run("/usr/bin/pgrep", ["-u", Self.user]).status != 0 }
            _ = ProcessRunner.run("/bin/umount", ["-R", "-l", root + "/dev"])
            _ = ProcessRunner.run("/bin/umount", ["-l", root + "/proc"])
            _ = ProcessRunner.run("/bin/rm", ["-rf", root + home])
        }
    }

    /// A server whose logins of the test user are chrooted into `root`, and a client logging in there.
    private func server(chrootedInto root: String) -> (SSHServer, ClientMachine) {
        var options = SSHServer.Options()
        options.extraConfig = ["Match User \(Self.user)", "    ChrootDirectory \(root)"]
        let server = SSHServer(options)
        return (server, ClientMachine(loggingInAs: Self.user, to: server))
    }

    /// What an admin does on a server: one-off commands, a session keeping state, a job, disconnect and receive
    /// from another machine, enter, remove, doctor; each inside the other system.
    private func exercise(_ root: String, shellName: String, libc: String, file: StaticString = #filePath, line: UInt = #line) {
        prepare(root)
        let (server, client) = server(chrootedInto: root)
        let marker = "inside-\(UUID().uuidString.prefix(8))"
        shell("touch '\(root)/\(marker)'")
        defer { unlink(root + "/" + marker) }

        let once = client.pss(["invoke", "--host", "h", "--", "ls /\(marker) && printf '%s\\n' 'a b' \"c'd\" | wc -l | tr -d ' '"])
        XCTAssertEqual(once.status, 0, "\(once)", file: file, line: line)
        XCTAssertEqual(once.stdoutText, "/\(marker)\n2\n", "the command ran inside the root", file: file, line: line)
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/home/\(Self.user)/.local/state/pss-host/bin"), file: file, line: line)

        XCTAssertEqual(client.pss(["new", "h", "--name", "s"]).status, 0, file: file, line: line)
        XCTAssertEqual(client.pss(["invoke", "--session", "h/s", "--", "cd /tmp && N=41"]).status, 0, file: file, line: line)
        let state = client.pss(["invoke", "--session", "h/s", "--", "echo $((N + 1)) $(pwd) $(basename \"$(readlink /proc/$$/exe)\")"])
        XCTAssertEqual(state.stdoutText, "42 /tmp \(shellName)\n", "\(state)", file: file, line: line)

        // A job, then disconnect, and its output received from another machine. (Its status comes from a program:
        // `exit 3` itself is not yet read right by busybox's ash in a session, issue 24's `exit` point.)
        let job = client.pss(["invoke", "--session", "h/s", "--as-job", "--job-name", "later", "--", "echo from-the-job; sh -c 'exit 3'"])
        XCTAssertEqual(job.status, 0, "\(job)", file: file, line: line)
        let waited = client.pss(["job", "wait", "later", "--session", "h/s"])
        XCTAssertEqual(waited.status, 3, "the job's own status: \(waited)", file: file, line: line)
        XCTAssertEqual(client.pss(["disconnect", "h/s"]).status, 0, file: file, line: line)
        let desktop = ClientMachine(loggingInAs: Self.user, to: server)
        let received = desktop.pss(["receive", "h/s"])
        XCTAssertEqual(received.status, 3, "\(received)", file: file, line: line)
        XCTAssertEqual(received.stdoutText, "from-the-job\n", file: file, line: line)

        // pss enter on the system's own terminal devices; the state is the session's.
        let terminal = TmuxTerminal(command: "'\(PSSBinary.path)' -F '\(desktop.configPath)' enter h/s", environment: desktop.baseEnvironment)
        terminal.typeLine("echo \"entered $N $(pwd)\"")
        XCTAssertTrue(terminal.waitFor("entered 41 /tmp"), terminal.screen, file: file, line: line)
        terminal.press("C-\\\\")
        XCTAssertTrue(terminal.waitFor("[exit 0]"), terminal.screen, file: file, line: line)

        let doctor = desktop.pss(["doctor", "h"])
        XCTAssertTrue(doctor.stdoutText.contains("x86_64, \(libc); the static x86_64 helper fits"), "\(doctor)", file: file, line: line)
        XCTAssertFalse(doctor.stdoutText.contains("fail "), "\(doctor)", file: file, line: line)
        XCTAssertEqual(desktop.pss(["remove", "h/s"]).status, 0, file: file, line: line)
        let left = desktop.pss(["--json", "get", "--host", "h"])
        XCTAssertEqual(left.status, 0, "\(left)", file: file, line: line)
        XCTAssertFalse(left.stdoutText.contains("\"name\":\"s\""), "\(left)", file: file, line: line)
    }

    /// A system with no C library at all: busybox-static's programs and nothing else.
    func testBusyboxWithoutLibc() {
        let root = "/var/cache/pss-test/busybox-\(getpid())"
        shell("mkdir -p /var/cache/pss-test && . '\(Self.rootfsScript)' && rootfs_busybox '\(root)'")
        addTeardownBlock { _ = ProcessRunner.run("/bin/rm", ["-rf", root]) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/lib"), "no libc in the root")
        exercise(root, shellName: "busybox", libc: "no libc found")
    }

    /// Debian 11: glibc 2.31, older than the one the helper is built with.
    func testDebianBullseye() {
        let root = shell(". '\(Self.rootfsScript)' && rootfs_debian bullseye", limit: 600).stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        exercise(root, shellName: "bash", libc: "glibc 2.31")
    }
}
