import ArgumentParser
import TesseraCore

/// The `tessera` root command.
public struct TesseraCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "tessera",
        abstract: "Batch image segmentation: prepare datasets, evaluate masks, and run segmentation models.",
        discussion: """
            Tessera is one native binary for the whole segmentation workflow on a CPU. libvips does \
            every pixel operation on images; OpenBLAS does the arithmetic of the networks.

            EXIT STATUS
              0   success
              1   nothing was produced (a missing folder, a bad settings file)
              2   finished, but some inputs failed (each named on stderr)
              64  usage error (an unknown flag, a value out of range)
            """,
        version: TesseraVersion.string,
        subcommands: [Prepare.self, Train.self, Search.self, Segment.self, Evaluate.self, Run.self, RecipeCommand.self, Models.self]
    )

    public init() {}
}

/// Tessera's exit statuses, as documented in the root command's help.
enum ExitStatus {
    /// Finished, but some inputs failed (each was named on standard error).
    static let partial = ExitCode(2)
}

/// A user-facing failure: what is wrong, where, and how to fix it, in one line.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs a library call, turning the library's errors into command-line errors (exit 1) with
/// their one-line descriptions.
func calling<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as SettingsErrors {
        throw CLIError("\(error)")
    } catch let error as ExitCode {
        throw error
    } catch let error as CLIError {
        throw error
    } catch {
        throw CLIError("\(error)")
    }
}
