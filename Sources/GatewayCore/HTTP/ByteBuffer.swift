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

    /// Ensures room for `count` more bytes, growing (and moving) the storage if needed. The check
    /// is inlined into every append; making room is not, as it is rare.
    @inlinable @inline(__always) public func reserve(_ count: Int) {
        if capacity - writeIndex < count { makeRoom(count) }
    }

    @usableFromInline @inline(never) func makeRoom(_ count: Int) {
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

    @inlinable @inline(__always) public func append(_ pointer: UnsafeRawPointer, count: Int) {
        reserve(count)
        Self.copy(pointer, to: UnsafeMutableRawPointer(base + writeIndex), count: count)
        writeIndex += count
    }

    /// memmove, without the call for the short pieces heads are made of (names, values, `": "`):
    /// two possibly overlapping loads, then two stores, of 4, 8 or 16 bytes cover any length from
    /// 4 to 32. Both loads come before the stores, so an overlap behaves as memmove would.
    @inlinable @inline(__always) static func copy(_ from: UnsafeRawPointer, to: UnsafeMutableRawPointer, count: Int) {
        if count >= 16 && count <= 32 {
            copyEnds(from, to, count, as: SIMD16<UInt8>.self)
        } else if count >= 8 && count < 16 {
            copyEnds(from, to, count, as: UInt64.self)
        } else if count >= 4 && count < 8 {
            copyEnds(from, to, count, as: UInt32.self)
        } else if count > 32 {
            to.copyMemory(from: from, byteCount: count)
        } else {
            for i in 0..<count { to.storeBytes(of: from.load(fromByteOffset: i, as: UInt8.self), toByteOffset: i, as: UInt8.self) }
        }
    }

    /// The first and the last `MemoryLayout<T>.size` bytes, for `size <= count <= 2 * size`.
    @inlinable @inline(__always)
    static func copyEnds<T>(_ from: UnsafeRawPointer, _ to: UnsafeMutableRawPointer, _ count: Int, as: T.Type) {
        let size = MemoryLayout<T>.size
        let first = from.loadUnaligned(as: T.self)
        let last = from.loadUnaligned(fromByteOffset: count - size, as: T.self)
        to.storeBytes(of: first, as: T.self)
        to.storeBytes(of: last, toByteOffset: count - size, as: T.self)
    }

    @inlinable @inline(__always) public func append(_ bytes: UnsafeRawBufferPointer) {
        if let start = bytes.baseAddress, bytes.count > 0 { append(start, count: bytes.count) }
    }

    public func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// A header line, `name: value` and CRLF, with one capacity check for its four pieces.
    @inlinable public func appendField(name: UnsafeRawPointer, _ nameCount: Int, value: UnsafeRawPointer, _ valueCount: Int) {
        let count = nameCount + valueCount + 4
        reserve(count)
        let line = UnsafeMutableRawPointer(base + writeIndex)
        Self.copy(name, to: line, count: nameCount)
        line.storeBytes(of: UInt8(ascii: ":"), toByteOffset: nameCount, as: UInt8.self)
        line.storeBytes(of: UInt8(ascii: " "), toByteOffset: nameCount + 1, as: UInt8.self)
        Self.copy(value, to: line + nameCount + 2, count: valueCount)
        line.storeBytes(of: UInt8(ascii: "\r"), toByteOffset: count - 2, as: UInt8.self)
        line.storeBytes(of: UInt8(ascii: "\n"), toByteOffset: count - 1, as: UInt8.self)
        writeIndex += count
    }

    /// A literal's bytes; string literals come here rather than to the String overload, which
    /// would build a String and retain and release its storage around the copy.
    @inlinable @inline(__always) public func append(_ text: StaticString) {
        if text.hasPointerRepresentation {
            append(text.utf8Start, count: text.utf8CodeUnitCount)
        } else {
            text.withUTF8Buffer { append(UnsafeRawBufferPointer($0)) }  // a one-scalar literal
        }
    }

    @_disfavoredOverload public func append(_ text: String) {
        var text = text
        text.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    @inlinable public func append(byte: UInt8) {
        reserve(1)
        base[writeIndex] = byte
        writeIndex += 1
    }

    /// Appends a non-negative integer in decimal without going through String: the digits are
    /// written in place, last first, once their count is known.
    public func appendDecimal(_ value: Int) {
        var n = UInt64(max(value, 0))
        var count = 1
        var power: UInt64 = 10
        while count < 20 && n >= power {  // UInt64.max has 20 digits; 10^20 would overflow
            count += 1
            power &*= 10
        }
        reserve(count)
        var digit = base + writeIndex + count
        repeat {
            digit -= 1
            digit.pointee = UInt8(truncatingIfNeeded: 48 + n % 10)
            n /= 10
        } while n > 0
        writeIndex += count
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
