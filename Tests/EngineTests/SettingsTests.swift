import Foundation
import Platform
import ServiceRuntime
import Settings
import XCTest

/// Every setting is declared once, in `SettingsTable`; the reader and the shipped config follow it.
final class SettingsTests: XCTestCase {
    /// packaging/ctdeid.toml, installed as /etc/ctdeid/ctdeid.toml, is what the table says, word for word.
    func testTheShippedConfigIsTheOneTheTableGenerates() throws {
        let shipped = try String(contentsOf: repositoryRoot.appendingPathComponent("packaging/ctdeid.toml"), encoding: .utf8)
        XCTAssertEqual(shipped, CommentedConfig.text(packaged: true),
                       "packaging/ctdeid.toml differs from the settings table: regenerate it with `ctdeid config --packaged > packaging/ctdeid.toml`")
        for setting in SettingsTable.all {
            XCTAssertTrue(shipped.contains("\n\(setting.name) = "), "\(setting.key) is documented in the shipped config")
            if let packaged = setting.packagedValue { XCTAssertNil(setting.problem(with: packaged), setting.key) }
            XCTAssertNil(setting.problem(with: setting.defaultValue), "\(setting.key)'s default is one of its values")
        }
    }

    /// The generated file with the defaults changes nothing: it reads back as no file at all.
    func testTheGeneratedConfigReadsBackAsTheDefaults() throws {
        let folder = try temporaryDirectory()
        let file = folder.appendingPathComponent("ctdeid.toml")
        try CommentedConfig.text(packaged: false).write(to: file, atomically: true, encoding: .utf8)
        let written = try SettingValues(file: file, overrides: [:])
        let builtIn = try SettingValues(file: nil, overrides: [:])
        for setting in SettingsTable.all {
            XCTAssertEqual(written.text(setting.key), builtIn.text(setting.key), setting.key)
        }
        // Relative paths in the file resolve against its folder.
        XCTAssertEqual(written.path("inbox").path, folder.appendingPathComponent("var/inbox").standardizedFileURL.path)
    }

    /// A bad value is refused naming where it came from, the key, the value and the values allowed.
    func testABadValueIsRefusedWithItsOriginKeyValueAndWhy() throws {
        func refusal(_ overrides: [String: String], file: URL? = nil) -> String? {
            do {
                _ = try SettingValues(file: file, overrides: overrides)
                return nil
            } catch {
                return error.reason
            }
        }
        XCTAssertEqual(refusal(["workers": "2.5"]), "flag --workers: workers = \"2.5\": not a whole number")
        XCTAssertEqual(refusal(["settle_seconds": "-1"]), "flag --settle-seconds: settle_seconds = \"-1\": must be between 0 and 86400")
        XCTAssertEqual(refusal(["after_delivery": "archive"]),
                       "flag --after-delivery: after_delivery = \"archive\": must be keep (move the input to the done folder) or delete (remove it)")
        XCTAssertEqual(refusal(["keep_names": "maybe"]), "flag --keep-names: keep_names = \"maybe\": must be true or false")
        XCTAssertNil(refusal(["keep_names": "yes", "deface": "off", "watch": "poll"]))
        let file = try temporaryDirectory().appendingPathComponent("c.toml")
        try "deface = \"blur\"\n".write(to: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(refusal([:], file: file)?.hasPrefix("config file \(file.path): deface = \"blur\": must be remove"), true)
        try "defaec = \"off\"\n".write(to: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(refusal([:], file: file)?.contains("unknown key 'defaec'"), true)
    }

    /// Each choice the table offers is one the service understands.
    func testEveryChoiceOfTheTableLoads() throws {
        let root = try temporaryDirectory()
        var trees: [String: String] = [:]
        for setting in SettingsTable.all {
            if case .path = setting.kind { trees[setting.key] = root.appendingPathComponent(setting.key).path }
        }
        for setting in SettingsTable.all {
            guard case .choice(let choices) = setting.kind else { continue }
            for choice in choices {
                XCTAssertNoThrow(try ServiceConfiguration.load(file: nil, overrides: trees.merging([setting.key: choice.value]) { $1 }),
                                 "\(setting.key) = \(choice.value)")
            }
        }
    }
}
