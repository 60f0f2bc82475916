import XCTest
import Foundation
@testable import TensorCore
import TestSupport

/// The SIMD kernels (CKernels: one C source compiled for baseline x86-64, AVX2 + FMA and AVX-512) against the plain
/// Swift kernels, for every instruction set this CPU has, on odd sizes (partial tiles, one-pixel planes, band
/// offsets); and a whole 3×3 convolution under each against the direct sum.
final class KernelISATests: XCTestCase {
    var available: [InstructionSet] { InstructionSet.allCases.filter { $0.rawValue <= Kernels.supported.rawValue } }

    let sizes = [(13, 29), (6, 6), (1, 7), (37, 50), (8, 1), (61, 67)]

    func test_winogradInputTransform_eachISA_matchesPlain() {
        for isa in available {
            for (h, w) in sizes {
                let c = 3
                let x = randomTensor(c, h, w, seed: UInt64(h * 97 + w))
                let tilesX = (w + 5) / 6, tilesY = (h + 5) / 6
                // a band of tile rows that does not start at 0 when there are several
                let tr0 = tilesY > 2 ? 1 : 0, rows = tilesY - tr0
                let T = rows * tilesX
                var fast = [Float](repeating: .nan, count: 64 * c * T), plain = fast
                x.data.withUnsafeBufferPointer { xp in
                    fast.withUnsafeMutableBufferPointer { v in
                        Kernels.using(isa) {
                            WinogradConv.transformInput(
                                xp.baseAddress!, height: h, width: w, channels: 0..<c, tileRow0: tr0, rows: rows,
                                into: v.baseAddress!, vChannels: c, tiles: T)
                        }
                    }
                    plain.withUnsafeMutableBufferPointer { v in
                        WinogradConv.transformInputPlain(
                            xp.baseAddress!, height: h, width: w, channels: 0..<c, tileRow0: tr0, rows: rows,
                            into: v.baseAddress!, vChannels: c, tiles: T)
                    }
                }
                XCTAssertFalse(fast.contains { $0.isNaN }, "\(isa) \(h)x\(w): every value written")
                XCTAssertLessThanOrEqual(try maxRelativeError(fast, plain), 1e-6, "\(isa) \(h)x\(w)")
            }
        }
    }

    func test_winogradOutputTransform_eachISA_matchesPlain() throws {
        var g = SplitMix64(5)
        for isa in available {
            for (h, w) in sizes {
                let k = 4
                let wg = WinogradConv(
                    weight: (0..<(k * 9)).map { _ in g.nextUnit() }, inChannels: 1, outChannels: k)
                let tilesX = (w + 5) / 6, tilesY = (h + 5) / 6
                let tr0 = tilesY > 2 ? 1 : 0, rows = tilesY - tr0
                let T = rows * tilesX
                var m = (0..<(64 * k * T)).map { _ in g.nextUnit() * 2 - 1 }
                let bias = (0..<k).map { _ in g.nextUnit() - 0.5 }, slopes: [Float] = [1, 0.2, 0, 0.05]
                var fast = [Float](repeating: 7, count: k * h * w), plain = fast
                m.withUnsafeMutableBufferPointer { mp in
                    fast.withUnsafeMutableBufferPointer { o in
                        Kernels.using(isa) {
                            wg.transformOutput(
                                mp.baseAddress!, tiles: T, tileRow0: tr0, rows: rows, height: h, width: w,
                                out: o.baseAddress!, bias: bias, slopes: slopes)
                        }
                    }
                    plain.withUnsafeMutableBufferPointer { o in
                        wg.transformOutputPlain(
                            mp.baseAddress!, tiles: T, tileRow0: tr0, rows: rows, height: h, width: w,
                            out: o.baseAddress!, bias: bias, slopes: slopes)
                    }
                }
                XCTAssertLessThanOrEqual(try maxRelativeError(fast, plain), 1e-6, "\(isa) \(h)x\(w)")
                // rows above the band untouched by both
                XCTAssertEqual(fast[0], plain[0])
            }
        }
    }

    func test_winogradConvolution_eachISA_matchesDirectSum() throws {
        var g = SplitMix64(11)
        let ws = Workspace(floats: 1 << 14)  // small: several bands
        for isa in available {
            for (ci, co, h, w) in [(16, 24, 23, 37), (8, 8, 61, 67), (64, 64, 18, 30)] {
                let conv = try Conv2d(
                    name: "c", inChannels: ci, outChannels: co, kernel: 3, stride: 1, padding: 1,
                    weight: (0..<(co * ci * 9)).map { _ in g.nextUnit() - 0.5 },
                    bias: (0..<co).map { _ in g.nextUnit() - 0.5 }, activation: .leakyReLU(0.2))
                XCTAssertTrue(conv.usesWinograd)
                let x = randomTensor(ci, h, w, seed: UInt64(ci + h))
                let fast = try Kernels.using(isa) { try conv.forward(x, workspace: ws) }
                XCTAssertLessThanOrEqual(
                    try maxRelativeError(fast.data, conv.reference(x).data), 1e-4, "\(isa) \(ci)→\(co) \(h)x\(w)")
            }
        }
    }

    /// The cache-blocked convolution (blocks of 16 tiles through input transform, own small products and
    /// output transform) against the banded path on the plain Swift transforms and OpenBLAS: widths with
    /// a partial last block, channel counts not a multiple of 4, one-pixel pictures.
    func test_blockedWinograd_eachISA_matchesTheBandedPlainPath() throws {
        var g = SplitMix64(13)
        for isa in available {
            for (ci, co, h, w) in [(9, 5, 7, 200), (16, 24, 23, 37), (64, 64, 30, 101), (8, 3, 1, 1), (12, 7, 13, 96)] {
                let wg = WinogradConv(
                    weight: (0..<(co * ci * 9)).map { _ in g.nextUnit() - 0.5 }, inChannels: ci, outChannels: co)
                let x = randomTensor(ci, h, w, seed: UInt64(ci * 31 + w))
                let bias = (0..<co).map { _ in g.nextUnit() - 0.5 }
                let act = Activation.prelu((0..<co).map { _ in g.nextUnit() * 0.3 })
                var fast = [Float](repeating: .nan, count: co * h * w), plain = fast
                x.data.withUnsafeBufferPointer { xp in
                    fast.withUnsafeMutableBufferPointer { o in
                        Kernels.using(isa) {
                            wg.forward(
                                xp.baseAddress!, height: h, width: w, out: o.baseAddress!, bias: bias, activation: act,
                                workspace: Workspace(floats: 16))
                        }
                    }
                    plain.withUnsafeMutableBufferPointer { o in
                        wg.forwardBanded(
                            xp.baseAddress!, height: h, width: w, out: o.baseAddress!, bias: bias, activation: act,
                            workspace: Workspace(floats: 1 << 12), plain: true)
                    }
                }
                XCTAssertFalse(fast.contains { $0.isNaN }, "\(isa) \(ci)→\(co) \(h)x\(w): every pixel written")
                // Same transforms, different summation order (own 4x16 products vs OpenBLAS): the rounding of
                // up to 64 products per entry, amplified by the F(6,3) output transform, reaches ~1.2e-5.
                XCTAssertLessThanOrEqual(try maxRelativeError(fast, plain), 3e-5, "\(isa) \(ci)→\(co) \(h)x\(w)")
            }
        }
    }

    /// A dense block's path: channels transformed once into a `WinogradInput`, then convolutions that read a
    /// prefix of them, against the direct sum.
    func test_transformedInputConvolution_eachISA_matchesDirectSum() throws {
        var g = SplitMix64(17)
        for isa in available {
            let (h, w) = (29, 103)
            let x = randomTensor(20, h, w, seed: 3)
            let input = WinogradInput(height: h, width: w, capacity: 24)
            Kernels.using(isa) {
                x.data.withUnsafeBufferPointer { input.append($0.baseAddress!, count: 12) }
                x.data.withUnsafeBufferPointer { input.append($0.baseAddress! + 12 * h * w, count: 8) }
            }
            for (ci, co) in [(12, 8), (20, 5)] {
                let conv = try Conv2d(
                    name: "d", inChannels: ci, outChannels: co, kernel: 3,
                    weight: (0..<(co * ci * 9)).map { _ in g.nextUnit() - 0.5 },
                    bias: (0..<co).map { _ in g.nextUnit() - 0.5 }, activation: .leakyReLU(0.2))
                var out = [Float](repeating: .nan, count: co * h * w)
                try out.withUnsafeMutableBufferPointer { o in
                    try Kernels.using(isa) {
                        try conv.forward(transformed: input, into: o.baseAddress!, workspace: Workspace(floats: 16))
                    }
                }
                let prefix = Tensor(channels: ci, height: h, width: w, data: Array(x.data.prefix(ci * h * w)))
                XCTAssertLessThanOrEqual(
                    try maxRelativeError(out, conv.reference(prefix).data), 1e-4, "\(isa) \(ci)→\(co)")
            }
        }
    }

    func test_im2col_eachISA_equalsTheSwiftCopy() throws {
        // kernel sizes 1…5, strides 1…3, paddings 0…2, odd sizes, a band of rows starting inside the picture,
        // rows entirely in the padding: a copy, so exactly equal
        var g = SplitMix64(11)
        for (k, s, p, c, h, w) in [
            (3, 1, 1, 3, 17, 23), (3, 2, 1, 5, 20, 33), (3, 2, 0, 2, 9, 8), (4, 2, 1, 4, 11, 14), (1, 1, 0, 3, 5, 7),
            (5, 3, 2, 2, 13, 19), (3, 2, 1, 1, 1, 1), (3, 1, 2, 2, 6, 40),
        ] {
            let conv = try Conv2d(
                name: "c", inChannels: c, outChannels: 1, kernel: k, stride: s, padding: p,
                weight: [Float](repeating: 0, count: c * k * k), bias: [0])
            let x = (0..<(c * h * w)).map { _ in g.nextUnit() }
            let (oh, ow) = conv.outputSize(h, w)
            for (r0, rows) in [(0, oh), (oh / 2, oh - oh / 2)] where rows > 0 {
                let n = c * k * k * rows * ow
                var want = [Float](repeating: .nan, count: n)
                x.withUnsafeBufferPointer { xp in
                    want.withUnsafeMutableBufferPointer {
                        conv.im2colReference(
                            xp.baseAddress!, height: h, width: w, rowStart: r0, rows: rows, outWidth: ow,
                            into: $0.baseAddress!)
                    }
                }
                for isa in available {
                    var got = [Float](repeating: .nan, count: n)
                    Kernels.using(isa) {
                        x.withUnsafeBufferPointer { xp in
                            got.withUnsafeMutableBufferPointer {
                                conv.im2col(
                                    xp.baseAddress!, height: h, width: w, rowStart: r0, rows: rows, outWidth: ow,
                                    into: $0.baseAddress!)
                            }
                        }
                    }
                    XCTAssertEqual(got, want, "\(isa) k\(k) s\(s) p\(p) \(c)x\(h)x\(w) rows \(r0)+\(rows)")
                }
            }
        }
    }

    func test_isaNames_andTheEnvironmentVariable() throws {
        XCTAssertEqual(InstructionSet(name: "AVX2"), .avx2)
        XCTAssertNil(try Kernels.requested([:]))
        XCTAssertEqual(try Kernels.requested(["FILMRESTORE_ISA": "baseline"]), .baseline)
        XCTAssertThrowsError(try Kernels.requested(["FILMRESTORE_ISA": "sse9"])) {
            XCTAssertTrue("\($0)".contains("FILMRESTORE_ISA=sse9"), "\($0)")
        }
        // asking for more than the CPU has gives what it has
        let got = Kernels.using(.avx512) { Kernels.current }
        XCTAssertEqual(got, Kernels.supported)
        XCTAssertTrue(Kernels.supported.rawValue >= InstructionSet.avx2.rawValue, "every supported machine has AVX2")
    }

    /// The channel-blocked convolution (eight channels per vector, blocks of 12 tiles) against the direct sum,
    /// packed in and unpacked out: per-channel PReLU, widths and heights with partial tiles and a partial last
    /// block, a picture narrower than one block, and the 64→64 / 64→48 layers of the x4 upscaler.
    func test_channelBlockedWinograd_eachISA_matchesDirectSum() throws {
        var g = SplitMix64(17)
        let ws = Workspace(floats: 1 << 14)
        for isa in available {
            for (ci, co, h, w) in [
                (8, 16, 25, 31), (16, 32, 61, 79), (64, 64, 30, 80), (64, 48, 24, 24), (24, 16, 97, 13),
            ] {
                let conv = try Conv2d(
                    name: "c", inChannels: ci, outChannels: co, kernel: 3, stride: 1, padding: 1,
                    weight: (0..<(co * ci * 9)).map { _ in g.nextUnit() - 0.5 },
                    bias: (0..<co).map { _ in g.nextUnit() - 0.5 },
                    activation: .prelu((0..<co).map { _ in g.nextUnit() * 0.5 }))
                XCTAssertTrue(ChannelBlocked.supports(conv, height: h, width: w))
                let x = randomTensor(ci, h, w, seed: UInt64(ci * 7 + h))
                var packed = Tensor(channels: 0, height: 0, width: 0), out = packed, planar = packed
                try ChannelBlocked.pack(x, into: &packed)
                try Kernels.using(isa) { try conv.forwardBlocked(packed, into: &out, workspace: ws) }
                try ChannelBlocked.unpack(out, into: &planar)
                XCTAssertEqual(planar.shape, [co, h, w])
                XCTAssertLessThanOrEqual(
                    try maxRelativeError(planar.data, conv.reference(x).data), 1e-4, "\(isa) \(ci)→\(co) \(h)x\(w)")
            }
        }
        // pack and unpack are each other's inverse, exactly
        let x = randomTensor(16, 5, 7, seed: 3)
        var p = Tensor(channels: 0, height: 0, width: 0), back = p
        try ChannelBlocked.pack(x, into: &p)
        XCTAssertEqual(p.data[1], x.data[35])  // channel 1 of pixel 0 sits next to channel 0
        XCTAssertEqual(p.data[8], x.data[1])  // then the next pixel's
        try ChannelBlocked.unpack(p, into: &back)
        XCTAssertEqual(back.data, x.data)
        // what the path cannot run is refused, not miscomputed
        let odd = try Conv2d(
            name: "odd", inChannels: 8, outChannels: 12, kernel: 3, stride: 1, padding: 1,
            weight: [Float](repeating: 0.1, count: 12 * 8 * 9), bias: nil)
        XCTAssertFalse(ChannelBlocked.supports(odd, height: 32, width: 32))
        var o = Tensor(channels: 0, height: 0, width: 0)
        XCTAssertThrowsError(try odd.forwardBlocked(p, into: &o, workspace: ws))
        XCTAssertThrowsError(try ChannelBlocked.pack(randomTensor(3, 4, 4, seed: 1), into: &o))
    }

    /// A chain of convolutions on one map overwritten in place (`InPlaceBlocked`: the picture moving between
    /// the planes' top and bottom, bands of tile rows from the side it moves toward) gives each layer's
    /// direct sum: three layers (32→32, 32→32, 32→16: up, down, up), with partial tiles, on pictures of many
    /// bands and of less than one, on every instruction set.
    func test_inPlaceBlockedChain_eachISA_matchesTheLayersOneAfterAnother() throws {
        var g = SplitMix64(29)
        let ws = Workspace(floats: 1 << 14)
        let layers = try [(32, 32), (32, 32), (32, 16)].enumerated().map { i, shape in
            try Conv2d(
                name: "c\(i)", inChannels: shape.0, outChannels: shape.1, kernel: 3, stride: 1, padding: 1,
                weight: (0..<(shape.0 * shape.1 * 9)).map { _ in g.nextUnit() - 0.5 },
                bias: (0..<shape.1).map { _ in g.nextUnit() - 0.5 }, activation: .prelu([0.2]))
        }
        for isa in available {
            for (h, w) in [(131, 37), (24, 40), (200, 25)] {
                let x = randomTensor(32, h, w, seed: UInt64(h))
                var expected = x
                for conv in layers { expected = conv.reference(expected) }
                var map = InPlaceBlocked(
                    channels: 32, height: h, width: w, storage: Tensor(channels: 0, height: 0, width: 0))
                XCTAssertGreaterThan(map.shift, 6)
                map.pack(rows: 0..<h, from: x, firstRow: 0)
                try Kernels.using(isa) { for conv in layers { try map.apply(conv, workspace: ws) } }
                XCTAssertEqual(map.channels, 16)
                XCTAssertEqual(map.top, 0)  // three moves from the bottom: up, down, up
                let got = map.withRows { row in
                    (0..<16).flatMap { c in (0..<h).flatMap { y in (0..<w).map { row(c, y)[$0 * 8] } } }
                }
                XCTAssertLessThanOrEqual(
                    try maxRelativeError(got, expected.data), 1e-4, "\(isa) \(h)x\(w)")
            }
        }
        // a layer that would widen the map is refused
        var map = InPlaceBlocked(channels: 16, height: 30, width: 30, storage: Tensor(channels: 0, height: 0, width: 0))
        XCTAssertThrowsError(try map.apply(layers[0], workspace: ws))
    }
}
