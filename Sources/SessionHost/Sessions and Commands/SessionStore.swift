import Glibc
import SessionWire

/// Session records on disk (`sessions-v<N>/<id>/record`), so that they outlive the daemon: a daemon that starts and
/// finds records whose shells are gone shows them as Broken, their spooled output still there.
///
/// The format is `KeyValueFile`.
struct SessionStore {
    let paths: HostPaths

    func save(_ record: SessionRecord) throws {
        let fields: [(String, String)] = [
            ("id", record.id), ("name", record.name), ("owner", record.owner), ("state", record.state.rawValue),
            ("heldBy", record.heldBy), ("createdAt", String(record.createdAt)),
            ("idleTimeoutSeconds", String(record.idleTimeoutSeconds)), ("outputBuffering", record.outputBuffering.rawValue),
            ("maxBuffer", String(record.maxBuffer)), ("command", record.command), ("temporary", record.temporary ? "1" : "0"),
            ("configuration", record.configuration), ("runAs", record.runAs), ("restricted", record.restricted ? "1" : "0"),
        ]
        try KeyValueFile.write(paths.session(record.id) + "/record", fields)
    }

    /// The record of the session in `sessions-v<N>/<id>/`, or nil (with a line in the daemon's log) when there is none
    /// that can be trusted: the directory's name is the session's id, and a record naming another id is ignored,
    /// since ids become paths.
    func load(_ id: String) -> SessionRecord? {
        let directory = paths.session(id)
        var info = stat()
        guard lstat(directory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            HostDaemon.log("ignoring \(directory): not a directory")
            return nil
        }
        guard let fields = KeyValueFile.read(directory + "/record") else {
            HostDaemon.log("ignoring \(directory): no readable record")
            return nil
        }
        guard fields["id"] == id else {
            HostDaemon.log("ignoring \(directory): its record names session '\((fields["id"] ?? "").debugDescription)'")
            return nil
        }
        guard let name = fields["name"], SessionName.problem(with: name) == nil, let owner = fields["owner"],
            let state = fields["state"].flatMap(SessionRecord.State.init(rawValue:)),
            let createdAt = fields["createdAt"].flatMap({ Int64($0) }),
            let idle = fields["idleTimeoutSeconds"].flatMap({ UInt32($0) }),
            let buffering = fields["outputBuffering"].flatMap(SessionRecord.OutputBuffering.init(rawValue:)),
            let maxBuffer = fields["maxBuffer"].flatMap({ UInt64($0) })
        else {
            HostDaemon.log("ignoring \(directory): its record is damaged")
            return nil
        }
        return SessionRecord(
            id: id, name: name, owner: owner, state: state, heldBy: fields["heldBy"] ?? "",
            createdAt: createdAt, idleTimeoutSeconds: idle, outputBuffering: buffering,
            maxBuffer: maxBuffer, command: fields["command"] ?? "", temporary: fields["temporary"] == "1",
            configuration: fields["configuration"] ?? "", runAs: fields["runAs"] ?? "", restricted: fields["restricted"] == "1")
    }

    func loadAll() -> [SessionRecord] {
        Posix.directoryEntries(paths.sessions).filter(SessionName.isID).compactMap(load)
    }
}
