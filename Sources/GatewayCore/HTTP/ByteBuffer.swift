/// A growable byte region with a read and a write index, used for socket input and
/// generated output. Reference type so that a connection and its parser share one copy.
/// Bytes between `readIndex` and `writeIndex` are live; `compact()` moves them to the front.
public final class ByteBuffer {
    public private(set) var base: UnsafeMutablePointer<UInt8>
    public private(set) var capacity: Int
    public var readIndex = 0
    public var writeIndex = 0

    public init(capacity: Int) {
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    @inlinable public var readableCount: Int { writeIndex - readIndex }
    @inlinable public var writableCount: Int { capacity - writeIndex }
    @inlinable public var readPointer: UnsafeMutablePointer<UInt8> { base + readIndex }
    @inlinable public var writePointer: UnsafeMutablePointer<UInt8> { base + writeIndex }

    public var readableBytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + readIndex, count: writeIndex - readIndex)
    }

    public func clear() { readIndex = 0; writeIndex = 0 }

    /// Moves live bytes to the front so the tail is free again. Callers must hold no pointers into it.
    public func compact() {
        if readIndex == 0 { return }
        let live = writeIndex - readIndex
        if live > 0 { (base).update(from: base + readIndex, count: live) }
        readIndex = 0
        writeIndex = live
    }

    /// Ensures room for `count` more bytes, growing (and moving) the storage if needed.
    public func reserve(_ count: Int) {
        if writableCount >= count { return }
        compact()
        if writableCount >= count { return }
        var newCapacity = capacity * 2
        while newCapacity - writeIndex < count { newCapacity *= 2 }
        let fresh = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        fresh.update(from: base, count: writeIndex)
        base.deallocate()
        base = fresh
        capacity = newCapacity
    }

    public func append(_ pointer: UnsafeRawPointer, count: Int) {
        reserve(count)
        (base + writeIndex).update(from: pointer.assumingMemoryBound(to: UInt8.self), count: count)
        writeIndex += count
    }

    public func append(_ bytes: UnsafeRawBufferPointer) {
        if let start = bytes.baseAddress, bytes.count > 0 { append(start, count: bytes.count) }
    }

    public func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    public func append(_ text: StaticString) {
        append(text.utf8Start, count: text.utf8CodeUnitCount)
    }

    public func append(_ text: String) {
        var text = text
        text.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    public func append(byte: UInt8) {
        reserve(1)
        base[writeIndex] = byte
        writeIndex += 1
    }

    /// Appends a non-negative integer in decimal without going through String.
    public func appendDecimal(_ value: Int) {
        reserve(20)
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes of scratch, no heap
        withUnsafeMutableBytes(of: &digits) { scratch in
            var n = UInt64(max(value, 0))
            var i = scratch.count
            repeat {
                i -= 1
                scratch[i] = UInt8(truncatingIfNeeded: 48 + n % 10)
                n /= 10
            } while n > 0
            append(scratch.baseAddress! + i, count: scratch.count - i)
        }
    }

    /// Appends a non-negative integer in lower-case hexadecimal (chunk sizes).
    public func appendHex(_ value: Int) {
        let hex: StaticString = "0123456789abcdef"
        var shift = 60
        while shift > 0 && (value >> shift) & 0xF == 0 { shift -= 4 }
        reserve(16)
        while shift >= 0 {
            base[writeIndex] = hex.utf8Start[(value >> shift) & 0xF]
            writeIndex += 1
            shift -= 4
        }
    }
}
