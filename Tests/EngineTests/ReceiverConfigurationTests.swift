import Foundation
import Platform
@testable import Receiver
import Settings
import XCTest

/// The [receive] table: read from TOML (arrays of strings), checked at start, and the rules the
/// receiver decides by (who may store, where an instance goes).
final class ReceiverConfigurationTests: XCTestCase {
    func testTheReceiveTableIsReadAndCheckedAtStart() throws {
        let folder = try temporaryDirectory()
        let file = folder.appendingPathComponent("ctdeid.toml")
        try """
            inbox = "in"
            [receive]
            ae_title = "DEID_NODE"
            port = 4242
            allowed_calling_aes = ["PACS1", "CT_SCANNER"]
            allowed_peers = ["10.1.2.3", "192.168.7.0/24"]
            sop_classes = ["1.2.840.10008.5.1.4.1.1.2"]
            """.write(to: file, atomically: true, encoding: .utf8)
        let c = try ReceiverConfiguration.load(file: file, overrides: [:])
        XCTAssertEqual(c.inbox.path, folder.appendingPathComponent("in").path)
        XCTAssertEqual(c.aeTitle, "DEID_NODE")
        XCTAssertEqual(c.port, 4242)
        XCTAssertEqual(c.allowedCallingAEs, ["PACS1", "CT_SCANNER"])
        XCTAssertEqual(c.sopClasses, ["1.2.840.10008.5.1.4.1.1.2"])
        XCTAssertEqual(c.transferSyntaxes.first, "1.2.840.10008.1.2.1", "empty: explicit little endian first")
        XCTAssertTrue(c.mayStore(callingAE: "PACS1", peer: "192.168.7.200"))
        XCTAssertFalse(c.mayStore(callingAE: "PACS1", peer: "192.168.8.1"), "an address off the list")
        XCTAssertFalse(c.mayStore(callingAE: "pacs1", peer: "10.1.2.3"), "AE titles are compared as written")
        XCTAssertEqual(try ReceiverConfiguration.load(file: nil, overrides: ["inbox": folder.path]).allowedCallingAEs, [],
                       "by default nobody may store")

        func refusal(_ overrides: [String: String], _ text: String? = nil) -> String? {
            do {
                if let text { try text.write(to: file, atomically: true, encoding: .utf8) }
                _ = try ReceiverConfiguration.load(file: text == nil ? nil : file, overrides: overrides.merging(["inbox": folder.path]) { $1 })
                return nil
            } catch let error as ConfigurationError {
                return error.reason
            } catch {
                return "\(error)"
            }
        }
        XCTAssertEqual(refusal(["receive.ae_title": "A_TITLE_LONGER_THAN_16"]),
                       "flag --ae-title: receive.ae_title = \"A_TITLE_LONGER_THAN_16\": an AE title has at most 16 characters")
        XCTAssertEqual(refusal(["receive.allowed_peers": "10.1.2.300"]),
                       "flag --allowed-peers: receive.allowed_peers = \"10.1.2.300\": '10.1.2.300' is not an IPv4 address or network (10.1.2.3, 10.1.2.0/24)")
        XCTAssertEqual(refusal(["receive.sop_classes": "1.2.840.10008.5.1.4.1.1.7"])?.contains("is not an image class ctdeid de-identifies"), true)
        XCTAssertEqual(refusal(["receive.port": "0"]), "flag --port: receive.port = \"0\": must be between 1 and 65535")
        XCTAssertEqual(refusal([:], "[receive]\nportt = 1\n")?.contains("unknown key 'receive.portt'"), true)
        XCTAssertEqual(refusal(["receive.tls_certificate": file.path]),
                       "flag --tls-certificate: receive.tls_certificate = \"\(file.path)\": TLS needs the certificate's private key too (tls_private_key)")
        XCTAssertEqual(refusal(["receive.tls_certificate": file.path, "receive.tls_private_key": "/nonexistent/key.pem"]),
                       "flag --tls-private-key: receive.tls_private_key = \"/nonexistent/key.pem\": cannot read /nonexistent/key.pem")
        XCTAssertEqual(refusal([:], "[receive]\nallowed_peers = 10\n")?.contains("must be an array of strings"), true)
    }

    /// `<accession>/<study-key>/<instance-key>.dcm`: no UID in a name, one name per instance (a resend
    /// replaces itself), and a folder no mapping holds when the accession cannot name a folder.
    func testAnInstanceIsPlacedByItsAccessionAndTheHashesOfItsUIDs() {
        let path = InboxPlacement.relativePath(accession: "ACC 1 ", studyInstanceUID: "1.2.3", sopInstanceUID: "1.2.3.4")
        let parts = path.components(separatedBy: "/")
        XCTAssertEqual(parts.count, 3)
        XCTAssertEqual(parts[0], "ACC 1")
        XCTAssertTrue(parts[1].hasPrefix("study-") && !parts[1].contains("1.2.3"), path)
        XCTAssertEqual(path, InboxPlacement.relativePath(accession: "ACC 1", studyInstanceUID: "1.2.3", sopInstanceUID: "1.2.3.4"))
        XCTAssertNotEqual(path, InboxPlacement.relativePath(accession: "ACC 1", studyInstanceUID: "1.2.3", sopInstanceUID: "1.2.3.5"))
        for unusable in [nil, "", "../x", ".hidden", "a/b"] {
            let placed = InboxPlacement.relativePath(accession: unusable, studyInstanceUID: "1.2.3", sopInstanceUID: "9")
            XCTAssertTrue(placed.hasPrefix("no-accession-" + parts[1].dropFirst("study-".count) + "/"), placed)
        }
        XCTAssertTrue(IPv4Network("0.0.0.0/0")!.contains("8.8.8.8"))
        XCTAssertNil(IPv4Network("10.1.2.3/33"))
        XCTAssertNil(IPv4Network("::1"))
    }
}
