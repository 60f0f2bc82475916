import CFFmpeg
import FilmCore

/// Writes planar float frames into an encoder's AVFrame: R'G'B' → Y'CbCr with the output matrix,
/// chroma downsampled with MPEG-2 ("left") siting, quantized to the format's depth and range.
struct PictureEncoder {
    let width: Int, height: Int
    let log2cw: Int, log2ch: Int
    let depth: Int
    let gray: Bool
    let matrix: YCbCrMatrix
    let range: CodeRange
    /// Source primaries → output primaries (SD material in an HD/4K master), when they differ.
    let primaries: PrimariesConversion?
    // Workspaces, allocated once.
    private var y: [Float], cb: [Float], cr: [Float]

    /// Packed R'G'B' formats of still images (PNG, TIFF) and big-endian gray (16-bit PNG).
    static let packedFormats: [AVPixelFormat] = [
        AV_PIX_FMT_RGB24, AV_PIX_FMT_RGB48BE, AV_PIX_FMT_RGB48LE, AV_PIX_FMT_GRAY16BE,
    ]

    /// Planar R'G'B' of scans (DPX 10/12-bit, 16-bit) and float R'G'B' (EXR): G, B, R planes.
    static let planarRGBFormats: [AVPixelFormat] = [
        AV_PIX_FMT_GBRP10LE, AV_PIX_FMT_GBRP12LE, AV_PIX_FMT_GBRP16LE, AV_PIX_FMT_GBRPF32LE,
    ]

    /// Writes R'G'B' (a gray picture into all three) as planar G, B, R: integer codes of the
    /// format's depth, full range, or floats as they are (EXR keeps values beyond 0…1).
    static func fillPlanarRGB(_ frame: UnsafeMutablePointer<AVFrame>, from f: Frame, format: AVPixelFormat) {
        let d = av_pix_fmt_desc_get(format)!.pointee
        let isFloat = d.flags & UInt64(AV_PIX_FMT_FLAG_FLOAT) != 0
        let maxCode = Float((1 << Int(d.comp.0.depth)) - 1)
        let rgb = f.layout == .gray ? [f.planes[0], f.planes[0], f.planes[0]] : f.planes
        for (plane, src) in [(0, rgb[1]), (1, rgb[2]), (2, rgb[0])] {
            let (base, stride) = planeOf(frame, plane)
            for y in 0..<f.height {
                let row = UnsafeMutableRawPointer(base + y * stride)
                for x in 0..<f.width {
                    let v = src[y * f.width + x]
                    if isFloat {
                        row.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: x * 4, as: UInt32.self)
                    } else {
                        row.storeBytes(
                            of: PictureEncoder.code(v * maxCode, maxCode).littleEndian, toByteOffset: x * 2,
                            as: UInt16.self)
                    }
                }
            }
        }
    }

    static func supported(_ fmt: AVPixelFormat) -> Bool {
        if packedFormats.contains(fmt) { return true }
        guard let d = av_pix_fmt_desc_get(fmt) else { return false }
        let f = d.pointee.flags
        return PictureDecoder.isNative(d) && f & UInt64(AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_ALPHA) == 0
    }

    /// Writes R'G'B' (or gray) samples interleaved, full range, 8 or 16 bits, either endianness.
    static func fillPacked(_ frame: UnsafeMutablePointer<AVFrame>, from f: Frame, format: AVPixelFormat) {
        let d = av_pix_fmt_desc_get(format)!.pointee
        let comps = Int(d.nb_components), depth = Int(d.comp.0.depth)
        let bigEndian = d.flags & UInt64(AV_PIX_FMT_FLAG_BE) != 0
        let maxCode = Float((1 << depth) - 1)
        let (base, stride) = planeOf(frame, 0)
        let w = f.width
        let planes: [[Float]] =
            comps == 1
            ? (f.layout == .gray ? f.planes : [YCbCrMatrix(.bt709).luma(f.planes)])
            : (f.layout == .gray ? [f.planes[0], f.planes[0], f.planes[0]] : f.planes)
        for y in 0..<f.height {
            let row = base + y * stride
            for x in 0..<w {
                for c in 0..<comps {
                    let v = PictureEncoder.code(planes[c][y * w + x] * maxCode, maxCode)
                    if depth > 8 {
                        let p = UnsafeMutableRawPointer(row + (x * comps + c) * 2).assumingMemoryBound(to: UInt16.self)
                        p.pointee = bigEndian ? v.bigEndian : v.littleEndian
                    } else {
                        row[x * comps + c] = UInt8(v)
                    }
                }
            }
        }
    }

    init(width: Int, height: Int, format: AVPixelFormat, color: ColorMetadata, sourcePrimaries: Int) {
        primaries = PrimariesConversion(from: sourcePrimaries, to: color.primaries)
        let d = av_pix_fmt_desc_get(format)!.pointee
        self.width = width
        self.height = height
        gray = d.nb_components == 1
        log2cw = Int(d.log2_chroma_w)
        log2ch = Int(d.log2_chroma_h)
        depth = Int(d.comp.0.depth)
        matrix = YCbCrMatrix(color.matrix)
        range = CodeRange(range: color.range, depth: depth)
        y = [Float](repeating: 0, count: width * height)
        cb = gray ? [] : y
        cr = gray ? [] : y
    }

    mutating func fill(_ frame: UnsafeMutablePointer<AVFrame>, from f: Frame) {
        precondition(
            f.width == width && f.height == height, "frame size \(f.width)x\(f.height) ≠ encoder \(width)x\(height)")
        let n = width * height
        if f.layout == .gray {
            // a gray picture's chroma is neutral everywhere: its code written straight into the chroma planes
            store(f.planes[0], w: width, h: height, into: frame, plane: 0, scale: range.yScale, offset: range.yOffset)
            if !gray {
                let cw = ceilShift(width, log2cw), ch = ceilShift(height, log2ch)
                let neutral = [Float](repeating: 0, count: cw)
                for plane in 1...2 {
                    store(
                        neutral, w: cw, h: ch, into: frame, plane: plane, scale: range.cScale, offset: range.cOffset,
                        sourceStride: 0)
                }
            }
            return
        } else if gray {
            y = matrix.luma(f.planes)
        } else {
            let m = matrix
            f.planes[0].withUnsafeBufferPointer { r in
                f.planes[1].withUnsafeBufferPointer { g in
                    f.planes[2].withUnsafeBufferPointer { b in
                        y.withUnsafeMutableBufferPointer { yo in
                            cb.withUnsafeMutableBufferPointer { bo in
                                cr.withUnsafeMutableBufferPointer { ro in
                                    if let conv = primaries {
                                        for i in 0..<n {
                                            let (cr, cg, cb) = conv.convert(r[i], g[i], b[i])
                                            let (yy, u, v) = m.ycbcr(r: cr, g: cg, b: cb)
                                            yo[i] = yy
                                            bo[i] = u
                                            ro[i] = v
                                        }
                                    } else {
                                        for i in 0..<n {
                                            let (yy, u, v) = m.ycbcr(r: r[i], g: g[i], b: b[i])
                                            yo[i] = yy
                                            bo[i] = u
                                            ro[i] = v
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        store(y, w: width, h: height, into: frame, plane: 0, scale: range.yScale, offset: range.yOffset)
        if !gray {
            let cw = ceilShift(width, log2cw), ch = ceilShift(height, log2ch)
            let u = downsample(cb, cw: cw, ch: ch), v = downsample(cr, cw: cw, ch: ch)
            store(u, w: cw, h: ch, into: frame, plane: 1, scale: range.cScale, offset: range.cOffset)
            store(v, w: cw, h: ch, into: frame, plane: 2, scale: range.cScale, offset: range.cOffset)
        }
    }

    /// [1 2 1]/4 horizontally around co-sited even columns; rows averaged in pairs (interstitial).
    private func downsample(_ p: [Float], cw: Int, ch: Int) -> [Float] {
        if log2cw == 0 && log2ch == 0 { return p }
        var rows = p
        if log2cw > 0 {
            rows = [Float](repeating: 0, count: cw * height)
            for yy in 0..<height {
                let base = yy * width
                for x in 0..<cw {
                    let c = 2 * x
                    let l = p[base + max(c - 1, 0)], m = p[base + c], r = p[base + min(c + 1, width - 1)]
                    rows[yy * cw + x] = 0.25 * l + 0.5 * m + 0.25 * r
                }
            }
        }
        if log2ch == 0 { return rows }
        var out = [Float](repeating: 0, count: cw * ch)
        for yy in 0..<ch {
            let r0 = 2 * yy, r1 = min(2 * yy + 1, height - 1)
            for x in 0..<cw { out[yy * cw + x] = 0.5 * (rows[r0 * cw + x] + rows[r1 * cw + x]) }
        }
        return out
    }

    private func store(
        _ p: [Float], w: Int, h: Int, into frame: UnsafeMutablePointer<AVFrame>, plane: Int, scale: Float,
        offset: Float,
        sourceStride: Int? = nil
    ) {
        let (base, stride) = planeOf(frame, plane)
        let maxCode = range.maxCode, ss = sourceStride ?? w
        p.withUnsafeBufferPointer { src in
            if depth > 8 {
                for yy in 0..<h {
                    let row = UnsafeMutableRawPointer(base + yy * stride).assumingMemoryBound(to: UInt16.self)
                    for x in 0..<w {
                        row[x] = Self.code(src[yy * ss + x] * scale + offset, maxCode).littleEndian
                    }
                }
            } else {
                for yy in 0..<h {
                    let row = base + yy * stride
                    for x in 0..<w {
                        row[x] = UInt8(truncatingIfNeeded: Self.code(src[yy * ss + x] * scale + offset, maxCode))
                    }
                }
            }
        }
    }

    /// v as an integer code 0…maxCode (≤ 65535): clamped (NaN → 0), rounded to the nearest (ties to even) by
    /// adding 2²³, whose float keeps the integer in its low mantissa bits — no libm call and no trap, so the
    /// loops around it vectorize.
    @inline(__always) static func code(_ v: Float, _ maxCode: Float) -> UInt16 {
        let c = v > 0 ? (v < maxCode ? v : maxCode) : 0
        return UInt16(truncatingIfNeeded: (c + 8_388_608).bitPattern)
    }
}
