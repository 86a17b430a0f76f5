import Foundation
import Glibc

/// Reads another process's writable memory (/proc/PID/maps and /proc/PID/mem, as root may) to find a byte string.
public enum MemoryScan {
    /// The addresses where `needle` occurs in the writable mappings of `pid`.
    public static func contains(pid: pid_t, _ needle: [UInt8]) -> [String] {
        guard let maps = try? String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8) else { return ["(no maps)"] }
        let memory = open("/proc/\(pid)/mem", O_RDONLY)
        guard memory >= 0 else { return ["(cannot open mem: \(String(cString: strerror(errno))))"] }
        defer { close(memory) }
        var found: [String] = []
        for line in maps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, fields[1].hasPrefix("rw") else { continue }
            let range = fields[0].split(separator: "-").compactMap { UInt64($0, radix: 16) }
            guard range.count == 2, range[1] > range[0], range[1] - range[0] < 1 << 30 else { continue }
            var bytes = [UInt8](repeating: 0, count: Int(range[1] - range[0]))
            let got = bytes.withUnsafeMutableBytes { pread(memory, $0.baseAddress, $0.count, off_t(Int64(bitPattern: range[0]))) }
            guard got > 0 else { continue }
            var index = 0
            while index + needle.count <= got {
                if bytes[index] == needle[0], Array(bytes[index..<index + needle.count]) == needle {
                    found.append("\(fields.dropFirst(5).joined(separator: " ")) +\(index)")
                }
                index += 1
            }
        }
        return found
    }
}
