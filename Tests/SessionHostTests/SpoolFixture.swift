import Glibc
@testable import SessionHost
import XCTest

/// A spool holding `bytes` at `path`, fed through a real pipe as a command's output is, then the pipe's end; the
/// spool's file stays open.
func spool(with bytes: [UInt8], at path: String) throws -> OutputSpool {
    var ends: [Int32] = [0, 0]
    XCTAssertEqual(pipe(&ends), 0)
    let spool = try OutputSpool(stream: .stdout, path: path, pipe: ends[0])
    var buffer = [UInt8](repeating: 0, count: 4096)
    for start in stride(from: 0, to: bytes.count, by: 4096) {
        let count = min(4096, bytes.count - start)
        XCTAssertEqual(bytes[start..<(start + count)].withUnsafeBytes { write(ends[1], $0.baseAddress!, count) }, count)
        spool.drain(using: &buffer)
    }
    close(ends[1])
    spool.drain(using: &buffer)
    XCTAssertFalse(spool.isOpen)
    return spool
}
