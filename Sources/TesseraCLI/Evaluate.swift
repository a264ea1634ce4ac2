import ArgumentParser
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Evaluate masks.")
    func run() throws {}
}
