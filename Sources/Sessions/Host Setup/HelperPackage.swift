import CZlib
import Foundation

/// The helper as it travels to a host on first contact: compressed, then unpacked on the host and checked there by
/// size and SHA-256 against the helper itself before it is installed, so a package that is wrong in any way is
/// refused, never run. xz when the host can unpack it and an `.xz` lies beside the helper (scripts/install makes
/// it: a fifth of the helper); else gzip when the host has gzip, made here (zlib, a fraction of a second) and kept
/// in the client directory; else the helper as it is.
struct HelperPackage {
    enum Format: String {
        case xz, gzip, plain

        /// The host's command that writes the helper from the package on stdin to stdout.
        var unpackCommand: String? {
            switch self {
            case .xz: return "xz -dc"
            case .gzip: return "gzip -dc"
            case .plain: return nil
            }
        }
    }

    var format: Format
    var bytes: [UInt8]

    /// The package for a host that has the unpackers named in `unpackers` (`xz`, `gzip`).
    static func make(_ helper: HelperBinary, unpackers: Set<String>, state: ClientState) throws -> HelperPackage {
        if unpackers.contains("xz"), let packed = helper.sibling(".xz") { return HelperPackage(format: .xz, bytes: packed) }
        if unpackers.contains("gzip") {
            let cache = "helper-\(helper.sha256.prefix(16)).gz"
            if let packed = try? state.read(cache), isGzip(packed, of: helper) { return HelperPackage(format: .gzip, bytes: packed) }
            if let packed = gzip(try helper.contents()) {
                state.removeFiles { $0.hasPrefix("helper-") && $0.hasSuffix(".gz") && $0 != cache }  // earlier builds'
                try? state.write(cache, packed)
                return HelperPackage(format: .gzip, bytes: packed)
            }
        }
        return HelperPackage(format: .plain, bytes: try helper.contents())
    }

    /// gzip, level 6 (gzip's own default); nil if zlib fails.
    static func gzip(_ input: [UInt8]) -> [UInt8]? {
        var stream = z_stream()
        guard pss_gzip_init(&stream, 6) == Z_OK else { return nil }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 32)
        var input = input
        let status = input.withUnsafeMutableBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                stream.next_in = source.baseAddress
                stream.avail_in = uInt(source.count)
                stream.next_out = target.baseAddress
                stream.avail_out = uInt(target.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { return nil }
        return Array(output[0..<Int(stream.total_out)])
    }

    /// Whether `packed` is a gzip of the helper, as far as its trailer tells (CRC-32 and size): a cache file that
    /// is not is made again.
    static func isGzip(_ packed: [UInt8], of helper: HelperBinary) -> Bool {
        guard packed.count > 18, packed[0] == 0x1F, packed[1] == 0x8B, let contents = try? helper.contents() else { return false }
        let trailer = packed.suffix(8).map(UInt32.init)
        let crc = trailer[0] | trailer[1] << 8 | trailer[2] << 16 | trailer[3] << 24
        let size = trailer[4] | trailer[5] << 8 | trailer[6] << 16 | trailer[7] << 24
        let actual = contents.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
        return crc == actual && size == UInt32(truncatingIfNeeded: contents.count)
    }
}
