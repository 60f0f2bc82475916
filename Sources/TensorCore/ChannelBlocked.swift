import CKernels

/// The channel-blocked layout ("c8", as ncnn's pack8): element (c, y, x) of a C×H×W tensor at
/// ((c / 8)·H + y)·W + x)·8 + c % 8. A pixel's eight channels of a block lie side by side, so the
/// Winograd transforms work on eight channels per vector with no (de)interleaving of tiles. A chain of
/// 3×3 convolutions packs once, runs `Conv2d.forwardBlocked` layer after layer and unpacks at the end.
/// A blocked tensor is a `Tensor` of the same shape whose data is in this order.
public enum ChannelBlocked {
    /// Whether `forwardBlocked` can run this layer on maps of this size: a 3×3, stride 1, padding 1
    /// convolution with a multiple of 8 input and of 16 output channels, on at least 24×24 pixels.
    public static func supports(_ conv: Conv2d, height: Int, width: Int) -> Bool {
        conv.blockedEligible && height * width >= 576
    }

    /// Planar to blocked; the channel count a multiple of 8.
    public static func pack(_ t: Tensor, into out: inout Tensor) throws {
        try convert(t, into: &out, fr_pack_c8)
    }

    /// Blocked to planar.
    public static func unpack(_ t: Tensor, into out: inout Tensor) throws {
        try convert(t, into: &out, fr_unpack_c8)
    }

    private static func convert(
        _ t: Tensor, into out: inout Tensor,
        _ kernel: (UnsafePointer<Float>?, Int, Int, UnsafeMutablePointer<Float>?) -> Void
    ) throws {
        guard t.channels % 8 == 0 else {
            throw TensorError.shape("channel-blocked tensors need a multiple of 8 channels, got \(t.channels)")
        }
        out.reshape(channels: t.channels, height: t.height, width: t.width)
        t.data.withUnsafeBufferPointer { s in
            out.data.withUnsafeMutableBufferPointer { d in
                kernel(s.baseAddress!, t.channels, t.height * t.width, d.baseAddress!)
            }
        }
    }
}

extension Conv2d {
    /// The layer on channel-blocked input and output (see `ChannelBlocked`); the same result as `forward`
    /// up to float rounding.
    public func forwardBlocked(_ x: Tensor, into out: inout Tensor, workspace: Workspace) throws {
        guard x.channels == inChannels else {
            throw TensorError.shape("\(name) expects \(inChannels) channels, got \(x.channels)")
        }
        guard ChannelBlocked.supports(self, height: x.height, width: x.width), let (wg, ut) = winogradBlocked else {
            throw TensorError.shape("\(name) cannot run channel-blocked on \(x.width)x\(x.height)")
        }
        out.reshape(channels: outChannels, height: x.height, width: x.width)
        x.data.withUnsafeBufferPointer { src in
            out.data.withUnsafeMutableBufferPointer { dst in
                wg.forwardBlocked(
                    src.baseAddress!, height: x.height, width: x.width, out: dst.baseAddress!, ut: ut, bias: bias,
                    activation: activation, workspace: workspace)
            }
        }
    }
}

/// A channel-blocked map that a chain of 3×3 convolutions overwrites in place, so the chain holds one map
/// where it held two (an upscaler's 64-channel activations at 756x567 are 110 MB each). Every plane has
/// `shift` spare rows; the picture sits in rows `shift ..< shift + height` or `0 ..< height` of each, the two
/// alternating from layer to layer: each convolution writes its output `shift` rows away from its input, in
/// bands of tile rows taken from the side the output moves toward, so no band overwrites rows a later band
/// reads (see `WinogradConv.blockedInPlace`). A layer may narrow the map (K ≤ C): its planes are the first K / 8.
public struct InPlaceBlocked {
    /// The planes (channels × (height + shift) × width floats at least), e.g. a workspace's buffer.
    public private(set) var storage: Tensor
    public private(set) var channels: Int
    public let height: Int, width: Int, shift: Int
    /// The row of each plane where the picture starts (0 or `shift`).
    public private(set) var top: Int

    /// `storage` given this shape (its contents unspecified), the picture at the planes' bottom.
    public init(channels: Int, height: Int, width: Int, storage: Tensor) {
        (self.channels, self.height, self.width) = (channels, height, width)
        shift = Self.shift(width: width)
        self.storage = storage
        self.storage.reshape(channels: channels, height: height + shift, width: width)
        top = shift
    }

    /// Spare rows for bands of 4 tile rows, or more where a band of 4 has fewer than four blocks a worker.
    static func shift(width: Int) -> Int {
        let blockTiles = fr_wino63_c8_block_tiles()
        let perRow = ((width + 5) / 6 + blockTiles - 1) / blockTiles
        return 6 * max(4, (4 * GEMM.workers + perRow - 1) / perRow) + 1
    }

    /// Whether `conv` can run in place on a map of `channels` channels of this size.
    public static func supports(_ conv: Conv2d, channels: Int, height: Int, width: Int) -> Bool {
        ChannelBlocked.supports(conv, height: height, width: width) && conv.inChannels == channels
            && conv.outChannels <= channels
    }

    /// The layer applied, its output in place of its input.
    public mutating func apply(_ conv: Conv2d, workspace: Workspace) throws {
        guard Self.supports(conv, channels: channels, height: height, width: width),
            let (wg, ut) = conv.winogradBlocked
        else {
            throw TensorError.shape("\(conv.name) cannot run in place on \(channels) channels at \(width)x\(height)")
        }
        let (from, to) = (top, top == 0 ? shift : 0)
        let (h, w, rows) = (height, width, height + shift)
        storage.data.withUnsafeMutableBufferPointer { p in
            wg.blockedInPlace(
                p.baseAddress!, height: h, width: w, planeRows: rows, from: from, to: to, ut: ut, bias: conv.bias,
                activation: conv.activation, workspace: workspace)
        }
        (top, channels) = (to, conv.outChannels)
    }

    /// Picture rows `rows` written from `planar`: `channels` planes of `planarRows` rows of `width`, row
    /// `firstRow` of each being the picture's row `rows.lowerBound`.
    public mutating func pack(rows: Range<Int>, from planar: Tensor, firstRow: Int) {
        let (w, pr, rowsPerPlane, top) = (width, planar.height, height + shift, top)
        precondition(planar.channels == channels && planar.width == w && firstRow + rows.count <= pr)
        planar.data.withUnsafeBufferPointer { s in
            storage.data.withUnsafeMutableBufferPointer { d in
                for c in 0..<channels {
                    for (k, y) in rows.enumerated() {
                        let src = s.baseAddress! + (c * pr + firstRow + k) * w
                        let dst = d.baseAddress! + ((c / 8 * rowsPerPlane + top + y) * w) * 8 + c % 8
                        for x in 0..<w { dst[x * 8] = src[x] }
                    }
                }
            }
        }
    }

    /// `body` given channel c's row y of the picture (its pixels 8 floats apart).
    public func withRows<R>(_ body: (_ row: (Int, Int) -> UnsafePointer<Float>) -> R) -> R {
        let (w, rowsPerPlane, top) = (width, height + shift, top)
        return storage.data.withUnsafeBufferPointer { p in
            body { c, y in p.baseAddress! + ((c / 8 * rowsPerPlane + top + y) * w) * 8 + c % 8 }
        }
    }
}
