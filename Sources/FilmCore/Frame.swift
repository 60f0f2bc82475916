/// How the float planes of a frame are to be read.
public enum PixelLayout: String, Sendable, Hashable {
    /// One plane of gamma-encoded luma, 0…1 (a black-and-white picture).
    case gray
    /// Three planes R', G', B' (gamma-encoded, the stream's primaries), 0…1.
    case rgb

    public var planeCount: Int { self == .gray ? 1 : 3 }
}

/// Per-frame facts that every stage passes on unchanged unless it is the stage that sets them.
public struct FrameProperties: Sendable, Hashable {
    /// Color description the pixels are in.
    public var color: ColorMetadata
    /// True on the first frame of a new shot.
    public var sceneCut: Bool
    /// Index of the decoded source frame this frame was made from (the "dominant" source frame).
    public var sourceIndex: Int
    /// Sample (pixel) aspect ratio of the picture.
    public var sampleAspect: Rational
    /// True when the source frame was interlaced (and not yet deinterlaced).
    public var interlaced: Bool
    public var topFieldFirst: Bool
    /// The film grain a cleanup measured and took out of this frame (for `grain` to put back), nil when none was.
    public var grain: MeasuredGrain?
    /// Free-form values set by stages (e.g. "noise.sigma": "4.2").
    public var extra: [String: String]

    public init(
        color: ColorMetadata = .bt709, sceneCut: Bool = false, sourceIndex: Int = 0,
        sampleAspect: Rational = .one, interlaced: Bool = false, topFieldFirst: Bool = true,
        extra: [String: String] = [:]
    ) {
        self.color = color
        self.sceneCut = sceneCut
        self.sourceIndex = sourceIndex
        self.sampleAspect = sampleAspect
        self.interlaced = interlaced
        self.topFieldFirst = topFieldFirst
        self.extra = extra
    }
}

/// Film grain as a cleanup measured it on one frame: its level by brightness and its size, at the picture size it
/// was measured at (Restoration's `GrainProfile` makes and reads it).
public struct MeasuredGrain: Sendable, Hashable {
    /// σ (0…1 scale) in equal brightness bins of the cleaned luma.
    public var sigma: [Float]
    /// Lag-1 autocorrelation (0: white, independent pixels; towards 1: large clumps).
    public var correlation: Float
    public var width: Int, height: Int

    public init(sigma: [Float], correlation: Float, width: Int, height: Int) {
        self.sigma = sigma
        self.correlation = correlation
        self.width = width
        self.height = height
    }
}

/// A picture in the pipeline: planar Float32 (0…1), a rational presentation time in seconds, and
/// properties.
///
/// Planes are value-typed arrays: copying a frame (the `fps` stage repeating one) shares storage
/// until someone writes to it.
public struct Frame: Sendable {
    public var width: Int
    public var height: Int
    public var layout: PixelLayout
    public var planes: [[Float]]
    /// Presentation time in seconds.
    public var pts: Rational
    /// How long the frame is shown, in seconds.
    public var duration: Rational
    public var properties: FrameProperties
    /// The picture exactly as the decoder gave it (MediaIO's `DecodedPicture`), when the reader was
    /// asked to keep it: a chain that changes no picture writes it as it is. Any frame made with new
    /// pixels (`with`, the initializers) has none.
    public var decoded: (any AnyObject & Sendable)? = nil

    public init(
        width: Int, height: Int, layout: PixelLayout, planes: [[Float]], pts: Rational,
        duration: Rational, properties: FrameProperties = FrameProperties()
    ) {
        precondition(planes.count == layout.planeCount, "a \(layout) frame has \(layout.planeCount) planes")
        precondition(planes.allSatisfy { $0.count == width * height }, "plane size must be width*height")
        self.width = width
        self.height = height
        self.layout = layout
        self.planes = planes
        self.pts = pts
        self.duration = duration
        self.properties = properties
    }

    /// A frame of one constant value per plane.
    public init(
        width: Int, height: Int, layout: PixelLayout, fill: [Float], pts: Rational = .zero,
        duration: Rational = Rational(1, 24), properties: FrameProperties = FrameProperties()
    ) {
        self.init(
            width: width, height: height, layout: layout,
            planes: (0..<layout.planeCount).map { [Float](repeating: fill[$0 % fill.count], count: width * height) },
            pts: pts, duration: duration, properties: properties)
    }

    /// The same picture with three identical planes (for stages that need color).
    public func promotedToRGB() -> Frame {
        guard layout == .gray else { return self }
        var f = self
        f.layout = .rgb
        f.planes = [planes[0], planes[0], planes[0]]
        return f
    }

    /// The picture's luma for analysis (motion search, scene and flicker measures): the gray
    /// plane itself, or BT.709-weighted R'G'B'.
    public var luma: [Float] { layout == .gray ? planes[0] : YCbCrMatrix(.bt709).luma(planes) }

    /// The picture enlarged to `width`×`height` (at least its own size) by repeating its last column
    /// and row: what an encoder that codes whole chroma samples gets for an odd size.
    public func paddedByRepeatingEdges(width nw: Int, height nh: Int) -> Frame {
        guard nw > width || nh > height else { return self }
        let w = width, h = height
        let padded = planes.map { p -> [Float] in
            var out = [Float](repeating: 0, count: nw * nh)
            for y in 0..<nh {
                let src = min(y, h - 1) * w, dst = y * nw
                for x in 0..<w { out[dst + x] = p[src + x] }
                for x in w..<nw { out[dst + x] = p[src + w - 1] }
            }
            return out
        }
        return with(width: nw, height: nh, planes: padded)
    }

    /// A frame with new pixels that keeps this frame's timing and properties.
    public func with(width: Int, height: Int, layout: PixelLayout? = nil, planes: [[Float]]) -> Frame {
        Frame(
            width: width, height: height, layout: layout ?? self.layout, planes: planes, pts: pts,
            duration: duration, properties: properties)
    }
}

/// How the lines of a picture were scanned.
public enum FieldOrder: String, Sendable, Hashable {
    case progressive, unknown
    /// Interlaced, top field first in time.
    case topFirst
    /// Interlaced, bottom field first in time.
    case bottomFirst

    public var isInterlaced: Bool { self == .topFirst || self == .bottomFirst }
}

/// What a stage consumes or produces: the stream-wide facts that an encoder needs before the first
/// frame.
public struct StreamInfo: Sendable, Hashable, CustomStringConvertible {
    public var width: Int
    public var height: Int
    public var layout: PixelLayout
    public var sampleAspect: Rational
    /// The constant frame rate, or nil for variable frame rate.
    public var frameRate: Rational?
    /// The average rate (for progress and estimates, even when VFR).
    public var averageRate: Rational
    public var color: ColorMetadata
    /// Start time of the stream in seconds.
    public var startTime: Rational
    /// Duration in seconds, when known.
    public var duration: Rational?
    /// Number of frames, when known or estimated.
    public var frameCount: Int?
    /// Progressive or interlaced (as the stream says; frames may also say so one by one).
    public var fieldOrder: FieldOrder = .unknown

    public init(
        width: Int, height: Int, layout: PixelLayout, sampleAspect: Rational = .one,
        frameRate: Rational?, averageRate: Rational, color: ColorMetadata, startTime: Rational = .zero,
        duration: Rational? = nil, frameCount: Int? = nil
    ) {
        self.width = width
        self.height = height
        self.layout = layout
        self.sampleAspect = sampleAspect
        self.frameRate = frameRate
        self.averageRate = averageRate
        self.color = color
        self.startTime = startTime
        self.duration = duration
        self.frameCount = frameCount
    }

    /// The same stream re-timed to a constant rate (frame k at k / rate): what the rate-changing
    /// stages give.
    public func atConstantRate(_ rate: Rational) -> StreamInfo {
        var out = self
        out.frameRate = rate
        out.averageRate = rate
        if let d = duration { out.frameCount = Int((d * rate).ceil) }
        return out
    }

    /// Display aspect ratio (width × SAR / height).
    public var displayAspect: Rational { Rational(Int64(width), Int64(height)) * sampleAspect }

    public var description: String {
        let rate = frameRate.map { "\($0) fps" } ?? "VFR (avg \(String(format: "%.3f", averageRate.doubleValue)) fps)"
        return "\(width)x\(height) \(layout) SAR \(sampleAspect) \(rate)"
    }
}

import Foundation
