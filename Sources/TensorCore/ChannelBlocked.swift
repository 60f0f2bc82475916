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
