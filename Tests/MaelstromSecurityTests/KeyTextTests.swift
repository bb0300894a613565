import MaelstromSecurity
import Testing

@Suite("Key text")
struct KeyTextTests {
    @Test("a generated key is clamped, written as 44 characters and read back; its public key is stable")
    func roundTrip() throws {
        let key = PrivateKey.generate()
        #expect(key.bytes[0] & 7 == 0 && key.bytes[31] & 0xC0 == 0x40)
        #expect(key.base64.count == 44)
        let back = try #require(PrivateKey(base64: key.base64 + "\n"))
        #expect(back == key && back.publicKey == key.publicKey)
        #expect("\(key)" == "(private key)")
    }

    @Test("wrong lengths and characters are refused")
    func refusals() {
        #expect(PublicKey(base64: "") == nil)
        #expect(PublicKey(base64: String(repeating: "A", count: 44)) == nil)  // 33 bytes
        #expect(PublicKey(base64: String(repeating: "A", count: 42) + "==") == nil)  // 31 bytes
        #expect(PublicKey(base64: String(repeating: "!", count: 43) + "=") == nil)
    }
}
