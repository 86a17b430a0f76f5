import Foundation
import TestSupport
import XCTest

/// The helper on the host: installed on first use, reused, replaced when damaged or foreign, refused where the
/// host directory cannot be used.
final class HelperInstallTests: XCTestCase {
    private func installedHelpers(_ server: SSHServer) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: server.hostDirectory + "/bin")) ?? []).filter { $0.hasPrefix("pss-host-") }
    }

    private var localHelper: Data {
        FileManager.default.contents(atPath: (PSSBinary.path as NSString).deletingLastPathComponent + "/pss-host") ?? Data()
    }

    func testInstalledOnFirstUseThenReused() throws {
        let server = SSHServer()
        let client = ClientMachine(servers: ["h": server])
        XCTAssertEqual(installedHelpers(server), [])

        let first = client.pss(["-v", "invoke", "--host", "h", "--", "echo one"])
        XCTAssertEqual(first.status, 0, "\(first)")
        XCTAssertTrue(first.stderrText.contains("installing pss-host-"), first.stderrText)
        let names = installedHelpers(server)
        XCTAssertEqual(names.count, 1)
        let path = server.hostDirectory + "/bin/" + names[0]
        XCTAssertEqual(FileManager.default.contents(atPath: path), localHelper, "the installed helper is this client's")
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o700)
        let directoryMode = try FileManager.default.attributesOfItem(atPath: server.hostDirectory + "/bin")[.posixPermissions] as? Int
        XCTAssertEqual(directoryMode, 0o700)

        let second = client.pss(["-v", "invoke", "--host", "h", "--", "echo two"])
        XCTAssertEqual(second.stdoutText, "two\n")
        XCTAssertFalse(second.stderrText.contains("installing"), "reused, not uploaded again")
        let otherClient = ClientMachine(servers: ["h": server])
        XCTAssertFalse(
            otherClient.pss(["-v", "invoke", "--host", "h", "--", "true"]).stderrText.contains("installing"),
            "another client with the same build reuses it too")
    }

    /// The helper as scripts/install leaves it: stripped, an .xz beside it.
    private func installedLayoutHelper(_ scratch: Scratch) -> String {
        let helper = scratch.file("lib/pss-host")
        let made = shell(
            "mkdir -p '\(scratch.file("lib"))' && cp '\((PSSBinary.path as NSString).deletingLastPathComponent)/pss-host' '\(helper)' && "
                + "strip '\(helper)' && xz -6 -T2 -k '\(helper)' && chmod 755 '\(scratch.path)' '\(scratch.file("lib"))'")
        XCTAssertEqual(made.status, 0, made.description)
        return helper
    }

    /// First contact sends the helper compressed (xz), counted on the wire through a proxy; it is unpacked and
    /// checked on the host, and runs.
    func testFirstContactSendsTheHelperCompressed() throws {
        let server = SSHServer()
        let client = ClientMachine(servers: ["h": server])
        let scratch = Scratch("helper")
        let helper = installedLayoutHelper(scratch)
        client.environment["PSS_HELPER"] = helper
        let proxy = TCPProxy(targetPort: server.port)
        client.addHost(alias: "p", server: server, port: proxy.port)
        let result = client.pss(["-v", "invoke", "--host", "p", "--", "echo hi"])
        XCTAssertEqual(result.status, 0, result.description)
        XCTAssertEqual(result.stdoutText, "hi\n")
        XCTAssertTrue(result.stderrText.contains("(xz)"), result.stderrText)
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: helper)[.size] as? Int)
        let compressed = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: helper + ".xz")[.size] as? Int)
        // The .xz and the conversation, nothing more. (This is the debug build's helper, 2.5 MB as it travels; the
        // release one, 2.2 MB, is what the 2.5 MB goal of scripts/bench --only first measures.)
        XCTAssertLessThan(proxy.bytesForwarded, compressed + 100_000, "first contact, both ways (the helper is \(size) bytes)")
        XCTAssertLessThan(proxy.bytesForwarded, 2_700_000, "first contact, both ways (the helper is \(size) bytes)")
        let installed = installedHelpers(server)
        XCTAssertEqual(installed.count, 1)
        XCTAssertEqual(FileManager.default.contents(atPath: server.hostDirectory + "/bin/" + installed[0]), FileManager.default.contents(atPath: helper))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: server.hostDirectory + "/bin").filter { $0.hasPrefix(".upload-") }, [])
    }

    /// An .xz that does not unpack to the helper beside it (left from another build) costs one more trip, never
    /// the install.
    func testAStaleXzFallsBackToGzip() throws {
        let server = SSHServer()
        let client = ClientMachine(servers: ["h": server])
        let scratch = Scratch("helper")
        let helper = installedLayoutHelper(scratch)
        shell("xz -c /bin/true > '\(helper).xz'")
        client.environment["PSS_HELPER"] = helper
        let result = client.pss(["-v", "invoke", "--host", "h", "--", "echo hi"])
        XCTAssertEqual(result.status, 0, result.description)
        XCTAssertTrue(result.stderrText.contains("(xz)") && result.stderrText.contains("(gzip)"), result.stderrText)
        let installed = installedHelpers(server)
        XCTAssertEqual(installed.count, 1)
        XCTAssertEqual(FileManager.default.contents(atPath: server.hostDirectory + "/bin/" + installed[0]), FileManager.default.contents(atPath: helper))
    }

    /// A host without xz gets gzip (made by the client, kept in its directory); the helper is the same.
    func testGzipWhereTheHostHasNoXz() throws {
        var options = SSHServer.Options()
        options.hiddenPrograms = ["/usr/bin/xz"]
        let server = SSHServer(options)
        let client = ClientMachine(servers: ["h": server])
        let result = client.pss(["-v", "invoke", "--host", "h", "--", "echo hi"])
        XCTAssertEqual(result.status, 0, result.description)
        XCTAssertTrue(result.stderrText.contains("(gzip)"), result.stderrText)
        let installed = installedHelpers(server)
        XCTAssertEqual(installed.count, 1)
        XCTAssertEqual(FileManager.default.contents(atPath: server.hostDirectory + "/bin/" + installed[0]), localHelper)
        let cached = try FileManager.default.contentsOfDirectory(atPath: client.scratch.file("pss-client")).filter { $0.hasSuffix(".gz") }
        XCTAssertEqual(cached.count, 1, "the gzip is kept for the next host")
    }

    /// Installing removes the helpers of earlier versions, unless a process runs one.
    func testOldHelpersAreRemovedUnlessRunning() throws {
        let server = SSHServer()
        let client = ClientMachine(servers: ["h": server])
        let bin = server.hostDirectory + "/bin"
        let idle = bin + "/pss-host-00000000000000aa", running = bin + "/pss-host-00000000000000bb"
        shell("mkdir -p '\(bin)' && chmod 700 '\(server.hostDirectory)' '\(bin)' && cp /bin/sleep '\(idle)' && cp /bin/sleep '\(running)'")
        let sleeper = try ProcessRunner.start(running, ["60"])
        defer {
            sleeper.signal(SIGKILL)
            _ = sleeper.wait()
        }
        XCTAssertEqual(client.pss(["invoke", "--host", "h", "--", "true"]).status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: idle), "an old helper nobody runs is removed")
        XCTAssertTrue(FileManager.default.fileExists(atPath: running), "a helper a process runs stays")
        XCTAssertEqual(installedHelpers(server).count, 2)
    }

    func testDamagedHelperIsReplaced() throws {
        let server = SSHServer()
        let client = ClientMachine(servers: ["h": server])
        XCTAssertEqual(client.pss(["invoke", "--host", "h", "--", "true"]).status, 0)
        let path = server.hostDirectory + "/bin/" + installedHelpers(server)[0]
        // Truncated, as an interrupted copy would leave it (written beside it and renamed over it: the running
        // daemon still executes the old file).
        try localHelper.prefix(100_000).write(to: URL(fileURLWithPath: path), options: .atomic)
        let result = client.pss(["-v", "invoke", "--host", "h", "--", "echo repaired"])
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertEqual(result.stdoutText, "repaired\n")
        XCTAssertTrue(result.stderrText.contains("installing"), result.stderrText)
        XCTAssertEqual(FileManager.default.contents(atPath: path), localHelper)
    }

    func testForeignHelperSpeakingAnotherVersionIsReplaced() throws {
        let server = SSHServer()
        let client = ClientMachine(servers: ["h": server])
        XCTAssertEqual(client.pss(["invoke", "--host", "h", "--", "true"]).status, 0)
        let path = server.hostDirectory + "/bin/" + installedHelpers(server)[0]
        // A "helper" that answers hello with protocol version 99: a frame of 13 bytes, type 101, version 99, helper "".
        try "#!/bin/sh\nprintf '\\000\\000\\000\\011\\145\\000\\000\\000\\143\\000\\000\\000\\000'\nsleep 1\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o700)
        let result = client.pss(["-v", "invoke", "--host", "h", "--", "echo current"])
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertEqual(result.stdoutText, "current\n")
        XCTAssertTrue(result.stderrText.contains("installing"), result.stderrText)
        XCTAssertEqual(FileManager.default.contents(atPath: path), localHelper)
    }

    /// A server with no C library at all (Alpine's musl, a busybox system, or no libc in sight): a root holding
    /// only /proc runs the helper. It is one static program: no interpreter, no shared library, no glibc symbol.
    func testHelperNeedsNoLibc() throws {
        let root = NSTemporaryDirectory() + "no-libc-\(getpid())"
        shell("mkdir -p '\(root)/proc' && mount -t proc proc '\(root)/proc'")
        defer {
            _ = ProcessRunner.run("/bin/umount", ["-l", root + "/proc"])
            try? FileManager.default.removeItem(atPath: root)
        }
        try localHelper.write(to: URL(fileURLWithPath: root + "/pss-host"))
        XCTAssertEqual(chmod(root + "/pss-host", 0o755), 0)
        let result = ProcessRunner.run("/usr/sbin/chroot", [root, "/pss-host", "version"])
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertTrue(result.stdoutText.hasPrefix("pss-host protocol "), "\(result)")
        // The floor the README claims (any libc): nothing is loaded, so no GLIBC_ version is asked for either.
        let headers = ProcessRunner.run("/usr/bin/readelf", ["--program-headers", "--dyn-syms", root + "/pss-host"])
        XCTAssertEqual(headers.status, 0, "\(headers)")
        XCTAssertFalse(headers.stdoutText.contains("INTERP"), "the helper asks for a program interpreter:\n\(headers.stdoutText)")
        XCTAssertFalse(headers.stdoutText.contains("DYNAMIC"), "the helper has a dynamic section")
        XCTAssertFalse(headers.stdoutText.contains("GLIBC_"), "the helper binds versioned glibc symbols")
        // No NSS in it: a static glibc's account lookups crash where nsswitch.conf names a module (AccountDatabase).
        let helperBuild = (PSSBinary.path as NSString).deletingLastPathComponent + "/pss-host"
        let symbols = ProcessRunner.run("/usr/bin/nm", ["--defined-only", helperBuild])
        XCTAssertEqual(symbols.status, 0, "\(symbols)")
        let lookups = ["getpwnam", "getpwuid", "getpwent", "getgrnam", "getgrgid", "getgrouplist", "initgroups", "getaddrinfo"]
        let linked = symbols.stdoutText.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) }
            .filter { lookups.contains($0) }
        XCTAssertEqual(linked, [], "account or host lookups through NSS are linked into the helper")
    }

    /// A server of another CPU (an aarch64 `uname -m`): refused before anything is uploaded, saying which helper
    /// it would need and how one is built; doctor says the same.
    func testAHostOfAnotherArchitectureIsRefusedBeforeTheUpload() {
        let scratch = Scratch("arch")
        try! "#!/bin/sh\necho aarch64\n".write(toFile: scratch.file("uname"), atomically: true, encoding: .utf8)
        chmod(scratch.file("uname"), 0o755)
        var options = SSHServer.Options()
        options.replacedPrograms = ["/usr/bin/uname": scratch.file("uname")]
        let server = SSHServer(options)
        let client = ClientMachine(servers: ["h": server])
        let result = client.pss(["invoke", "--host", "h", "--", "true"])
        XCTAssertEqual(result.status, 255, "\(result)")
        let message =
            "the host is aarch64 and this pss carries a helper for x86_64 only; "
            + "a helper for aarch64 is built by scripts/install on an aarch64 machine"
        XCTAssertTrue(result.stderrText.contains(message), result.stderrText)
        let installed = (try? FileManager.default.contentsOfDirectory(atPath: server.hostDirectory + "/bin")) ?? []
        XCTAssertFalse(installed.contains { $0.hasPrefix("pss-host") }, "uploaded: \(installed)")
        let doctor = client.pss(["doctor", "h"])
        XCTAssertTrue(doctor.stdoutText.contains("platform") && doctor.stdoutText.contains("the host is aarch64"), "\(doctor)")
    }

    /// What pss runs on a host passes through the user's login shell: a tcsh user (csh expands `!` even inside
    /// quotes, and takes no newline in them) installs and runs the helper, here with a `!` in the host directory.
    func testTcshLoginShell() {
        let user = "pss-test-tcsh"
        LocalAccount.ensure(user, password: "tcsh-password", shell: "/usr/bin/tcsh")
        defer { LocalAccount.remove(user) }
        let scratch = Scratch("tcsh")
        shell("mkdir -p '\(scratch.file("it!s"))' && chown \(user): '\(scratch.file("it!s"))'")
        var options = SSHServer.Options()
        options.extraConfig = ["Match User \(user)", "    SetEnv \"PSS_HOST_DIR=\(scratch.file("it!s/pss-host"))\""]
        let server = SSHServer(options)
        let client = ClientMachine(loggingInAs: user, to: server)
        let result = client.pss(["invoke", "--host", "h", "--", "id -un; echo 'it!s'"])
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertEqual(result.stdoutText, "\(user)\nit!s\n")
        XCTAssertTrue(FileManager.default.fileExists(atPath: scratch.file("it!s/pss-host/bin")))
        XCTAssertEqual(client.pss(["new", "h", "--name", "csh"]).status, 0)
        XCTAssertEqual(client.pss(["invoke", "--session", "h/csh", "--", "echo ok"]).stdoutText, "ok\n")
        XCTAssertEqual(client.pss(["remove", "h/csh"]).status, 0)
    }

    /// A host that stops taking the upload half way (a file size limit, as a quota would): a prompt failure with
    /// the host's words, and no partial file left.
    func testUploadCutShortFailsAtOnceAndLeavesNothing() {
        let user = "pss-test-fsize"
        LocalAccount.ensure(user, password: "fsize-password", shell: "/bin/bash")
        defer { LocalAccount.remove(user) }
        let home = String(cString: getpwnam(user)!.pointee.pw_dir)
        shell("echo 'ulimit -f 1024' > '\(home)/.bashrc' && chown \(user): '\(home)/.bashrc'")
        let server = SSHServer()
        let client = ClientMachine(loggingInAs: user, to: server)
        let result = client.pss(["invoke", "--host", "h", "--", "true"], limit: 60)
        XCTAssertFalse(result.timedOut, "the upload does not wait for a window that never opens")
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("uploading the helper"), result.stderrText)
        let bin = home + "/.local/state/pss-host/bin"
        XCTAssertEqual(
            ((try? FileManager.default.contentsOfDirectory(atPath: bin)) ?? []).filter { $0.hasPrefix(".upload-") }, [],
            "the partial upload is removed")
    }

    /// What a host prints before pss's script, with no newline of its own, is skipped all the same; a host that
    /// never runs the script (a ForceCommand) is said so, never a crash.
    func testGreetingWithoutNewlineAndAForcedCommand() {
        var options = SSHServer.Options()
        options.extraConfig = ["Match User root", "    ForceCommand printf 'Welcome, no newline'"]
        let forced = SSHServer(options)
        let client = ClientMachine(servers: ["h": forced])
        let result = client.pss(["invoke", "--host", "h", "--", "true"])
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("did not run pss's script"), result.stderrText)
    }

    func testUnusableHostDirectoryGivesAClearError() {
        let scratch = Scratch("blocked")
        let blocker = scratch.write("not-a-directory", "a file where the host directory should be\n")
        var options = SSHServer.Options()
        options.hostDirectory = blocker + "/pss-host"
        let server = SSHServer(options)
        let client = ClientMachine(servers: ["h": server])
        let result = client.pss(["invoke", "--host", "h", "--", "true"])
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("host directory"), result.stderrText)
        XCTAssertTrue(result.stderrText.contains(blocker), result.stderrText)
    }
}

/// A full host directory: a small tmpfs (the tests run as root, as in CI).
final class FullHostDirectoryTests: XCTestCase {
    /// A host whose PSS_HOST_DIR lies on a tmpfs of `megabytes` (mounted at a neutral name: "mnt"), and a client
    /// of it.
    private func withHostOnTmpfs(megabytes: Int, options: [String] = [], _ body: (_ mountPoint: String, _ client: ClientMachine) -> Void) {
        let tmpfs = Tmpfs(megabytes: megabytes, options: options)
        var options = SSHServer.Options()
        options.hostDirectory = tmpfs.path + "/pss-host"
        let server = SSHServer(options)
        body(tmpfs.path, ClientMachine(servers: ["h": server]))
    }

    func testTooLittleSpaceForTheHelperIsSaidPlainly() {
        withHostOnTmpfs(megabytes: 4) { mountPoint, client in
            let result = client.pss(["invoke", "--host", "h", "--", "true"])
            XCTAssertEqual(result.status, 255, "\(result)")
            XCTAssertTrue(result.stderrText.contains("KiB free; the helper needs"), result.stderrText)
            XCTAssertEqual(
                (try? FileManager.default.contentsOfDirectory(atPath: mountPoint + "/pss-host/bin")) ?? [], [],
                "no partial upload is left behind")
        }
    }

    /// A host directory where programs cannot run: found before anything is uploaded, and said with the mount.
    func testNoexecMountIsSaidPlainly() {
        withHostOnTmpfs(megabytes: 24, options: ["noexec"]) { mountPoint, client in
            let result = client.pss(["invoke", "--host", "h", "--", "true"])
            XCTAssertEqual(result.status, 255, "\(result)")
            XCTAssertTrue(result.stderrText.contains("is on a noexec mount, \(mountPoint) ("), result.stderrText)
            XCTAssertTrue(result.stderrText.contains("PSS_HOST_DIR"), result.stderrText)
            XCTAssertEqual(
                (try? FileManager.default.contentsOfDirectory(atPath: mountPoint + "/pss-host/bin")) ?? [], [],
                "nothing is uploaded")
        }
    }

    func testReadOnlyMountIsSaidPlainly() {
        withHostOnTmpfs(megabytes: 4, options: ["ro"]) { mountPoint, client in
            let result = client.pss(["invoke", "--host", "h", "--", "true"])
            XCTAssertEqual(result.status, 255, "\(result)")
            XCTAssertTrue(result.stderrText.contains("Read-only file system"), result.stderrText)
            XCTAssertTrue(result.stderrText.contains("on \(mountPoint) (ro"), result.stderrText)
        }
    }

    func testFullDiskRefusesNewSessionsClearly() {
        withHostOnTmpfs(megabytes: 24) { mountPoint, client in
            XCTAssertEqual(client.pss(["invoke", "--host", "h", "--", "true"]).status, 0, "the helper fits")
            shell("dd if=/dev/zero of='\(mountPoint)/filler' bs=1M count=64 2>/dev/null || true")
            let result = client.pss(["new", "h", "--name", "nospace"])
            XCTAssertEqual(result.status, 254, "\(result)")
            XCTAssertTrue(result.stderrText.contains("No space left on device"), result.stderrText)
            XCTAssertTrue(result.stderrText.contains(mountPoint), result.stderrText)
            XCTAssertFalse(result.timedOut)
        }
    }
}
