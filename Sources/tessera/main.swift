import Foundation
import TesseraCLI
import TesseraCore

ProcessSetup.configure()
// `--tile-size -256` would read as a flag named -256 ("Missing value"); joined into
// `--tile-size=-256`, the value reaches its range check like any other.
var arguments = Array(CommandLine.arguments.dropFirst())
var index = 0
while index + 1 < arguments.count {
    let (flag, value) = (arguments[index], arguments[index + 1])
    if flag.hasPrefix("--"), !flag.contains("="), value.range(of: #"^-[0-9][0-9.eE+-]*$"#, options: .regularExpression) != nil {
        arguments[index] = flag + "=" + value
        arguments.remove(at: index + 1)
    }
    index += 1
}
TesseraCommand.main(arguments)
