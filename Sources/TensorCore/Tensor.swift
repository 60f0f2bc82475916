/// A 3-D float tensor, channels × height × width (one image of NCHW, row-major).
public struct Tensor: Sendable {
    public var channels: Int
    public var height: Int
    public var width: Int
    public var data: [Float]

    public init(channels: Int, height: Int, width: Int, data: [Float]) {
        precondition(
            data.count == channels * height * width, "tensor data size \(data.count) ≠ \(channels)×\(height)×\(width)")
        self.channels = channels
        self.height = height
        self.width = width
        self.data = data
    }

    public init(channels: Int, height: Int, width: Int, fill: Float = 0) {
        self.init(
            channels: channels, height: height, width: width,
            data: [Float](repeating: fill, count: channels * height * width))
    }

    public var plane: Int { height * width }

    /// Gives the tensor this shape, keeping its storage (contents unspecified): a buffer that alternates
    /// between sizes, as the ping-pong buffers of a network whose last layer is narrower do every frame,
    /// shrinks and grows inside the capacity it has instead of being made again (64 MB of fresh pages).
    mutating func reshape(channels c: Int, height h: Int, width w: Int) {
        let n = c * h * w
        if data.count > n {
            data.removeLast(data.count - n)
        } else if data.count < n {
            data.append(contentsOf: repeatElement(0, count: n - data.count))
        }
        channels = c
        height = h
        width = w
    }

    /// ⌊a / b⌋ and ⌈a / b⌉ for b > 0, also for negative a (index ranges of strided kernels).
    @inline(__always) static func floorDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }
    @inline(__always) static func ceilDiv(_ a: Int, _ b: Int) -> Int { -floorDiv(-a, b) }
    public var shape: [Int] { [channels, height, width] }
}

/// Errors of the inference core and its loaders.
public enum TensorError: Error, CustomStringConvertible, Equatable {
    case shape(String)
    case format(String)
    case missingModel(String)

    public var description: String {
        switch self {
        case let .shape(s): return "shape mismatch: \(s)"
        case let .format(s): return s
        case let .missingModel(s): return s
        }
    }
}
