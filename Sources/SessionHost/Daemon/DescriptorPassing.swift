import Glibc

/// Passing open descriptors over a Unix socket (SCM_RIGHTS), as tmux's client hands its terminal to the server.
/// The relay gives the daemon the SSH channel's pipes, so that bytes go between sshd and the daemon directly,
/// not through the relay, and with them the name of the user it acts for. (cmsghdr is laid out by hand: the CMSG_*
/// macros are not imported into Swift.)
enum DescriptorPassing {
    /// cmsghdr on 64-bit Linux: size_t cmsg_len, int cmsg_level, int cmsg_type, then the data.
    private static let headerSize = 16
    private static let rightsType: Int32 = 1  // SCM_RIGHTS

    /// The longest `words` a message carries (a user name, the configuration's).
    static let maximumWords = 256

    /// `words`: what the daemon is told with the descriptors (it trusts it: only this user can reach its socket).
    static func send(_ descriptors: [Int32], words: [UInt8], over socket: Int32) -> Bool {
        let dataSize = descriptors.count * 4
        var control = [UInt8](repeating: 0, count: (headerSize + dataSize + 7) / 8 * 8)
        control.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt64(headerSize + dataSize), toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: SOL_SOCKET, toByteOffset: 8, as: Int32.self)
            raw.storeBytes(of: rightsType, toByteOffset: 12, as: Int32.self)
            for (index, fd) in descriptors.enumerated() { raw.storeBytes(of: fd, toByteOffset: headerSize + 4 * index, as: Int32.self) }
        }
        var payload = [UInt8(ascii: "R")] + words.prefix(maximumWords)
        let count = payload.count
        return payload.withUnsafeMutableBytes { payloadBytes in
            control.withUnsafeMutableBytes { controlBytes in
                var vector = iovec(iov_base: payloadBytes.baseAddress, iov_len: count)
                return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                    var message = msghdr(
                        msg_name: nil, msg_namelen: 0, msg_iov: vectorPointer, msg_iovlen: 1,
                        msg_control: controlBytes.baseAddress, msg_controllen: controlBytes.count, msg_flags: 0)
                    return sendmsg(socket, &message, Int32(MSG_NOSIGNAL)) == count  // a peer gone is an answer, not a signal
                }
            }
        }
    }

    /// Receives descriptors and words sent with `send`; nil if the peer sent none (or nothing yet, on a
    /// non-blocking socket).
    static func receive(from socket: Int32) -> (descriptors: [Int32], words: [UInt8])? {
        var control = [UInt8](repeating: 0, count: 64)
        var payload = [UInt8](repeating: 0, count: 1 + maximumWords)
        let payloadSize = payload.count
        let (count, length) = payload.withUnsafeMutableBytes { payloadBytes in
            control.withUnsafeMutableBytes { controlBytes -> (Int, Int) in
                var vector = iovec(iov_base: payloadBytes.baseAddress, iov_len: payloadSize)
                return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                    var message = msghdr(
                        msg_name: nil, msg_namelen: 0, msg_iov: vectorPointer, msg_iovlen: 1,
                        msg_control: controlBytes.baseAddress, msg_controllen: controlBytes.count, msg_flags: 0)
                    let received = recvmsg(socket, &message, Int32(bitPattern: 0x4000_0000) /* MSG_CMSG_CLOEXEC */)
                    return (received, message.msg_controllen)
                }
            }
        }
        guard count >= 1, payload[0] == UInt8(ascii: "R"), length >= headerSize else { return nil }
        let (level, type, size) = control.withUnsafeBytes {
            (
                $0.load(fromByteOffset: 8, as: Int32.self), $0.load(fromByteOffset: 12, as: Int32.self),
                Int($0.load(fromByteOffset: 0, as: UInt64.self))
            )
        }
        guard level == SOL_SOCKET, type == rightsType, size > headerSize else { return nil }
        let descriptors = control.withUnsafeBytes { raw in
            (0..<(size - headerSize) / 4).map { raw.load(fromByteOffset: headerSize + 4 * $0, as: Int32.self) }
        }
        return (descriptors, Array(payload[1..<count]))
    }
}
