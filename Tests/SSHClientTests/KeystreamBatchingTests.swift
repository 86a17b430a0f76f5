import CKeystreamBatching
import CKeystreamCheck
import XCTest

/// The AES-CTR keystream batching gives exactly OpenSSL's bytes, block by block as libssh2 1.10 asks for them,
/// across batch boundaries and with two contexts in turns; other modes are passed through untouched.
final class KeystreamBatchingTests: XCTestCase {
    func testBlockAtATimeMatchesOpenSSL() {
        XCTAssertEqual(pss_keystream_batching_enabled(), 1, "on unless PSS_CIPHER_BATCHING=0")
        var problem = [CChar](repeating: 0, count: 256)
        // 10 batches and 3 blocks: every batch boundary, and a partial batch at the end.
        let result = pss_keystream_check(10 * 4096 + 48, &problem, problem.count)
        XCTAssertEqual(result, 0, String(cString: problem))
        XCTAssertEqual(pss_keystream_check_was_batched(), 1, "the CTR contexts carried a batch")
    }
}
