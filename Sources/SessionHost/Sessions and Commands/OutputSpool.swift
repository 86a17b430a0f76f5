import Glibc
import SessionWire

/// One stream of a command (stdout or stderr): the pipe the command writes, and the spool file the daemon appends
/// to. Offsets count bytes from the stream's start. Three marks move along it: `written` (spooled), `sent` (the
/// cursor of the client streaming it now) and `acked` (what a client confirmed it has: block buffering waits on it,
/// and a new receiver starts there). With drop buffering, everything before `droppedUntil` is gone.
///
/// `written` is always what the file holds. When the file takes less than was read (a full disk, a quota), the rest
/// is held in memory and the pipe is not read again until it is written: the command blocks on its full pipe, as
/// under block buffering, and nothing is skipped or shifted. A spool found shorter than its record is `damaged`,
/// and said so, never waited on.
final class OutputSpool {
    let stream: HostMessage.Stream
    let path: String
    /// Opened while needed: a finished command kept as a job holds no descriptor. Output just spooled is sent
    /// from it (`ClientLink.sendOutput(from:)`).
    private(set) var file: Int32 = -1
    var pipe: Int32
    private(set) var written: UInt64 = 0
    var sent: UInt64 = 0
    var acked: UInt64 = 0
    /// `acked` as the job's record on disk has it (saved every few MiB: `CommandRun.acknowledgementsWorthSaving`).
    var savedAcked: UInt64 = 0
    private(set) var droppedUntil: UInt64 = 0
    /// Output whose disk blocks were freed (acknowledged, or dropped): never read again.
    private var freedUntil: UInt64 = 0
    /// Read from the pipe, not yet taken by the file (at most one read's worth).
    private var held: [UInt8] = []
    /// Why the file last refused output (`No space left on device`), while output is held.
    private(set) var writeFailure: String?
    /// The spool cannot give what its record promises (shorter than recorded, missing, not a regular file).
    private(set) var damage: String?
    /// The file could not be opened for want of descriptors or memory: tried again later, not damage.
    private(set) var cannotOpenNow = false

    init(stream: HostMessage.Stream, path: String, pipe: Int32) throws {
        self.stream = stream
        self.path = path
        self.pipe = pipe
        file = open(path, O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0o600)
        try Posix.check(file, "create \(path)")
        Posix.setNonBlocking(pipe)
    }

    /// A spool left by an earlier daemon: its file is all there is.
    init(loading stream: HostMessage.Stream, path: String, acked: UInt64, droppedUntil: UInt64) {
        self.stream = stream
        self.path = path
        pipe = -1
        var info = stat()
        if lstat(path, &info) == 0 {
            if info.st_mode & S_IFMT == S_IFREG { written = UInt64(info.st_size) } else { damage = "\(path) is not a regular file" }
        }
        // Blocks freed after the record was last saved (acknowledged or dropped since) are holes: a receiver
        // starts at the first byte still there, never in a hole.
        let firstByte = min(Self.firstByte(of: path), written)
        self.acked = min(max(acked, firstByte), written)
        savedAcked = self.acked
        self.droppedUntil = min(droppedUntil, written)
        sent = self.acked
    }

    /// The offset of the file's first byte that is not in a hole (its size when it is all hole); 0 where the
    /// file system cannot tell.
    private static func firstByte(of path: String) -> UInt64 {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        let offset = lseek(fd, 0, 3 /* SEEK_DATA */)
        if offset >= 0 { return UInt64(offset) }
        var info = stat()
        return errno == ENXIO && fstat(fd, &info) == 0 ? UInt64(info.st_size) : 0
    }

    var isOpen: Bool { pipe >= 0 }
    var isHolding: Bool { !held.isEmpty }
    var unacknowledged: UInt64 { written - max(acked, droppedUntil) }

    private func openFile() -> Int32 {
        if file < 0 && damage == nil {
            file = open(path, O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0o600)
            let code = errno
            cannotOpenNow = file < 0 && (code == EMFILE || code == ENFILE || code == ENOMEM || code == EINTR)
            if file < 0 && !cannotOpenNow { damage = "cannot open \(path): \(String(cString: strerror(code)))" }
        }
        return file
    }

    /// Appends what the file takes of `bytes`; returns how many it took. A refusal is remembered in `writeFailure`.
    private func append(_ bytes: ArraySlice<UInt8>) -> Int {
        let fd = openFile()
        guard fd >= 0 else { return 0 }
        var stored = 0
        while stored < bytes.count {
            let count = bytes[(bytes.startIndex + stored)...].withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
            if count > 0 { stored += count; continue }
            if count < 0 && errno == EINTR { continue }
            writeFailure = count < 0 ? String(cString: strerror(errno)) : "the file took no more"
            break
        }
        written += UInt64(stored)
        if stored == bytes.count { writeFailure = nil }
        return stored
    }

    /// Writes held output if the file takes it now; true when nothing is held any more.
    @discardableResult
    func retryHeld() -> Bool {
        guard !held.isEmpty else { return true }
        let stored = append(held[...])
        held.removeFirst(stored)
        return held.isEmpty
    }

    /// Moves what the pipe holds into the spool, up to `limit` bytes; closes the pipe at its end. When `deliver`
    /// is given and every earlier byte has been sent, each chunk's range (offset, count) is also handed to it once
    /// spooled, and counts as sent if it returns true: a client that keeps up gets it from the file at once.
    @discardableResult
    func drain(
        using buffer: inout [UInt8], limit: Int = 1 << 20,
        deliver: ((UInt64, Int) -> Bool)? = nil,
        watch: ((ArraySlice<UInt8>) -> Void)? = nil
    ) -> Int {
        guard retryHeld() else { return 0 }
        var moved = 0
        while pipe >= 0, moved < limit {
            let count = read(pipe, &buffer, min(buffer.count, limit - moved))
            if count > 0 {
                let start = written
                let stored = append(buffer[0..<count])
                if stored > 0 { watch?(buffer[0..<stored]) }
                if stored > 0, let deliver, sent == start, deliver(start, stored) { sent += UInt64(stored) }
                moved += count
                if stored < count {
                    held = Array(buffer[stored..<count])
                    break
                }
            } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                close(pipe)
                pipe = -1
            } else if errno == EAGAIN {
                break
            }
        }
        return moved
    }

    /// Drop buffering: lets go of the oldest output beyond `keep` bytes (the disk blocks are freed; offsets stay).
    /// `beforeFreeing` is told where the blocks are about to be freed up to.
    func dropOldest(keeping keep: UInt64, beforeFreeing: (UInt64) -> Void) {
        guard written > keep, written - keep > droppedUntil else { return }
        droppedUntil = written - keep
        free(below: droppedUntil, beforeFreeing: beforeFreeing)
    }

    /// Frees the blocks of output acknowledged and already sent, so a long stream a client keeps up with occupies
    /// a few MiB of page cache, not its length, and never has to be written back to the disk.
    /// `finely`: in pages rather than folios, when the disk is full and no link's pipe can hold any of it (see
    /// `freeingUnit`): acknowledged output is then space for the held output, whatever its size.
    func releaseAcknowledged(beforeFreeing: (UInt64) -> Void, finely: Bool = false) {
        free(below: min(acked, sent), unit: finely ? Self.pageSize : Self.freeingUnit, beforeFreeing: beforeFreeing)
    }

    static let pageSize = UInt64(max(4096, sysconf(Int32(_SC_PAGESIZE))))

    /// Blocks are freed in whole units of the largest page-cache folio (the PMD size: 2 MiB on x86-64; without
    /// transparent huge pages, folios are single pages). Output
    /// goes out spliced from the page cache (`ClientLink.sendOutput`), and may still sit in sshd's pipe as
    /// references to its folios when it is freed (a client taking over from one whose connection stalls): a punch
    /// through part of a folio zeroes that part, which the pipe would then deliver, while whole folios only leave
    /// the cache, their bytes intact. What is still queued to be spliced is read into memory first (`beforeFreeing`).
    static let freeingUnit: UInt64 = {
        let text = Posix.readFile("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", limit: 4096).map { String(decoding: $0, as: UTF8.self) }
        let size = text.flatMap { UInt64($0.split(separator: "\n").first ?? "") } ?? 0
        return size >= 4096 && size & (size - 1) == 0 ? size : 2 << 20
    }()

    /// Splicing needs units small enough to free output as it is acknowledged (arm64 with 64 KiB pages has
    /// 512 MiB ones): larger, output is copied through memory instead.
    static var splicesOutput: Bool { freeingUnit <= 32 << 20 }

    private func free(below end: UInt64, unit: UInt64 = freeingUnit, beforeFreeing: (UInt64) -> Void) {
        let until = end & ~(unit - 1)
        guard until > freedUntil else { return }
        beforeFreeing(until)
        // From a unit's start: after pages were freed on a full disk, the next folio-sized punch starts at a folio
        // (punching again what is a hole already), never through part of one.
        let from = freedUntil & ~(unit - 1)
        _ = glibcFallocate(
            openFile(), 0x01 | 0x02 /* FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE */,
            off_t(from), off_t(until - from))
        freedUntil = until
    }

    /// The next range not yet sent, at most `limit` bytes, to be sent from the file itself (no read back into
    /// memory); it counts as sent. A cursor in dropped output must first be moved past it (`skipDropped`). The
    /// file's size is checked first, so that no frame announces bytes the spool does not have: a file that ends
    /// before `written` marks the spool damaged.
    func nextRange(limit: Int) -> (offset: UInt64, count: Int)? {
        guard sent < written, sent >= droppedUntil, damage == nil else { return nil }
        let fd = openFile()
        guard fd >= 0 else { return nil }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return markShort(at: sent, errno) }
        guard UInt64(info.st_size) >= written else { return markShort(at: UInt64(info.st_size), 0) }
        let count = Int(min(UInt64(limit), written - sent))
        defer { sent += UInt64(count) }
        return (sent, count)
    }

    private func markShort<T>(at end: UInt64, _ code: Int32) -> T? {
        damage =
            "the \(stream == .stdout ? "stdout" : "stderr") spool \(path) ends at byte \(end) of \(written) recorded"
            + (code != 0 ? " (\(String(cString: strerror(code))))" : "")
        return nil
    }

    /// Moves the cursor past dropped output; returns the range skipped, if any.
    func skipDropped() -> (from: UInt64, to: UInt64)? {
        guard sent < droppedUntil else { return nil }
        defer { sent = droppedUntil }
        return (sent, droppedUntil)
    }

    func closeFile() {
        if file >= 0 { close(file); file = -1 }
        cannotOpenNow = false  // tried again when next needed
    }

    func closeAll() {
        if pipe >= 0 { close(pipe); pipe = -1 }
        closeFile()
    }
}
