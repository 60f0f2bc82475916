import CFFmpeg

/// Errors of the media layer. Each names the FFmpeg call (or the check) and the reason, on one line.
public enum MediaError: Error, CustomStringConvertible, Equatable {
    /// An FFmpeg call failed: the call's name, FFmpeg's error code and its `av_strerror` text.
    case ffmpeg(call: String, code: Int32, reason: String, context: String)
    case noVideoStream(path: String)
    case unsupported(String)
    case invalidArgument(String)
    case io(String)

    public var description: String {
        switch self {
        case let .ffmpeg(call, _, reason, context):
            return context.isEmpty ? "\(call) failed: \(reason)" : "\(context): \(call) failed: \(reason)"
        case let .noVideoStream(path): return "\(path): no video stream"
        case let .unsupported(what): return what
        case let .invalidArgument(what): return what
        case let .io(what): return what
        }
    }
}

/// `av_strerror` for a code.
func ffmpegErrorString(_ code: Int32) -> String {
    var buf = [CChar](repeating: 0, count: 256)
    fr_strerror(code, &buf, buf.count)
    let bytes = buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}

/// Throws a `MediaError.ffmpeg` when an FFmpeg call returned a negative code; returns the code otherwise.
@discardableResult
func check(_ code: Int32, _ call: String, _ context: @autoclosure () -> String = "") throws -> Int32 {
    if code < 0 {
        throw MediaError.ffmpeg(call: call, code: code, reason: ffmpegErrorString(code), context: context())
    }
    return code
}

let AVERROR_EAGAIN_ = fr_averror_eagain()
let AVERROR_EOF_ = fr_averror_eof()
let AV_NOPTS = fr_nopts_value()

/// How much FFmpeg itself prints to stderr. The tool reports errors itself, on one line, so the
/// default is quiet.
public enum MediaLog {
    nonisolated(unsafe) private(set) static var verbose = false

    /// FFmpeg's log, and the encoder libraries that print on their own (x265's and SVT-AV1's
    /// banners), follow the tool's verbosity: quiet unless asked.
    public static func setVerbose(_ verbose: Bool) {
        self.verbose = verbose
        av_log_set_level(verbose ? AV_LOG_WARNING : AV_LOG_QUIET)
        setenv("SVT_LOG", verbose ? "2" : "1", 1)  // SVT-AV1: 1 errors, 2 warnings
    }
}
