import Foundation

/// What pss needs to know about a private key file before handing it to libssh2: its key type (RSA cannot work
/// against OpenSSH 8.8+ with libssh2 1.10) and whether it needs a passphrase.
struct PrivateKeyFile: Equatable {
    enum Kind: Equatable { case ed25519, ecdsa, rsa, dsa, other(String), unknown }

    var kind: Kind
    var isEncrypted: Bool

    init(kind: Kind, isEncrypted: Bool) {
        self.kind = kind
        self.isEncrypted = isEncrypted
    }

    init?(contents: String) {
        if contents.contains("-----BEGIN OPENSSH PRIVATE KEY-----") {
            guard let parsed = Self.openSSH(contents) else { return nil }
            self = parsed
        } else if contents.contains("-----BEGIN RSA PRIVATE KEY-----") {
            self.init(kind: .rsa, isEncrypted: contents.contains("ENCRYPTED"))
        } else if contents.contains("-----BEGIN EC PRIVATE KEY-----") {
            self.init(kind: .ecdsa, isEncrypted: contents.contains("ENCRYPTED"))
        } else if contents.contains("-----BEGIN DSA PRIVATE KEY-----") {
            self.init(kind: .dsa, isEncrypted: contents.contains("ENCRYPTED"))
        } else if contents.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            self.init(kind: .unknown, isEncrypted: true)
        } else if contents.contains("-----BEGIN PRIVATE KEY-----") {
            self.init(kind: .unknown, isEncrypted: false)
        } else {
            return nil
        }
    }

    /// openssh-key-v1: magic, cipher name, kdf name, kdf options, key count, then the (unencrypted) public key,
    /// whose first field is the key type.
    private static func openSSH(_ contents: String) -> PrivateKeyFile? {
        let body = contents.split(separator: "\n")
            .filter { !$0.hasPrefix("-----") }
            .joined()
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard let data = Data(base64Encoded: body) else { return nil }
        var reader = SSHBufferReader(bytes: [UInt8](data))
        guard reader.readMagic("openssh-key-v1\0"),
              let cipher = reader.readString(),
              reader.readString() != nil, reader.readString() != nil,
              reader.readUInt32() != nil,
              let publicKey = reader.readString()
        else { return nil }
        var keyReader = SSHBufferReader(bytes: publicKey)
        let type = keyReader.readString().map { String(decoding: $0, as: UTF8.self) } ?? ""
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
}

/// Reads SSH wire encodings (RFC 4251 uint32 and string).
struct SSHBufferReader {
    let bytes: [UInt8]
    var offset = 0

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

    mutating func readString() -> [UInt8]? {
        guard let length = readUInt32().map(Int.init), bytes.count >= offset + length else { return nil }
        defer { offset += length }
        return Array(bytes[offset..<offset + length])
    }
}
