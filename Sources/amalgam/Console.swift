import AmalgamCore
import AmalgamGLM
import AmalgamNN
import ArgumentParser
import Foundation

/// Terminal output for long runs: a progress bar on a terminal, plain lines otherwise.
final class Console {
    let quiet: Bool
    let isTerminal = isatty(STDERR_FILENO) != 0
    private var lastDraw: UInt64 = 0
    private var epochs = 0

    init(quiet: Bool) { self.quiet = quiet }

    func line(_ s: String) { if !quiet { print(s); fflush(stdout) } }

    func error(_ s: String) { FileHandle.standardError.write(Data(("error: " + s + "\n").utf8)) }

    /// Renders ``TrainingEvent``s — every command's progress, one way: a progress bar on a
    /// terminal, a line per epoch run whole, per resumed phase and per finished phase (prefixed
    /// with the seed and the phase when the run names them).
    func handle(_ event: TrainingEvent) {
        guard !quiet else { return }
        func label(_ c: RunContext) -> String {
            (c.seed.map { "seed \($0)  " } ?? "") + (c.phase == "train" ? "" : c.phase + "  ")
        }
        switch event {
        case .phaseStart(_, let e, _): epochs = Int(e.rounded(.up))
        case .phaseResumed(let c, let step, let steps):
            line(label(c) + "resumes from its saved progress at step \(step) of \(steps)")
        case .epochStart: break
        case .batchEnd(let c, let epoch, let batch, let batches, let step, let steps, let loss):
            guard isTerminal else { return }
            let now = DispatchTime.now().uptimeNanoseconds
            guard batch == batches || step == steps || now - lastDraw > 100_000_000 else { return }
            lastDraw = now
            let width = 30, filled = batches > 0 ? width * min(batch, batches) / batches : width
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            FileHandle.standardError.write(Data(String(format: "\r%@epoch %d/%d %@ %d/%d loss %.4f ", label(c), epoch, epochs, bar, batch, batches, loss).utf8))
        case .epochEnd(let c, let m):
            clearBar()
            var s = label(c) + String(format: "epoch %d/%d  train loss %.4f acc %.4f", m.epoch, epochs, m.trainLoss, m.trainAccuracy)
            if let tl = m.testLoss, let ta = m.testAccuracy { s += String(format: "  test loss %.4f acc %.4f", tl, ta) }
            s += String(format: "  %.1fs", m.seconds)
            line(s)
        case .phaseEnd(let c, let accuracy, let seconds, let saved):
            clearBar()
            guard showPhaseEnds else { return }
            let name = c.phase + (saved ? " (saved)" : "")
            line((c.seed.map { "seed \($0)  " } ?? "") + name.padding(toLength: max(name.count, 22), withPad: " ", startingAt: 0)
                 + (accuracy.map { String(format: " test accuracy %.4f", $0) } ?? "") + String(format: "  %.1fs", seconds))
        case .progress(let c, let done, let total): line("  " + label(c) + "\(done)/\(total)")
        case .model: break
        }
    }

    /// Whether finished phases get a line (commands that print their own result turn it off).
    var showPhaseEnds = true

    /// A progress bar on a terminal (standard error), redrawn at most ten times a second: for
    /// work that is not a training loop (embedding a file of sentences).
    func bar(_ label: String, _ done: Int, _ total: Int) {
        guard !quiet, isTerminal, total > 0 else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard done == total || now - lastDraw > 100_000_000 else { return }
        lastDraw = now
        let width = 30, filled = width * min(done, total) / total
        FileHandle.standardError.write(Data("\r\(label) \(String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)) \(done)/\(total) ".utf8))
    }

    func clearBar() { if !quiet, isTerminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) } }
}

/// Set by the SIGINT/SIGTERM handler; polled by the training loop between batches, which
/// saves what it has and stops (a batch scheduler sends SIGTERM before it kills a job).
nonisolated(unsafe) var interruptRequested: Int32 = 0

/// The first SIGINT/SIGTERM asks the run to stop at its next safe point — the next training
/// batch, saving its progress (the sine toy: the next seed); work between batches (an evaluation
/// pass, building a merged network) finishes first, which can take minutes on a large model, so
/// the handler says so on stderr. A second signal quits at once (exit status 130) without
/// saving: what was saved before stays.
func installInterruptHandler() {
    let handler: @convention(c) (Int32) -> Void = { _ in
        if interruptRequested != 0 {
            let msg: StaticString = "\nsecond interrupt: quitting now (progress saved before stays)\n"
            _ = write(2, msg.utf8Start, msg.utf8CodeUnitCount)
            _exit(130)
        }
        interruptRequested = 1
        let msg: StaticString = "\ninterrupt: stopping at the next safe point (saving progress); interrupt again to quit now\n"
        _ = write(2, msg.utf8Start, msg.utf8CodeUnitCount)
    }
    signal(SIGINT, handler)
    signal(SIGTERM, handler)
}

/// Runs a command body — every command's one error wrapper: an `AmalgamError` or a `GLMError`
/// becomes a one-line message on standard error and exit status 1 (3 for a diverged training run:
/// a non-finite loss, gradient or parameter); an interruption exits with 130.
func runReportingErrors(_ console: Console, _ body: () throws -> Void) throws {
    // AMALGAM_BACKEND naming an unknown backend, or oneDNN where it cannot load: say so once.
    if let problem = Backend.environmentProblem { FileHandle.standardError.write(Data(("warning: " + problem + "\n").utf8)) }
    do { try body() } catch let e as AmalgamError {
        if case .interrupted = e { throw ExitCode(130) }
        console.error(e.description)
        if case .nonFinite = e { throw ExitCode(3) }   // divergence: its own status, for scripts and schedulers
        throw ExitCode.failure
    } catch let e as GLMError {
        console.error(e.description)
        throw ExitCode.failure
    } catch let e as ExitCode {
        throw e
    } catch let e as ValidationError {
        console.error(e.message)
        throw ExitCode.failure
    } catch {
        console.error(oneLineMessage(error))
        throw ExitCode.failure
    }
}

/// One line for an error that is not ours (Foundation's file errors, JSON encoding): the file
/// and the system's reason, or the JSON field that holds a value JSON cannot carry — never
/// Foundation's multi-line description.
func oneLineMessage(_ error: Error) -> String {
    if let e = error as? EncodingError, case .invalidValue(let value, let context) = e {
        let field = context.codingPath.map(\.stringValue).joined(separator: ".")
        return "cannot write the result as JSON: \(field.isEmpty ? "a value" : field) is \(value), which JSON cannot hold"
    }
    let ns = error as NSError
    let path = (ns.userInfo[NSFilePathErrorKey] as? String) ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
    var reason: String
    if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
        reason = String(cString: strerror(Int32(underlying.code)))
    } else if ns.domain == NSPOSIXErrorDomain {
        reason = String(cString: strerror(Int32(ns.code)))
    } else {
        reason = ns.localizedDescription
    }
    reason = reason.split(whereSeparator: \.isNewline).joined(separator: " ")
    return path.map { "\($0): \(reason)" } ?? reason
}
