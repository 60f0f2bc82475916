import XCTest
import Foundation
import TestSupport

/// A test of the built `filmrestore` binary in a temporary folder of its own.
class CLITestCase: XCTestCase {
    var dir: TempDir!
    /// The temporary folder's name prefix.
    class var folderPrefix: String { "cli" }
    override func setUp() { dir = TempDir(Self.folderPrefix) }
    override func tearDown() { dir.remove() }

    @discardableResult
    func cli(_ args: [String]) throws -> ProcessResult { try runProcess(CLITests.binary, args) }
}
