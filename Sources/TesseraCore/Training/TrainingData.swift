import TesseraTensor
import Foundation
import Synchronization
import TesseraImaging

/// A batch ready for the network: `N×C×H×W` inputs in 0…1 and `N×1×H×W` class indices.
public struct TrainingBatch: Sendable {
    public var input: Tensor
    public var labels: Tensor
    public var rows: [ManifestRow]
}

/// The tiles of a prepared dataset as training and validation batches: read by libvips on
/// worker threads, optionally augmented anew each epoch, in a seeded order.
public struct TrainingData: Sendable {
    public let dataset: PreparedDataset
    /// Tiles trained on (copies included) and validated on (the held-out fold's own tiles,
    /// without their augmented copies).
    public let training: [ManifestRow]
    public let validation: [ManifestRow]
    let augmentation: Augmentation?
    let seed: UInt64
    let workers: Int

    /// Splits `dataset` for `fold` (nil: everything is training).
    public init(dataset: PreparedDataset, fold: Int?, onlineAugment: Bool, seed: UInt64, workers: Int) throws {
        self.dataset = dataset
        let rows = dataset.manifest.rows.filter { $0.mask != nil }
        guard !rows.isEmpty else {
            throw InputError(path: dataset.path, message: "has no masks: prepare it with --masks to train on it")
        }
        if let fold {
            training = rows.filter { $0.fold != fold }
            validation = rows.filter { $0.fold == fold && $0.copy == 0 }
        } else {
            training = rows
            validation = []
        }
        augmentation = onlineAugment ? dataset.settings.augmentation : nil
        self.seed = seed
        self.workers = workers
    }

    /// The training rows in the order of `epoch` (a seeded shuffle: the same for the same seed,
    /// fold and epoch, whatever ran before).
    public func order(epoch: Int, fold: Int?) -> [ManifestRow] {
        var rng = SeededRandom(seed: seed, "order", fold ?? -1, epoch)
        var rows = training
        for i in stride(from: rows.count - 1, to: 0, by: -1) { rows.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        return rows
    }

    /// The sizes of the tiles, checked to fit batches: every batch holds one size, so tiles of
    /// several sizes need batches of one.
    public func checkSizes(batchSize: Int) throws {
        guard batchSize > 1 else { return }
        var first: ManifestRow?
        for row in training + validation {
            guard let f = first else { first = row; continue }
            if row.width != f.width || row.height != f.height {
                throw InputError(path: dataset.path, message: "tiles of two sizes, \(f.width)×\(f.height) (\(f.file)) and "
                    + "\(row.width)×\(row.height) (\(row.file)), cannot share a batch; prepare with --tile-size, or train with --batch-size 1")
            }
        }
    }

    /// Reads one tile and its mask; with online augmentation on (and `epoch` given), warps both
    /// by parameters drawn for this tile and epoch; with `size`, resizes both to `size`×`size`
    /// (Lanczos for the tile, nearest neighbour for the mask: the architecture search's tiles).
    public func sample(_ row: ManifestRow, epoch: Int?, size: Int? = nil) throws -> (input: Tensor, labels: Tensor) {
        var image = try Image.load(dataset.file(row.file))
        guard let maskFile = row.mask else { throw InputError(path: dataset.file(row.file), message: "has no mask in the manifest") }
        var mask = try Image.load(dataset.file(maskFile))
        guard mask.width == image.width, mask.height == image.height else {
            throw InputError(path: dataset.file(maskFile), message: "size mismatch: mask \(mask.width)×\(mask.height), tile \(image.width)×\(image.height)")
        }
        if let augmentation, let epoch {
            var rng = SeededRandom(seed: seed, "online:" + row.file, epoch)
            let parameters = augmentation.draw(&rng, width: image.width, height: image.height)
            let background = dataset.preprocessing.fill(augmentation.fill == .mean ? .mean : .zero, scale: image.format.maxValue)
            let warped = try augmentation.apply(parameters, image: image, mask: mask, background: background)
            image = warped.image
            mask = warped.mask ?? mask
        }
        if let size {
            image = try image.resized(width: size, height: size)
            mask = try mask.resized(width: size, height: size, nearest: true)
        }
        let input = try image.tensor(channels: dataset.bands)
        let scale = Float(dataset.settings.maskScale)
        let classes = dataset.classes ?? 2
        let labels = try mask.bytes().map { min(Float($0) / scale, Float(classes - 1)) }
        return (input, Tensor(shape: [1, 1, mask.height, mask.width], scalars: labels))
    }

    /// The tiles of `rows` as one batch, read on worker threads.
    public func batch(_ rows: [ManifestRow], epoch: Int?) throws -> TrainingBatch {
        let results = Batch.map(rows, workers: min(workers, rows.count)) { row in try sample(row, epoch: epoch) }
        var inputs: [Tensor] = [], labels: [Tensor] = []
        for (row, result) in zip(rows, results) {
            switch result {
            case .success(let s):
                inputs.append(s.input)
                labels.append(s.labels)
            case .failure(let error):
                throw InputError(describing: error, path: dataset.file(row.file))
            }
        }
        return TrainingBatch(input: stacked(inputs), labels: stacked(labels), rows: rows)
    }
}

/// `1×…` tensors of one shape stacked along the first axis.
public func stacked(_ tensors: [Tensor]) -> Tensor {
    guard let first = tensors.first else { return Tensor(shape: [0]) }
    var scalars: [Float] = []
    scalars.reserveCapacity(first.count * tensors.count)
    for t in tensors { scalars += t.scalars }
    return Tensor(shape: [tensors.count] + first.shape.dropFirst(), scalars: scalars)
}

/// Produces items `0..<count` in order on a thread of its own, `depth` items ahead of the
/// consumer, so the network never waits on decoding. A consumer that stops before the last item
/// calls ``cancel()``, which ends the thread.
public final class Prefetcher<Item: Sendable>: @unchecked Sendable {
    // @unchecked: the slots are guarded by `lock`; the semaphores order producer and consumer.
    private let lock = NSLock()
    private var slots: [Int: Result<Item, any Error>] = [:]
    private let ready = DispatchSemaphore(value: 0)
    private let space: DispatchSemaphore
    private let stopped = Atomic<Bool>(false)
    private var next = 0
    private let count: Int

    public init(count: Int, depth: Int = 2, make: @escaping @Sendable (Int) throws -> Item) {
        self.count = count
        // Created at 0 and raised: libdispatch traps when a semaphore is freed below the value it
        // was created with, as this one is when the consumer stops early.
        space = DispatchSemaphore(value: 0)
        for _ in 0..<max(1, depth) { space.signal() }
        let thread = Thread { [self] in
            for index in 0..<count {
                space.wait()
                if stopped.load(ordering: .relaxed) { break }
                let result = Result { try make(index) }
                lock.lock()
                slots[index] = result
                lock.unlock()
                ready.signal()
            }
        }
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// The next item, waiting for it if it is not ready; nil after the last.
    public func take() throws -> Item? {
        guard next < count else { return nil }
        ready.wait()
        lock.lock()
        let result = slots.removeValue(forKey: next)!
        lock.unlock()
        next += 1
        space.signal()
        return try result.get()
    }

    /// Lets the producer finish early (after an error or an interruption).
    public func cancel() {
        stopped.store(true, ordering: .relaxed)
        space.signal()
    }
}
