import CLibSSH2
import Foundation

/// A server's host key as received in the handshake.
public struct HostKey: Sendable, Equatable {
    public enum Algorithm: String, Sendable, CaseIterable {
        case ed25519 = "ssh-ed25519"
        case ecdsa256 = "ecdsa-sha2-nistp256"
        case ecdsa384 = "ecdsa-sha2-nistp384"
        case ecdsa521 = "ecdsa-sha2-nistp521"
        case rsa = "ssh-rsa"
        case dss = "ssh-dss"

        init?(libssh2Type type: Int32) {
            switch type {
            case LIBSSH2_HOSTKEY_TYPE_ED25519: self = .ed25519
            case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: self = .ecdsa256
            case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: self = .ecdsa384
            case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: self = .ecdsa521
            case LIBSSH2_HOSTKEY_TYPE_RSA: self = .rsa
            case LIBSSH2_HOSTKEY_TYPE_DSS: self = .dss
            default: return nil
            }
        }

        /// The name ssh prints in messages: ED25519, ECDSA, RSA, DSA.
        public var displayName: String {
            switch self {
            case .ed25519: return "ED25519"
            case .ecdsa256, .ecdsa384, .ecdsa521: return "ECDSA"
            case .rsa: return "RSA"
            case .dss: return "DSA"
            }
        }
    }

    public var algorithm: Algorithm
    /// The key blob as sent on the wire (what known_hosts stores base64-encoded).
    public var blob: [UInt8]
    /// `SHA256:...` as ssh prints it: unpadded base64 of the blob's SHA-256.
    public var fingerprint: String

    public init(algorithm: Algorithm, blob: [UInt8], sha256: [UInt8]) {
        self.algorithm = algorithm
        self.blob = blob
        var text = Data(sha256).base64EncodedString()
        while text.hasSuffix("=") { text.removeLast() }
        self.fingerprint = "SHA256:" + text
    }

    /// The type a key blob names in its first field (`ssh-ed25519`, ...), as known_hosts and agents carry it.
    public static func typeName(ofBlob blob: [UInt8]) -> String? {
        var reader = SSHBufferReader(bytes: blob)
        return reader.readString().map { String(decoding: $0, as: UTF8.self) }
    }
}
