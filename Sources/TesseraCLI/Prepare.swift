import ArgumentParser
struct Prepare: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Prepare a dataset.")
    func run() throws {}
}
