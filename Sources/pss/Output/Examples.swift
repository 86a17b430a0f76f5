/// The Examples section at the end of a command's help (and of its part of the manual page): each example a comment
/// line and a command line, so that nothing wraps at 80 columns.
enum Examples {
    static func section(_ examples: KeyValuePairs<String, String>) -> String {
        "\n\nExamples:\n" + examples.map { "  # \($0.key)\n  \($0.value)" }.joined(separator: "\n")
    }
}
