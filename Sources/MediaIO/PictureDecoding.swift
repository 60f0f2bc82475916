import CFFmpeg
import FilmCore

/// Turns decoded AVFrames into planar Float32 frames with an explicit matrix and range.
///
/// Planar 8–16-bit YUV, gray and GBR pictures are read directly; every other layout (packed YUV,
/// NV12, packed RGB, palette, big-endian, float) is first converted by swscale to a 16-bit planar
/// format of the same family, where swscale changes neither matrix nor range. Chroma is upsampled
/// here, honoring the stream's chroma siting, and Y'CbCr becomes R'G'B' with the matrix the stream
/// says (untagged SD → BT.601, untagged HD → BT.709).
final class PictureDecoder {
    private var scaler: ScalerBox?
    private var scalerKey: (Int32, Int32, Int32) = (0, 0, -1)
    private let scratch: FrameBox
    private var siting = ChromaSitingCache()

    init() throws { scratch = try FrameBox() }

    struct Picture {
        var layout: PixelLayout
        var width: Int
        var height: Int
        var planes: [[Float]]
        var color: ColorMetadata
    }

    /// `streamColor`: what the stream parameters say (used when the frame itself is untagged).
    func convert(_ src: UnsafeMutablePointer<AVFrame>, streamColor: ColorMetadata?) throws -> Picture {
        let w = Int(src.pointee.width), h = Int(src.pointee.height)
        var fmt = AVPixelFormat(rawValue: src.pointee.format)
        guard let desc0 = av_pix_fmt_desc_get(fmt) else {
            throw MediaError.unsupported("unknown pixel format \(src.pointee.format)")
        }
        var frame = src
        if !Self.isNative(desc0) {
            let target = Self.canonicalTarget(desc0)
            frame = try rescaleToCanonical(src, from: fmt, to: target)
            fmt = target
        }
        let desc = av_pix_fmt_desc_get(fmt)!.pointee
        let flags = desc.flags
        let isRGB = flags & UInt64(AV_PIX_FMT_FLAG_RGB) != 0
        let colorComponents = Int(desc.nb_components) - (flags & UInt64(AV_PIX_FMT_FLAG_ALPHA) != 0 ? 1 : 0)
        let depth = Int(desc.comp.0.depth)
        let maxCode = Float((1 << depth) - 1)
        let color = Self.colorMetadata(
            of: src, stream: streamColor, width: w, height: h, isRGB: isRGB,
            isGray: colorComponents == 1,
            fullRangeFormat: Self.isJPEGFormat(AVPixelFormat(rawValue: src.pointee.format)))
        let comps = [desc.comp.0, desc.comp.1, desc.comp.2]

        // Read the color components as floats in code values, at their own (possibly subsampled) size.
        func readPlane(_ c: Int) -> (values: [Float], w: Int, h: Int) {
            let sub = !isRGB && (c == 1 || c == 2)
            let pw = sub ? ceilShift(w, Int(desc.log2_chroma_w)) : w
            let ph = sub ? ceilShift(h, Int(desc.log2_chroma_h)) : h
            let (base, stride) = planeOf(frame, Int(comps[c].plane))
            var out = [Float](repeating: 0, count: pw * ph)
            out.withUnsafeMutableBufferPointer { o in
                if depth > 8 {
                    for y in 0..<ph {
                        let row = UnsafeRawPointer(base + y * stride).assumingMemoryBound(to: UInt16.self)
                        for x in 0..<pw { o[y * pw + x] = Float(UInt16(littleEndian: row[x])) }
                    }
                } else {
                    for y in 0..<ph {
                        let row = base + y * stride
                        for x in 0..<pw { o[y * pw + x] = Float(row[x]) }
                    }
                }
            }
            return (out, pw, ph)
        }

        if colorComponents == 1 {
            var y = readPlane(0).values
            let (scale, offset) = Self.lumaScale(range: color.range, depth: depth, maxCode: maxCode)
            for i in y.indices { y[i] = (y[i] - offset) * scale }
            return Picture(layout: .gray, width: w, height: h, planes: [y], color: color)
        }
        if isRGB {
            // comps are R, G, B in that order whatever their planes are.
            let inv = 1 / maxCode
            let planes = (0..<3).map { c in readPlane(c).values.map { $0 * inv } }
            return Picture(layout: .rgb, width: w, height: h, planes: planes, color: color)
        }
        let yPlane = readPlane(0).values
        let cb = readPlane(1), cr = readPlane(2)
        let loc = src.pointee.chroma_location
        let cbFull = siting.upsample(
            cb.values, cw: cb.w, ch: cb.h, to: w, h, location: loc,
            jpeg: Self.isJPEGFormat(AVPixelFormat(rawValue: src.pointee.format)))
        let crFull = siting.upsample(
            cr.values, cw: cr.w, ch: cr.h, to: w, h, location: loc,
            jpeg: Self.isJPEGFormat(AVPixelFormat(rawValue: src.pointee.format)))
        let planes = YCbCr.toRGB(y: yPlane, cb: cbFull, cr: crFull, color: color, depth: depth)
        return Picture(layout: .rgb, width: w, height: h, planes: planes, color: color)
    }

    static func lumaScale(range: ColorMetadata.Range, depth: Int, maxCode: Float) -> (scale: Float, offset: Float) {
        if range == .limited {
            let k = Float(1 << (depth - 8))
            return (1 / (219 * k), 16 * k)
        }
        return (1 / maxCode, 0)
    }

    private func rescaleToCanonical(_ src: UnsafeMutablePointer<AVFrame>, from: AVPixelFormat, to: AVPixelFormat) throws
        -> UnsafeMutablePointer<AVFrame>
    {
        let w = src.pointee.width, h = src.pointee.height
        if scaler == nil || scalerKey != (w, h, from.rawValue) {
            scaler = try ScalerBox(srcW: w, srcH: h, srcFmt: from, dstW: w, dstH: h, dstFmt: to)
            scalerKey = (w, h, from.rawValue)
        }
        let dst = scratch.pointer
        if dst.pointee.width != w || dst.pointee.height != h || dst.pointee.format != to.rawValue {
            av_frame_unref(dst)
            dst.pointee.width = w
            dst.pointee.height = h
            dst.pointee.format = to.rawValue
            try check(av_frame_get_buffer(dst, 0), "av_frame_get_buffer")
        }
        try withUnsafePointer(to: &src.pointee.data) { sp in
            try withUnsafePointer(to: &src.pointee.linesize) { sl in
                try withUnsafePointer(to: &dst.pointee.data) { dp in
                    try withUnsafePointer(to: &dst.pointee.linesize) { dl in
                        let srcData = UnsafeRawPointer(sp).assumingMemoryBound(to: UnsafePointer<UInt8>?.self)
                        let dstData = UnsafeRawPointer(dp).assumingMemoryBound(to: UnsafeMutablePointer<UInt8>?.self)
                        let r = sws_scale(
                            scaler!.ctx, srcData, UnsafeRawPointer(sl).assumingMemoryBound(to: Int32.self), 0, h,
                            dstData, UnsafeRawPointer(dl).assumingMemoryBound(to: Int32.self))
                        try check(r, "sws_scale")
                    }
                }
            }
        }
        return dst
    }

    /// Planar, little-endian, integer, one component per plane, no packing: read directly.
    static func isNative(_ d: UnsafePointer<AVPixFmtDescriptor>) -> Bool {
        let desc = d.pointee
        let f = desc.flags
        if f
            & UInt64(
                AV_PIX_FMT_FLAG_BE | AV_PIX_FMT_FLAG_PAL | AV_PIX_FMT_FLAG_FLOAT | AV_PIX_FMT_FLAG_BAYER
                    | AV_PIX_FMT_FLAG_HWACCEL) != 0
        {
            return false
        }
        let n = Int(desc.nb_components) - (f & UInt64(AV_PIX_FMT_FLAG_ALPHA) != 0 ? 1 : 0)
        if n != 1 && n != 3 { return false }
        if n == 3 && f & UInt64(AV_PIX_FMT_FLAG_PLANAR) == 0 { return false }
        let comps = [desc.comp.0, desc.comp.1, desc.comp.2]
        let depth = comps[0].depth
        guard depth >= 8, depth <= 16 else { return false }
        var planes = Set<Int32>()
        for c in comps.prefix(n) {
            let bytes: Int32 = depth > 8 ? 2 : 1
            if c.depth != depth || c.step != bytes || c.shift != 0 || c.offset != 0 { return false }
            planes.insert(c.plane)
        }
        return planes.count == n
    }

    /// Same family, planar, and 8 bits when the source has at most 8 (so 8-bit values stay exact:
    /// swscale widens 8 to 16 bits by shifting, which is not ×257), else 16 bits.
    static func canonicalTarget(_ d: UnsafePointer<AVPixFmtDescriptor>) -> AVPixelFormat {
        let f = d.pointee.flags
        let deep = d.pointee.comp.0.depth > 8 || f & UInt64(AV_PIX_FMT_FLAG_FLOAT) != 0
        if f & UInt64(AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL) != 0 {
            return deep ? AV_PIX_FMT_GBRP16LE : AV_PIX_FMT_GBRP
        }
        let n = Int(d.pointee.nb_components) - (f & UInt64(AV_PIX_FMT_FLAG_ALPHA) != 0 ? 1 : 0)
        if n == 1 { return deep ? AV_PIX_FMT_GRAY16LE : AV_PIX_FMT_GRAY8 }
        return deep ? AV_PIX_FMT_YUV444P16LE : AV_PIX_FMT_YUV444P
    }

    static func isJPEGFormat(_ f: AVPixelFormat) -> Bool {
        f == AV_PIX_FMT_YUVJ420P || f == AV_PIX_FMT_YUVJ422P || f == AV_PIX_FMT_YUVJ444P || f == AV_PIX_FMT_YUVJ440P
            || f == AV_PIX_FMT_YUVJ411P
    }

    /// The frame's tags, then the stream's, then the convention for untagged video.
    static func colorMetadata(
        of f: UnsafeMutablePointer<AVFrame>, stream: ColorMetadata?, width: Int, height: Int,
        isRGB: Bool, isGray: Bool, fullRangeFormat: Bool
    ) -> ColorMetadata {
        var c = ColorMetadata.defaultFor(width: width, height: height)
        let space = Int(f.pointee.colorspace.rawValue)
        if let m = ColorMetadata.Matrix(rawValue: space), m != .unspecified {
            c.matrix = m
            c.inferred = false
        } else if let s = stream, s.matrix != .unspecified, !s.inferred {
            c.matrix = s.matrix
            c.inferred = false
        }
        if Int(f.pointee.color_primaries.rawValue) != 2 {
            c.primaries = Int(f.pointee.color_primaries.rawValue)
        } else if let s = stream, s.primaries != 2 {
            c.primaries = s.primaries
        }
        if Int(f.pointee.color_trc.rawValue) != 2 {
            c.transfer = Int(f.pointee.color_trc.rawValue)
        } else if let s = stream, s.transfer != 2 {
            c.transfer = s.transfer
        }
        let r = ColorMetadata.Range(rawValue: Int(f.pointee.color_range.rawValue)) ?? .unspecified
        if r != .unspecified {
            c.range = r
        } else if let s = stream, s.range != .unspecified {
            c.range = s.range
        } else if fullRangeFormat || isRGB || isGray {
            c.range = .full
        }  // gray: PNG/scan convention
        else {
            c.range = .limited
        }
        if isRGB {
            c.matrix = .rgb
            c.range = .full
        }
        return c
    }
}

@inline(__always) func ceilShift(_ v: Int, _ s: Int) -> Int { -((-v) >> s) }

/// Precomputed bilinear taps for chroma upsampling; rebuilt only when the geometry changes.
struct ChromaSitingCache {
    struct Axis: Equatable { var n = 0, cn = 0, offset = 0.0, factor = 1 }
    private var keyX = Axis(), keyY = Axis()
    private var tapsX: [(Int, Int, Float)] = [], tapsY: [(Int, Int, Float)] = []

    private static func taps(_ a: Axis) -> [(Int, Int, Float)] {
        (0..<a.n).map { x in
            let c = (Double(x) - a.offset) / Double(a.factor)
            let cl = min(max(c, 0), Double(a.cn - 1))
            let i0 = Int(cl.rounded(.down))
            let i1 = min(i0 + 1, a.cn - 1)
            return (i0, i1, Float(cl - Double(i0)))
        }
    }

    mutating func upsample(_ p: [Float], cw: Int, ch: Int, to w: Int, _ h: Int, location: AVChromaLocation, jpeg: Bool)
        -> [Float]
    {
        if cw == w && ch == h { return p }
        let fx = max(1, Int((Double(w) / Double(cw)).rounded())), fy = max(1, Int((Double(h) / Double(ch)).rounded()))
        // Luma-sample offset of the first chroma sample (H.273 chroma_sample_loc).
        var loc = location
        if loc == AVCHROMA_LOC_UNSPECIFIED { loc = jpeg ? AVCHROMA_LOC_CENTER : AVCHROMA_LOC_LEFT }
        let ox: Double = (fx == 1) ? 0 : ((loc == AVCHROMA_LOC_CENTER || loc == AVCHROMA_LOC_BOTTOM) ? 0.5 : 0)
        let oy: Double =
            (fy == 1)
            ? 0
            : ((loc == AVCHROMA_LOC_TOPLEFT || loc == AVCHROMA_LOC_TOP)
                ? 0 : (loc == AVCHROMA_LOC_BOTTOMLEFT || loc == AVCHROMA_LOC_BOTTOM) ? 1 : 0.5)
        let ax = Axis(n: w, cn: cw, offset: ox, factor: fx), ay = Axis(n: h, cn: ch, offset: oy, factor: fy)
        if ax != keyX {
            keyX = ax
            tapsX = Self.taps(ax)
        }
        if ay != keyY {
            keyY = ay
            tapsY = Self.taps(ay)
        }
        var out = [Float](repeating: 0, count: w * h)
        var rowBuf = [Float](repeating: 0, count: w)
        p.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<h {
                    let (r0, r1, fyw) = tapsY[y]
                    for x in 0..<cw {
                        rowBuf[x] = src[r0 * cw + x] * (1 - fyw) + src[r1 * cw + x] * fyw
                    }
                    for x in 0..<w {
                        let (c0, c1, fxw) = tapsX[x]
                        dst[y * w + x] = rowBuf[c0] * (1 - fxw) + rowBuf[c1] * fxw
                    }
                }
            }
        }
        return out
    }
}
