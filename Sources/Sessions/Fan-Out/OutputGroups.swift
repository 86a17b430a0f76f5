/// Targets that gave the same output, as `dshbak -c` and `clush -b` show them: each distinct output once, under
/// its targets folded into a host list.
public struct OutputGroup: Equatable {
    /// The targets, folded (`web[01-03,07]`).
    public var targets: String
    public var count: Int
    public var output: [UInt8]

    /// Groups in the order their first target comes; targets with no output at all are left out.
    public static func grouping(_ outputs: [(target: String, output: [UInt8])]) -> [OutputGroup] {
        var members: [[UInt8]: [String]] = [:]
        var order: [[UInt8]] = []
        for (target, output) in outputs where !output.isEmpty {
            if members[output] == nil { order.append(output) }
            members[output, default: []].append(target)
        }
        return order.map { OutputGroup(targets: HostList.fold(members[$0]!), count: members[$0]!.count, output: $0) }
    }

    /// The group as printed: a rule, the targets and their count, a rule, the output (ending with a newline).
    public var text: [UInt8] {
        let header = "\(targets) (\(count))"
        let rule = String(repeating: "-", count: min(max(header.count, 15), 78))
        var bytes = Array("\(rule)\n\(header)\n\(rule)\n".utf8) + output
        if bytes.last != 0x0A { bytes.append(0x0A) }
        return bytes
    }
}
