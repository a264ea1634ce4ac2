import Foundation
import TesseraCore
import TesseraTensor

/// The tiles of a prepared dataset at the search size, held in memory: the training tiles (which
/// train the shared weights) and the held-out tiles (which score the children).
struct SearchData {
    var training: [(input: Tensor, labels: Tensor)]
    var validation: [(input: Tensor, labels: Tensor)]
    /// 1 for binary masks (a sigmoid head), K for label masks of K classes.
    var outputs: Int
    var heldOut: String

    init(dataset: PreparedDataset, settings: SearchSettings, progress: ProgressSink) throws {
        guard let classes = dataset.classes else {
            throw InputError(path: dataset.path, message: "has no masks: prepare it with --masks to search on it")
        }
        outputs = classes > 2 ? classes : 1
        let rows = dataset.manifest.rows.filter { $0.mask != nil }
        var held: [ManifestRow], kept: [ManifestRow]
        switch settings.fold {
        case .one(let k):
            guard k < dataset.settings.folds else {
                throw InputError(path: dataset.path, message: "has no fold \(k): its folds are 0…\(dataset.settings.folds - 1)")
            }
            held = rows.filter { $0.fold == k && $0.copy == 0 }
            kept = rows.filter { $0.fold != k }
            heldOut = "fold \(k)"
        default:
            if dataset.settings.folds > 1 {
                held = rows.filter { $0.fold == 0 && $0.copy == 0 }
                kept = rows.filter { $0.fold != 0 }
                heldOut = "fold 0"
            } else {
                // A seeded quarter of the source images (never tiles of one image on both sides).
                let sources = Array(Set(rows.map(\.source))).sorted()
                var rng = SeededRandom(seed: settings.seed, "search held out")
                var shuffled = sources
                for i in stride(from: shuffled.count - 1, to: 0, by: -1) { shuffled.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
                let chosen = Set(shuffled.prefix(max(1, sources.count / 4)))
                held = rows.filter { chosen.contains($0.source) && $0.copy == 0 }
                kept = rows.filter { !chosen.contains($0.source) }
                heldOut = "\(chosen.count) of \(sources.count) source images"
            }
        }
        let sources = Set(rows.map(\.source)).count
        guard sources >= 2, !held.isEmpty, !kept.isEmpty else {
            throw InputError(path: dataset.path, message: "has \(rows.count) masked tiles from \(sources) source image(s); a search needs "
                + "tiles to train the shared weights and held-out tiles to score the children: at least 2 source images, "
                + "better \(2 * settings.batchSize) or more (prepare more images, or with --folds K)")
        }
        guard kept.count >= settings.batchSize else {
            throw InputError(path: dataset.path, message: "has \(kept.count) training tiles outside \(heldOut), fewer than batch_size \(settings.batchSize); "
                + "lower --batch-size or prepare more images (augmented copies count)")
        }
        let size = settings.searchSize
        let reader = try TrainingData(dataset: dataset, fold: nil, onlineAugment: false, seed: settings.seed, workers: 1)
        progress.phase("reading tiles at \(size)×\(size)", held.count + kept.count)
        let all = kept + held
        let results = Batch.map(all, workers: Batch.defaultWorkers, progress: { progress.advance($0, nil) }) { row in
            try reader.sample(row, epoch: nil, size: size)
        }
        var pairs: [(input: Tensor, labels: Tensor)] = []
        for (row, result) in zip(all, results) {
            switch result {
            case .success(let pair): pairs.append(pair)
            case .failure(let error): throw InputError(describing: error, path: dataset.file(row.file))
            }
        }
        training = Array(pairs.prefix(kept.count))
        validation = Array(pairs.suffix(held.count))
    }

    /// The tiles at `indices` of `tiles` as one batch.
    static func batch(_ tiles: [(input: Tensor, labels: Tensor)], _ indices: [Int]) -> (input: Tensor, labels: Tensor) {
        (stacked(indices.map { tiles[$0].input }), stacked(indices.map { tiles[$0].labels }))
    }
}
