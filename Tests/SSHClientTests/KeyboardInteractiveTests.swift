@testable import SSHClient
import XCTest

/// Which keyboard-interactive prompts get the password: password prompts, never a one-time or second-factor one.
final class KeyboardInteractiveTests: XCTestCase {
    func testPasswordPrompts() {
        let rows: [(String, Bool)] = [
            ("Password: ", true), ("root@db1's password: ", true), ("Enter passphrase: ", true), ("Passwort: ", true),
            ("Mot de passe : ", true), ("Hasło: ", true), ("パスワード: ", true),
            ("Verification code: ", false), ("One-time password (OATH) for `alice': ", false), ("OTP: ", false),
            ("Enter PASSCODE: ", false), ("Token PIN: ", false), ("YubiKey for `alice': ", false), ("", false),
            ("Duo two-factor login: ", false), ("Username: ", false),
        ]
        for (prompt, expected) in rows {
            XCTAssertEqual(KeyboardInteractiveAnswers.asksForPassword(prompt), expected, prompt)
        }
    }
}
