import CLibSSH2
import Foundation

/// What pss needs to know about a private key file before handing it to libssh2: its key type (RSA cannot work
/// against OpenSSH 8.8+ with libssh2 1.10) and whether it needs a passphrase. Read from the file's bytes, which the
/// caller holds in a `Secret`: only the header is decoded, into a buffer wiped after.
struct PrivateKeyFile: Equatable {
    enum Kind: Equatable { case ed25519, ecdsa, rsa, dsa, other(String), unknown }

    var kind: Kind
    var isEncrypted: Bool

    init(kind: Kind, isEncrypted: Bool) {
        self.kind = kind
        self.isEncrypted = isEncrypted
    }

    init?(contents: String) {
        let bytes = Array(contents.utf8)
        guard let parsed = bytes.withUnsafeBufferPointer(PrivateKeyFile.init(bytes:)) else { return nil }
        self = parsed
    }

    init?(bytes: UnsafeBufferPointer<UInt8>) {
        let encrypted = Self.find("ENCRYPTED", in: bytes) != nil
        if let start = Self.find("-----BEGIN OPENSSH PRIVATE KEY-----", in: bytes) {
            guard let parsed = Self.openSSH(UnsafeBufferPointer(rebasing: bytes[(start + 35)...])) else { return nil }
            self = parsed
        } else if Self.find("-----BEGIN RSA PRIVATE KEY-----", in: bytes) != nil {
            self.init(kind: .rsa, isEncrypted: encrypted)
        } else if Self.find("-----BEGIN EC PRIVATE KEY-----", in: bytes) != nil {
            self.init(kind: .ecdsa, isEncrypted: encrypted)
        } else if Self.find("-----BEGIN DSA PRIVATE KEY-----", in: bytes) != nil {
            self.init(kind: .dsa, isEncrypted: encrypted)
        } else if Self.find("-----BEGIN ENCRYPTED PRIVATE KEY-----", in: bytes) != nil {
            self.init(kind: .unknown, isEncrypted: true)
        } else if Self.find("-----BEGIN PRIVATE KEY-----", in: bytes) != nil {
            self.init(kind: .unknown, isEncrypted: false)
        } else {
            return nil
        }
    }

    private static func find(_ text: String, in bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        let needle = Array(text.utf8)
        guard bytes.count >= needle.count else { return nil }
        for index in 0...(bytes.count - needle.count) where bytes[index] == needle[0] {
            if (0..<needle.count).allSatisfy({ bytes[index + $0] == needle[$0] }) { return index }
        }
        return nil
    }

    /// openssh-key-v1: magic, cipher name, kdf name, kdf options, key count, then the (unencrypted) public key,
    /// whose first field is the key type. `body` starts after the BEGIN line.
    private static func openSSH(_ body: UnsafeBufferPointer<UInt8>) -> PrivateKeyFile? {
        // The header and the public key fit in the first kilobyte or so (an RSA-8192 public key is about 1 KiB).
        let decoded = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 1536)
        defer { pss_wipe(decoded.baseAddress, decoded.count); decoded.deallocate() }
        let count = decodeBase64(body, into: decoded)
        var reader = SSHBufferReader(bytes: Array(decoded[0..<count]))
        defer { reader.wipe() }
        guard reader.readMagic("openssh-key-v1\0"),
            let cipher = reader.readString(),
            reader.readString() != nil, reader.readString() != nil,
            reader.readUInt32() != nil,
            let publicKey = reader.readString()
        else { return nil }
        let type = HostKey.typeName(ofBlob: publicKey) ?? ""
        let kind: Kind
        switch type {
        case "ssh-ed25519": kind = .ed25519
        case let t where t.hasPrefix("ecdsa-sha2-"): kind = .ecdsa
        case "ssh-rsa": kind = .rsa
        case "ssh-dss": kind = .dsa
        default: kind = .other(type)
        }
        return PrivateKeyFile(kind: kind, isEncrypted: String(decoding: cipher, as: UTF8.self) != "none")
    }

    /// Decodes base64 from `text` (whitespace skipped, stopping at `-`, the END line, or a full `output`).
    static func decodeBase64(_ text: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>) -> Int {
        var written = 0
        var accumulator: UInt32 = 0
        var bits = 0
        for byte in text {
            let value: UInt32
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = UInt32(byte - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = UInt32(byte - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = UInt32(byte - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "+"): value = 62
            case UInt8(ascii: "/"): value = 63
            case UInt8(ascii: "-"), UInt8(ascii: "="): return written
            default: continue
            }
            accumulator = accumulator << 6 | value
            bits += 6
            if bits >= 8 {
                bits -= 8
                guard written < output.count else { return written }
                output[written] = UInt8(truncatingIfNeeded: accumulator >> UInt32(bits))
                written += 1
            }
        }
        accumulator = 0
        return written
    }
}

/// Reads SSH wire encodings (RFC 4251 uint32 and string).
struct SSHBufferReader {
    private(set) var bytes: [UInt8]
    var offset = 0

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    mutating func readMagic(_ magic: String) -> Bool {
        let expected = Array(magic.utf8)
        guard bytes.count >= offset + expected.count, Array(bytes[offset..<offset + expected.count]) == expected else {
            return false
        }
        offset += expected.count
        return true
    }

    mutating func readUInt32() -> UInt32? {
        guard bytes.count >= offset + 4 else { return nil }
        defer { offset += 4 }
        return bytes[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// Overwrites what this reader holds (a key's header may sit beside its private part).
    mutating func wipe() {
        bytes.withUnsafeMutableBytes { pss_wipe($0.baseAddress, $0.count) }
    }

    mutating func readString() -> [UInt8]? {
        guard let length = readUInt32().map(Int.init), bytes.count >= offset + length else { return nil }
        defer { offset += length }
        return Array(bytes[offset..<offset + length])
    }
}
