import Logging
import SSHClient

/// swift-log's stderr handler, with control characters in messages escaped: `-v` shows what servers say (their
/// banner, a helper's errors), and that text must not drive the terminal.
struct DisplaySafeLogHandler: LogHandler {
    private var wrapped: StreamLogHandler

    init(label: String) {
        wrapped = StreamLogHandler.standardError(label: label)
    }

    var logLevel: Logger.Level {
        get { wrapped.logLevel }
        set { wrapped.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { wrapped.metadata }
        set { wrapped.metadata = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { wrapped[metadataKey: key] }
        set { wrapped[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        event.message = "\(event.message.description.escapingControlCharacters(keepingNewlines: false))"
        wrapped.log(event: event)
    }
}
