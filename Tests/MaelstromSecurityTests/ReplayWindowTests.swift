@testable import MaelstromSecurity
import PropertyBased
import Testing

@Suite("Anti-replay window (RFC 6479)")
struct ReplayWindowTests {
    let size = ReplayWindow.size

    @Test("the window is at least 8,192 counters (the issue's floor) and refuses exactly one beyond it")
    func edges() {
        #expect(size >= 8192)
        let window = ReplayWindow()
        #expect(window.accept(0) && window.accept(1))
        #expect(!window.accept(1))
        #expect(window.accept(size + 10))
        #expect(window.accept(10))  // newest − counter == size: still inside
        #expect(!window.accept(9))  // one beyond
        #expect(!window.accept(10))
    }

    @Test("counting up to the window's size and then 0, and counting down, accept everything once")
    func fills() {
        let up = ReplayWindow()
        for counter in 1...size { #expect(up.accept(counter)) }
        #expect(up.accept(0))
        #expect(!up.accept(0) && !up.accept(size))
        let down = ReplayWindow()
        for counter in stride(from: size + 1, through: 1, by: -1) { #expect(down.accept(counter)) }
        #expect(!down.accept(0))  // size + 1 behind the newest
    }

    @Test("a jump of several windows clears everything but the newest")
    func jumps() {
        let window = ReplayWindow()
        for counter in UInt64(0)..<100 { _ = window.accept(counter) }
        let far = 4 * (size + 1)
        #expect(window.accept(far))
        #expect(!window.accept(far))
        #expect(window.accept(far - 1) && window.accept(far - size))
        #expect(!window.accept(99))
    }

    @Test("mayAccept never changes the window and agrees with accept")
    func peekAgrees() {
        let window = ReplayWindow()
        _ = window.accept(500)
        #expect(window.mayAccept(400) && window.mayAccept(400))
        #expect(window.accept(400))
        #expect(!window.mayAccept(400) && !window.mayAccept(500))
    }

    @Test("against a model: any order of counters within reach is accepted exactly once, anything older refused")
    func model() async {
        await propertyCheck(count: 200, input: Gen.int(in: 0...40_000).array(of: 1...600)) { offsets in
            let window = ReplayWindow()
            var seen = Set<UInt64>()
            var newest: UInt64? = nil
            for offset in offsets {
                let counter = UInt64(offset) * 3
                let expected: Bool
                if let top = newest, counter <= top {
                    expected = top - counter <= size && !seen.contains(counter)
                } else {
                    expected = true
                }
                #expect(window.accept(counter) == expected)
                if expected {
                    seen.insert(counter)
                    newest = max(newest ?? 0, counter)
                }
            }
        }
    }
}
