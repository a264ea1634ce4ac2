import CVips
import CVipsShim
import Foundation
import Synchronization

/// GLib-GObject warnings raised on each thread since it last asked (keyed by thread). A loader
/// given an invalid header (a zero width, say) only warns through GLib and carries on with a
/// default; ``Image/load(_:sequential:)`` turns those warnings into its error instead.
private let objectWarnings = Mutex<[UInt: [String]]>([:])

private func recordObjectWarning(
    _ domain: UnsafePointer<gchar>?, _ level: GLogLevelFlags, _ message: UnsafePointer<gchar>?, _ data: gpointer?
) {
    let text = message.map { String(cString: $0) } ?? "GLib warning"
    let thread = UInt(pthread_self())
    objectWarnings.withLock { $0[thread, default: []].append(text) }
}

/// libvips' own warnings (a damaged PNG chunk, a truncated JPEG), kept per thread instead of
/// being printed raw on stderr, so they end up in the one error line of the file they concern.
/// Warnings raised on libvips' worker threads have no caller to go to; the latest are kept for
/// the next error any thread reports.
private let vipsWarnings = Mutex<(byThread: [UInt: [String]], recent: [String])>(([:], []))

private func recordVipsWarning(
    _ domain: UnsafePointer<gchar>?, _ level: GLogLevelFlags, _ message: UnsafePointer<gchar>?, _ data: gpointer?
) {
    let text = message.map { String(cString: $0) } ?? "libvips warning"
    let thread = UInt(pthread_self())
    vipsWarnings.withLock { w in
        w.byThread[thread, default: []].append(text)
        w.recent = Array((w.recent + [text]).suffix(4))
    }
}

/// The libvips runtime: started once per process, on first use.
///
/// Every type in this module calls ``Vips/start()`` before touching libvips, so callers never need
/// to. The operation cache is disabled: Tessera streams each image once, and a cache would keep
/// decoded images (and their files) alive after their owners are gone.
public enum Vips {
    private static let started: Bool = {
        if vips_init("tessera") != 0 {
            return false
        }
        vips_cache_set_max(0)
        vips_cache_set_max_files(0)
        let levels = GLogLevelFlags(rawValue: G_LOG_LEVEL_WARNING.rawValue | G_LOG_LEVEL_CRITICAL.rawValue)
        g_log_set_handler("GLib-GObject", levels, recordObjectWarning, nil)
        g_log_set_handler("VIPS", levels, recordVipsWarning, nil)
        if ProcessInfo.processInfo.environment["VIPS_LEAK"] != nil {
            // With VIPS_LEAK set, shutting down at exit makes libvips report every object still
            // alive on stderr; the test script fails on such a report.
            atexit { vips_shutdown() }
        }
        return true
    }()

    /// Starts libvips if it has not been started yet.
    /// - Throws: ``ImagingError`` when libvips cannot initialize (a broken installation).
    public static func start() throws {
        if !started {
            throw ImagingError(operation: "vips_init", path: nil, message: takeErrorMessage())
        }
    }

    /// The libvips version string, e.g. `8.14.1`.
    public static var version: String {
        "\(vips_version(0)).\(vips_version(1)).\(vips_version(2))"
    }

    /// Sets the number of worker threads libvips uses for one image pipeline (0 = libvips' default,
    /// which is the number of cores), unless the user set `VIPS_CONCURRENCY`, which wins.
    public static func setConcurrency(_ threads: Int) {
        _ = started
        guard ProcessInfo.processInfo.environment["VIPS_CONCURRENCY"] == nil else { return }
        vips_concurrency_set(Int32(clamping: threads))
    }

    /// Takes the GLib-GObject warnings this thread raised since the last call.
    static func takeObjectWarnings() -> [String] {
        let thread = UInt(pthread_self())
        return objectWarnings.withLock { $0.removeValue(forKey: thread) ?? [] }
    }

    /// Takes libvips' accumulated error text and this thread's warnings, clears both, and
    /// returns them as one line that says in words what is wrong with the file where it can.
    static func takeErrorMessage() -> String {
        var lines: [String] = []
        if let raw = vips_error_buffer_copy() {
            lines = String(cString: raw).split(whereSeparator: \.isNewline)
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            g_free(raw)
        }
        let thread = UInt(pthread_self())
        let warnings = vipsWarnings.withLock { w -> [String] in
            let own = w.byThread.removeValue(forKey: thread) ?? []
            let mine = own.isEmpty ? w.recent : own
            w.recent = []
            return mine
        }
        let all = lines + warnings.filter { !lines.contains($0) }
        return ImagingError.explain(all)
    }

    /// Forgets the warnings this thread raised (before an operation whose own warnings matter).
    static func clearWarnings() {
        let thread = UInt(pthread_self())
        vipsWarnings.withLock { _ = $0.byThread.removeValue(forKey: thread) }
    }
}
