import Foundation
import TensorCore

/// Reads a network's weights out of a state dict, shape-checked, counting the parameters taken;
/// with the PyTorch building blocks the colorization networks share: BatchNorm as scale and shift,
/// and a convolution with the BatchNorm that follows it folded in.
struct WeightReader {
    let stateDict: StateDict
    private(set) var parameterCount = 0

    init(_ sd: StateDict) { stateDict = sd }

    subscript(_ key: String) -> NamedTensor? { stateDict[key] }

    /// The values under `key`, which must have this shape.
    mutating func tensor(_ key: String, _ shape: [Int]) throws -> [Float] {
        let v = try stateDict.require(key, shape: shape).data
        parameterCount += v.count
        return v
    }

    /// BatchNorm2d `key` (eval mode, eps 1e-5) as y = x · scale + shift.
    mutating func batchNorm(_ key: String, channels c: Int) throws -> (scale: [Float], shift: [Float]) {
        let w = try tensor("\(key).weight", [c]), b = try tensor("\(key).bias", [c])
        let m = try tensor("\(key).running_mean", [c]), v = try tensor("\(key).running_var", [c])
        let scale = (0..<c).map { w[$0] / (v[$0] + 1e-5).squareRoot() }
        return (scale, (0..<c).map { b[$0] - m[$0] * scale[$0] })
    }

    /// A bias-free k×k convolution with weights `weight` ([o][i][k][k]) followed by BatchNorm `bn`,
    /// folded into one convolution (padding k/2), ReLU fused if asked.
    mutating func convolution(
        _ name: String, weight: [Float], batchNorm bn: String, in i: Int, out o: Int, kernel k: Int,
        stride: Int = 1, relu: Bool
    ) throws -> Conv2d {
        let (scale, shift) = try batchNorm(bn, channels: o)
        let per = i * k * k
        var folded = weight
        for oc in 0..<o { for j in 0..<per { folded[oc * per + j] *= scale[oc] } }
        return try Conv2d(
            name: name, inChannels: i, outChannels: o, kernel: k, stride: stride, padding: k / 2,
            weight: folded, bias: shift, activation: relu ? .leakyReLU(0) : .none)
    }

    /// The same with the convolution's weights read from `conv`.weight.
    mutating func convolution(
        _ conv: String, batchNorm bn: String, in i: Int, out o: Int, kernel k: Int,
        stride: Int = 1, relu: Bool
    ) throws -> Conv2d {
        let w = try tensor("\(conv).weight", [o, i, k, k])
        return try convolution(conv, weight: w, batchNorm: bn, in: i, out: o, kernel: k, stride: stride, relu: relu)
    }
}
