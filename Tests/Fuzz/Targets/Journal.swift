@testable import GatewayCore

/// The idempotency journal reader. Input byte 0 chooses how the rest is read:
/// even: the journal's raw bytes (damage, truncation, stray markers, foreign formats);
/// odd: a list of payloads (u8 length + bytes), framed as format 2 with valid checks, so the
/// record decoder is reached (a mutated check would otherwise stop nearly every input at the frame).
/// After loading, the compacted journal must load again cleanly into the same entries.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let input = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let journal = data[0] & 1 == 0 ? input : framed(input)

    let storage = InMemoryJournalStorage(bytes: journal)
    guard let first = try? JournalLoader.load(into: makeStore(storage), now: now) else {
        require(false, "in-memory journal could not be opened")
        return 0
    }
    require(first.entriesRestored <= first.recordsLoaded, "restored more entries than records")
    require(first.bytesSkipped <= journal.count, "skipped \(first.bytesSkipped) of \(journal.count) bytes")
    require(first.compacted, "in-memory compaction failed: \(first.problems)")

    guard let second = try? JournalLoader.load(into: makeStore(storage), now: now) else { return 0 }
    require(second.bytesSkipped == 0 && second.problems.isEmpty, "compacted journal is damaged: \(second.problems)")
    require(second.recordsLoaded == first.entriesRestored && second.entriesRestored == first.entriesRestored,
            "reload restored \(second.entriesRestored) of \(second.recordsLoaded), first load \(first.entriesRestored)")
    return 0
}

private let now: UInt64 = 1_000_000

/// A small budget and one shard, so restoring evicts.
private func makeStore(_ storage: InMemoryJournalStorage) -> IdempotencyStore {
    IdempotencyStore(limits: IdempotencyLimits(ttlMs: 60_000, maxMemory: 4_096, maxResponseSize: 1_024), shardCount: 1,
                     journal: IdempotencyJournal(storage: storage, policy: .never))
}

private let marker = [UInt8](repeating: 0xA5, count: JournalFrame.markerSize)

private func framed(_ input: [UInt8]) -> [UInt8] {
    var out = JournalFrame.fileHeader(marker: marker)
    var i = 0
    while i < input.count {
        let length = min(Int(input[i]), input.count - i - 1)
        var frame = PreparedFrame(room: [UInt8](repeating: 0, count: JournalFrame.headerSize) + input[i + 1..<i + 1 + length])
        frame.seal(marker: marker, offset: Int64(out.count))
        out += frame.bytes
        i += 1 + length
    }
    return out
}
