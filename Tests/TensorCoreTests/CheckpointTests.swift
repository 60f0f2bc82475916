import XCTest
import Foundation
import TensorCore
import Networks
import TestSupport

final class CheckpointTests: XCTestCase {
    static var dir: URL { NCNNTests.fixtures.deletingLastPathComponent().appendingPathComponent("torch") }

    func floats(_ name: String) throws -> [Float] {
        try readFloat32(Self.dir.appendingPathComponent(name))
    }

    /// Output of the network loaded from each file against the NumPy reference (Tools/make_torch_fixtures.py).
    func check(_ file: String, reference: String) throws {
        let net = try SuperResolutionModels.load(Self.dir.appendingPathComponent(file).path)
        let x = Tensor(channels: 3, height: 10, width: 12, data: try floats("input-3x10x12.f32"))
        let y = try net.forward(x, workspace: Workspace())
        let ref = try floats(reference)
        XCTAssertEqual(y.shape, [3, 40, 48])
        let err = (try maxAbsDifference(y.data, ref))
        XCTAssertLessThanOrEqual(err, 2e-3, "\(file): max abs error \(err)")
    }

    func test_srvgg_fromZipLegacyAndSafetensors_matchesReference() throws {
        try check("srvgg-tiny.pth", reference: "srvgg-tiny.output.f32")
        try check("srvgg-tiny-legacy.pth", reference: "srvgg-tiny.output.f32")
        try check("srvgg-tiny.safetensors", reference: "srvgg-tiny.output.f32")
    }

    func test_rrdb_fromZip_matchesReference() throws {
        try check("rrdb-tiny.pth", reference: "rrdb-tiny.output.f32")
        let r = try XCTUnwrap(
            try SuperResolutionModels.load(Self.dir.appendingPathComponent("rrdb-tiny.pth").path) as? RRDBNet)
        XCTAssertEqual(r.body.count, 1)
        XCTAssertEqual(r.numFeat, 8)
        XCTAssertEqual(r.numGrow, 4)
    }

    func test_msrresnet_fromZip_matchesReference() throws {
        try check("msrresnet-tiny.pth", reference: "msrresnet-tiny.output.f32")
        let m = try XCTUnwrap(
            try SuperResolutionModels.load(Self.dir.appendingPathComponent("msrresnet-tiny.pth").path) as? MSRResNet)
        XCTAssertEqual(m.body.count, 2)
        XCTAssertEqual(m.numFeat, 8)
        XCTAssertEqual(m.scale, 4)
    }

    /// SPAN in its training form: the loader folds each Conv3XC; the file's stale `eval_conv`
    /// weights (random here) would give a different output.
    func test_span_fromZip_foldsConv3XC_matchesReference() throws {
        try check("span-tiny.pth", reference: "span-tiny.output.f32")
        let s = try XCTUnwrap(
            try SuperResolutionModels.load(Self.dir.appendingPathComponent("span-tiny.pth").path) as? SPAN)
        XCTAssertEqual(s.features, 8)
        XCTAssertEqual(s.scale, 4)
        XCTAssertTrue(s.normalizesInput)
        let sd = try StateDict.load(Self.dir.appendingPathComponent("span-tiny.pth"))
        let stale = try XCTUnwrap(sd["conv_1.eval_conv.weight"])
        let folded = s.conv1.weight
        XCTAssertGreaterThan(
            (try maxAbsDifference(stale.data, folded)), 0.1,
            "the fixture's eval_conv must differ from the fold")
    }

    /// The architecture table: each fixture is recognized as its one family; a checkpoint with
    /// keys missing names the closest family and what it lacks.
    func test_architectureTable_detectsEachFamily_andNamesTheClosest() throws {
        let expect = [
            "srvgg-tiny.pth": "SRVGGNetCompact", "rrdb-tiny.pth": "RRDBNet (ESRGAN", "msrresnet-tiny.pth": "MSRResNet",
            "span-tiny.pth": "SPAN",
        ]
        for (file, family) in expect {
            let sd = try StateDict.load(Self.dir.appendingPathComponent(file))
            XCTAssertEqual(SRArchitectures.all.filter { $0.matches(sd) }.count, 1, file)
            XCTAssertTrue(try SRArchitectures.detect(sd).name.hasPrefix(family), file)
        }
        // Original-ESRGAN names of the same RRDBNet: recognized by their own line, same output.
        let bsr = try StateDict.load(Self.dir.appendingPathComponent("rrdb-tiny.pth"))
        var old = StateDict()
        for n in bsr.names {
            var k = n
            for (a, b) in [
                ("conv_first.", "model.0."), ("conv_body.", "model.1.sub.1."), ("conv_up1.", "model.3."),
                ("conv_up2.", "model.6."),
                ("conv_hr.", "model.8."), ("conv_last.", "model.10."),
            ] where k.hasPrefix(a) { k = b + k.dropFirst(a.count) }
            if k.hasPrefix("body.") {  // body.0.rdb1.conv1.weight → model.1.sub.0.RDB1.conv1.0.weight
                let p = k.split(separator: ".")
                k = "model.1.sub.\(p[1]).\(p[2].uppercased()).\(p[3]).0.\(p[4])"
            }
            old.names.append(k)
            old.tensors[k] = bsr.tensors[n]
        }
        XCTAssertTrue(try SRArchitectures.detect(old).name.contains("original ESRGAN"))
        let x = Tensor(channels: 3, height: 10, width: 12, data: try floats("input-3x10x12.f32"))
        let y = try SRArchitectures.detect(old).build(old).forward(x, workspace: Workspace())
        let ref = try floats("rrdb-tiny.output.f32")
        XCTAssertLessThanOrEqual((try maxAbsDifference(y.data, ref)), 2e-3)
        // SPAN without its upsampler and conv_cat: not loaded, the error names SPAN and a missing key.
        var span = try StateDict.load(Self.dir.appendingPathComponent("span-tiny.pth"))
        span.names.removeAll { $0.hasPrefix("upsampler") || $0.hasPrefix("conv_cat") }
        span.tensors = span.tensors.filter { span.names.contains($0.key) }
        XCTAssertThrowsError(try SRArchitectures.detect(span, file: "cut.pth")) {
            let m = "\($0)"
            XCTAssertTrue(m.contains("closest is SPAN") && m.contains("conv_cat.weight") && m.contains("cut.pth"), m)
        }
        // A checkpoint of something else entirely.
        let other = StateDict(
            names: ["encoder.weight"], tensors: ["encoder.weight": NamedTensor(shape: [1], data: [0])])
        XCTAssertThrowsError(try SRArchitectures.detect(other)) {
            XCTAssertTrue("\($0)".contains("not a checkpoint of a known upscaler"), "\($0)")
        }
    }

    /// Real checkpoints written by torch itself: RIFE's flownet.pkl (zip) and FFDNet's (legacy).
    func test_realTorchCheckpoints_load() throws {
        let models = URL(fileURLWithPath: NCNNTests.modelsDir)
        let rife = try StateDict.load(models.appendingPathComponent("rife-v4.0-flownet.pkl"))
        XCTAssertEqual(rife["module.block0.conv0.0.0.weight"]?.shape, [96, 7, 3, 3])
        XCTAssertGreaterThan(rife.names.count, 100)
        let ffdnet = try StateDict.load(models.appendingPathComponent("ffdnet_weights_gray.pth"))
        XCTAssertFalse(ffdnet.names.isEmpty)
        XCTAssertTrue(ffdnet.tensors.values.contains { $0.shape.count == 4 && $0.shape.suffix(2) == [3, 3] })
        XCTAssertTrue(ffdnet.tensors.values.allSatisfy { $0.data.allSatisfy(\.isFinite) })
    }

    func test_loaders_rejectBadFiles_withoutExecutingAnything() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(getpid())")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        func rejects(_ bytes: Data, _ name: String, _ needle: String, line: UInt = #line) throws {
            let u = tmp.appendingPathComponent(name)
            try bytes.write(to: u)
            XCTAssertThrowsError(try StateDict.load(u), line: line) {
                XCTAssertTrue("\($0)".contains(needle), "\($0)", line: line)
            }
        }
        // a pickle that would run os.system("touch …") if unpickled by Python
        let marker = tmp.appendingPathComponent("pwned").path
        var evil = Data([0x80, 0x02]) + Data("cos\nsystem\n".utf8) + Data([0x58])
        let cmd = Data("touch \(marker)".utf8)
        evil += withUnsafeBytes(of: UInt32(cmd.count).littleEndian) { Data($0) } + cmd + Data([0x85, 0x52, 0x2E])
        try rejects(evil, "evil.pth", "os.system")
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker))
        let good = try Data(contentsOf: Self.dir.appendingPathComponent("srvgg-tiny.pth"))
        try rejects(good.prefix(good.count / 2), "half.pth", "zip")
        try rejects(Data("hello world, not a model".utf8), "text.pth", "unknown magic")
        let legacy = try Data(contentsOf: Self.dir.appendingPathComponent("srvgg-tiny-legacy.pth"))
        try rejects(legacy.prefix(legacy.count - 50), "cut.pth", "truncated")
        var st = try Data(contentsOf: Self.dir.appendingPathComponent("srvgg-tiny.safetensors"))
        st.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { Data($0) })
        try rejects(st, "huge.safetensors", "header length")
    }

    /// Seeded mutation loop over the three formats: every damaged file gives an error or loads,
    /// never a crash.
    func test_loaders_fuzz_neverCrash() throws {
        var g = SplitMix64(31)
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-\(getpid())")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        var failures = 0, runs = 0
        for file in ["srvgg-tiny.pth", "srvgg-tiny-legacy.pth", "srvgg-tiny.safetensors"] {
            let base = try Data(contentsOf: Self.dir.appendingPathComponent(file))
            for _ in 0..<150 {
                var d = base
                switch g.next() % 3 {
                case 0: d = d.prefix(Int(g.next() % UInt64(d.count)))
                case 1:
                    for _ in 0..<(1 + Int(g.next() % 16)) {
                        d[Int(g.next() % UInt64(d.count))] = UInt8(g.next() & 0xFF)
                    }
                default:  // damage the first kilobyte (headers, pickle opcodes)
                    for _ in 0..<4 { d[Int(g.next() % UInt64(min(1024, d.count)))] = UInt8(g.next() & 0xFF) }
                }
                let u = tmp.appendingPathComponent("f-" + file)
                try d.write(to: u)
                runs += 1
                do { _ = try StateDict.load(u) } catch { failures += 1 }
            }
        }
        XCTAssertEqual(runs, 450)
        XCTAssertGreaterThan(failures, 150)
    }
}
