extension HostList {
    /// `targets` written back as a host list, as `dshbak -c` and `clush -b` head a group: names that differ in one
    /// number fold into a range (`web01 web02 web03 web07` → `web[01-03,07]`), on the last number that differs when
    /// several do. Expanding the result gives the same targets (in numeric order within a range).
    public static func fold(_ targets: [String]) -> String {
        let names = targets.map(NumberedName.init)
        // For each shape (the text around the numbers), the last run of digits that differs among its names.
        var shapes: [[String]: [String]] = [:]
        var varying: [[String]: Int] = [:]
        for name in names where name.isFoldable {
            guard let first = shapes[name.texts] else {
                shapes[name.texts] = name.runs
                continue
            }
            if let run = (0..<first.count).last(where: { first[$0] != name.runs[$0] }) {
                varying[name.texts] = max(varying[name.texts] ?? run, run)
            }
        }
        var groups: [FoldKey: [Int]] = [:]  // key → indexes into `names`
        var order: [FoldKey] = []
        for (index, name) in names.enumerated() {
            let key = FoldKey(name: name, varying: name.isFoldable ? varying[name.texts] : nil)
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(index)
        }
        return order.map { key in
            let members = groups[key]!.map { names[$0] }
            guard let run = key.varying, members.count > 1 else { return members.map(\.text).joined(separator: ",") }
            let values = members.map { $0.runs[run] }
            return members[0].text(replacingRun: run, with: "[" + ranges(values) + "]")
        }.joined(separator: ",")
    }

    /// Numbers as bracket items: consecutive ones as `A-B`; zero-padded ones kept apart from the others, at their
    /// width (a number as wide as a padded one, without a leading zero, joins it: `08-10`).
    static func ranges(_ values: [String]) -> String {
        let paddedWidths = Set(values.filter(isPadded).map(\.count))
        var classes: [Int: Set<Int>] = [:]  // width (0: not padded) → numbers
        for value in values {
            let width = isPadded(value) || paddedWidths.contains(value.count) ? value.count : 0
            classes[width, default: []].insert(Int(value)!)
        }
        var items: [String] = []
        for width in classes.keys.sorted() {
            let write = { (number: Int) -> String in
                let digits = String(number)
                return String(repeating: "0", count: max(0, width - digits.count)) + digits
            }
            let numbers = classes[width]!.sorted()
            var start = numbers[0], end = numbers[0]
            for number in numbers.dropFirst() + [Int.min] {
                if number == end + 1 {
                    end = number
                    continue
                }
                items.append(start == end ? write(start) : write(start) + "-" + write(end))
                (start, end) = (number, number)
            }
        }
        return items.joined(separator: ",")
    }

    private static func isPadded(_ value: String) -> Bool { value.count > 1 && value.hasPrefix("0") }

    /// Which names fold together: the same text around the numbers, the same numbers but the varying one.
    private struct FoldKey: Hashable {
        var texts: [String]
        var otherRuns: [String]
        var varying: Int?

        init(name: NumberedName, varying: Int?) {
            self.varying = varying
            guard let varying else {
                (texts, otherRuns) = ([name.text], [])
                return
            }
            texts = name.texts
            otherRuns = name.runs.enumerated().map { $0.offset == varying ? "" : $0.element }
        }
    }

    /// A target split into its runs of digits and the text around them (`rack1-node02`: "rack", 1, "-node", 02, "").
    private struct NumberedName {
        var text: String
        var texts: [String] = [""]
        var runs: [String] = []

        init(_ text: String) {
            self.text = text
            for character in text {
                if character.isASCII && character.isNumber {
                    if texts.count == runs.count + 1 { runs.append("") }
                    runs[runs.count - 1].append(character)
                } else {
                    if texts.count == runs.count { texts.append("") }
                    texts[texts.count - 1].append(character)
                }
            }
            if texts.count == runs.count { texts.append("") }
        }

        /// Brackets and commas already mean something in a host list; numbers too long for Int are left alone.
        var isFoldable: Bool {
            !text.contains("[") && !text.contains(",") && runs.allSatisfy { $0.count <= 18 }
        }

        func text(replacingRun index: Int, with replacement: String) -> String {
            var result = ""
            for (position, text) in texts.enumerated() {
                result += text
                if position < runs.count { result += position == index ? replacement : runs[position] }
            }
            return result
        }
    }
}
