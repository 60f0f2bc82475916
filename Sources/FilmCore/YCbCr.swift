/// R'G'B' ↔ Y'CbCr with explicit matrix coefficients, on normalized values
/// (Y' in 0…1, Cb and Cr in −0.5…0.5).
public struct YCbCrMatrix: Sendable, Equatable {
    public let kr: Float, kb: Float
    public var kg: Float { 1 - kr - kb }

    public init(kr: Float, kb: Float) {
        self.kr = kr
        self.kb = kb
    }

    /// The matrix for a color description; YCgCo and unknown fall back to BT.709 coefficients.
    public init(_ m: ColorMetadata.Matrix) {
        let c = m.lumaCoefficients ?? (0.2126, 0.0722)
        self.init(kr: Float(c.kr), kb: Float(c.kb))
    }

    @inline(__always) public func rgb(y: Float, cb: Float, cr: Float) -> (Float, Float, Float) {
        let r = y + 2 * (1 - kr) * cr
        let b = y + 2 * (1 - kb) * cb
        let g = (y - kr * r - kb * b) / kg
        return (r, g, b)
    }

    @inline(__always) public func ycbcr(r: Float, g: Float, b: Float) -> (Float, Float, Float) {
        let y = kr * r + kg * g + kb * b
        return (y, (b - y) / (2 * (1 - kb)), (r - y) / (2 * (1 - kr)))
    }

    /// Luma of an R'G'B' frame's planes.
    public func luma(_ planes: [[Float]]) -> [Float] {
        let n = planes[0].count
        var out = [Float](repeating: 0, count: n)
        planes[0].withUnsafeBufferPointer { r in
            planes[1].withUnsafeBufferPointer { g in
                planes[2].withUnsafeBufferPointer { b in
                    for i in 0..<n { out[i] = kr * r[i] + kg * g[i] + kb * b[i] }
                }
            }
        }
        return out
    }
}
