/// Tensors made from and cut into planes and rectangles (frames in and out of the networks,
/// tiles, padding).
extension Tensor {
    /// A CHW tensor of equal-size planes, in order.
    public init(planes: [[Float]], height: Int, width: Int) {
        var data: [Float] = []
        data.reserveCapacity(planes.count * height * width)
        for p in planes { data += p }
        self.init(channels: planes.count, height: height, width: width, data: data)
    }

    /// Channel c as one plane.
    public func plane(_ c: Int) -> [Float] { Array(data[(c * plane)..<((c + 1) * plane)]) }

    /// The rectangle at (x, y) of every channel.
    public func region(x: Int, y: Int, width w: Int, height h: Int) -> Tensor {
        if x == 0 && y == 0 && w == width && h == height { return self }
        var out = Tensor(channels: channels, height: h, width: w)
        out.copy(self, x: x, y: y, width: w, height: h, toX: 0, toY: 0)
        return out
    }

    /// Zeros added at the right and bottom up to the given size.
    public func padded(toHeight h: Int, width w: Int) -> Tensor {
        if h == height && w == width { return self }
        var out = Tensor(channels: channels, height: h, width: w)
        out.copy(self, x: 0, y: 0, width: width, height: height, toX: 0, toY: 0)
        return out
    }

    /// Copies the width×height rectangle of `source` at (x, y) to (toX, toY), every channel.
    public mutating func copy(_ source: Tensor, x: Int, y: Int, width w: Int, height h: Int, toX: Int, toY: Int) {
        precondition(
            source.channels == channels && x + w <= source.width && y + h <= source.height
                && toX + w <= width && toY + h <= height, "rectangle outside the tensor")
        let sw = source.width, sh = source.height, dw = width, dh = height
        source.data.withUnsafeBufferPointer { s in
            data.withUnsafeMutableBufferPointer { d in
                for c in 0..<channels {
                    for r in 0..<h {
                        (d.baseAddress! + (c * dh + toY + r) * dw + toX).update(
                            from: s.baseAddress! + (c * sh + y + r) * sw + x, count: w)
                    }
                }
            }
        }
    }
}
