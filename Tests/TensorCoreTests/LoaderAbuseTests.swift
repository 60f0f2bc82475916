import XCTest
import Foundation
import TensorCore
import Networks
import TestSupport

/// Crafted and damaged model files: each ends in a thrown error (or, for harmless damage, a valid
/// model), never a trap or a signal. The crafted files are the cases that crashed the tool before
/// (integer overflow in shapes, offsets and strides; non-finite or zero ncnn parameters; a pickle
/// list that contains itself; a million nested lists), written here byte by byte.
final class LoaderAbuseTests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent(
            "abuse-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(at: tmp) }

    // MARK: pickle bytes

    /// A legacy-format `torch.save` file: magic, protocol, system info, `root`, storage keys, storages.
    static func legacy(root: [UInt8], storages: [(key: String, bytes: [UInt8], elements: Int64)] = []) -> Data {
        var d: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E]
        d += [0x80, 0x02, 0x4D, 0xE9, 0x03, 0x2E]  // protocol 1001
        d += [0x80, 0x02, 0x7D, 0x2E]  // {}
        d += [0x80, 0x02] + root + [0x2E]
        d += [0x80, 0x02, 0x28] + storages.flatMap { str($0.key) } + [0x6C, 0x2E]  // (… l
        for s in storages { d += le64(s.elements) + s.bytes }
        return Data(d)
    }
    static func str(_ s: String) -> [UInt8] { [0x58] + le32(UInt32(s.utf8.count)) + Array(s.utf8) }
    static func le32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    static func le64(_ v: Int64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    /// LONG1 of 8 bytes: any Int64.
    static func long(_ v: Int64) -> [UInt8] { [0x8A, 0x08] + le64(v) }
    static func global(_ module: String, _ name: String) -> [UInt8] { [0x63] + Array("\(module)\n\(name)\n".utf8) }
    static func tuple(_ items: [[UInt8]]) -> [UInt8] { [0x28] + items.flatMap { $0 } + [0x74] }

    /// `{"w": _rebuild_tensor_v2(storage "0" of `elements` floats, offset, shape, stride)}`.
    static func tensorFile(offset: Int64, shape: [Int64], stride: [Int64], elements: Int64 = 4) -> Data {
        let storage =
            tuple([str("storage"), global("torch", "FloatStorage"), str("0"), str("cpu"), long(elements)]) + [0x51]
        let args = tuple([
            storage, long(offset), tuple(shape.map(long)), tuple(stride.map(long)), [0x89],
            global("collections", "OrderedDict") + [0x29, 0x52],
        ])
        let root: [UInt8] = [0x7D] + str("w") + global("torch._utils", "_rebuild_tensor_v2") + args + [0x52, 0x73]
        return legacy(
            root: root, storages: [("0", [UInt8](repeating: 0, count: Int(max(0, min(elements, 64))) * 4), elements)])
    }

    func write(_ d: Data, _ name: String) throws -> URL {
        let u = tmp.appendingPathComponent(name)
        try d.write(to: u)
        return u
    }

    func refuses(_ d: Data, _ name: String, _ needle: String, line: UInt = #line) throws {
        let u = try write(d, name)
        XCTAssertThrowsError(try SuperResolutionModels.loadCheckpoint(u), line: line) {
            XCTAssertTrue("\($0)".lowercased().contains(needle.lowercased()), "\(name): \($0)", line: line)
        }
    }

    // MARK: crafted cases

    func test_crafted_tensorViews_overflowingShapesOffsetsAndStrides_areRefused() throws {
        // Shapes whose element count overflows Int64.
        try refuses(
            Self.tensorFile(offset: 0, shape: [1 << 39, 1 << 39], stride: [1 << 39, 1]), "shape.pth", "overflow")
        // An offset near Int64.max: offset + count would wrap.
        try refuses(Self.tensorFile(offset: Int64.max - 1, shape: [4], stride: [1]), "offset.pth", "offset")
        // Strides whose span overflows.
        try refuses(
            Self.tensorFile(offset: 0, shape: [1 << 30, 2], stride: [(1 << 40) - 1, 1]), "stride.pth", "overflow")
        // A strided view reaching past its storage.
        try refuses(Self.tensorFile(offset: 0, shape: [4, 4], stride: [1 << 20, 1]), "reach.pth", "storage")
        // A storage that claims more elements than the file has.
        try refuses(
            Self.tensorFile(offset: 0, shape: [4], stride: [1], elements: Int64(1) << 62), "count.pth", "storage size")
        // Shape and stride of different lengths.
        try refuses(Self.tensorFile(offset: 0, shape: [2, 2], stride: [1]), "rank.pth", "strides")
    }

    func test_crafted_pickleGraphs_cyclesAndDeepNesting_areRefused() throws {
        // {"a": L} where L contains itself (EMPTY_LIST, BINPUT 0, BINGET 0, APPEND).
        let cycle: [UInt8] = [0x7D] + Self.str("a") + [0x5D, 0x71, 0x00, 0x68, 0x00, 0x61, 0x73]
        try refuses(Self.legacy(root: cycle), "cycle.pth", "contains itself")
        // Two lists inside each other through the memo.
        let mutual: [UInt8] =
            [0x7D] + Self.str("a") + [0x5D, 0x71, 0x00, 0x5D, 0x71, 0x01, 0x68, 0x00, 0x61, 0x61, 0x73]
        try refuses(Self.legacy(root: mutual), "mutual.pth", "contains itself")
        // A million nested lists: ] × N then APPEND × (N − 1).
        let n = 999_000
        let deep: [UInt8] =
            [0x7D] + Self.str("a") + [UInt8](repeating: 0x5D, count: n) + [UInt8](repeating: 0x61, count: n - 1) + [
                0x73
            ]
        try refuses(Self.legacy(root: deep), "deep-lists.pth", "deeper")
        // A million nested tuples: EMPTY_TUPLE then TUPLE1 × N.
        let tuples: [UInt8] = [0x7D] + Self.str("a") + [0x29] + [UInt8](repeating: 0x85, count: n) + [0x73]
        try refuses(Self.legacy(root: tuples), "deep-tuples.pth", "deeper")
        // Lists nested by appending empty lists into each other after they were made (each looks shallow when made).
        var late: [UInt8] = [0x7D] + Self.str("a")
        let k = 5000
        for i in 0..<k { late += [0x5D, 0x72] + Self.le32(UInt32(i)) + [0x30] }  // ] LONG_BINPUT i, POP
        for i in 0..<(k - 1) {
            late += [0x6A] + Self.le32(UInt32(i)) + [0x6A] + Self.le32(UInt32(i + 1)) + [0x61, 0x30]
        }  // get i, get i+1, APPEND, POP
        late += [0x6A] + Self.le32(0) + [0x73]
        try refuses(Self.legacy(root: late), "late-nesting.pth", "deeper")
        // The same graph shared a billion ways (each level holds the one below twice) is small and fine to check.
        var shared: [UInt8] = [0x7D] + Self.str("a") + [0x5D]
        for _ in 0..<60 { shared += [0x71, 0x00, 0x30, 0x5D, 0x68, 0x00, 0x61, 0x68, 0x00, 0x61] }  // L' = [L, L]
        shared += [0x73]
        let start = Date()
        try refuses(Self.legacy(root: shared), "shared.pth", "no float tensors")
        XCTAssertLessThan(Date().timeIntervalSince(start), 5, "a shared graph is checked once per container")
    }

    func test_crafted_safetensors_overflowingShape_isRefused() throws {
        func st(_ header: String, body: Int) -> Data {
            var h = Array(header.utf8)
            while h.count % 8 != 0 { h.append(0x20) }
            return Data(Self.le64(Int64(h.count)) + h + [UInt8](repeating: 0, count: body))
        }
        try refuses(
            st(#"{"w":{"dtype":"F32","shape":[2147483647,2147483647,4],"data_offsets":[0,16]}}"#, body: 16),
            "shape.safetensors", "overflow")
        try refuses(
            st(#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[16,0]}}"#, body: 16), "offsets.safetensors", "outside")
        try refuses(
            st(#"{"w":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}}"#, body: 16), "negative.safetensors",
            "outside")
        try refuses(
            st(#"{"w":{"dtype":"F32","shape":[1e300],"data_offsets":[0,16]}}"#, body: 16), "float.safetensors",
            "malformed")
    }

    /// A tiny SRVGGNetCompact as ncnn text, with `edit` applied to the first convolution's parameters.
    static func ncnnParam(conv0: String) -> String {
        """
        7767517
        4 4
        Input in 0 1 data
        Convolution conv0 1 1 data c0 \(conv0)
        Convolution conv1 1 1 c0 c1 0=12 1=3 4=1 5=1 6=432
        PixelShuffle ps 1 1 c1 out 0=2
        """
    }
    static func ncnnBin(_ weights: Int...) -> Data {
        var d = Data()
        for n in weights { d += Data(le32(0)) + Data(count: n * 4) }  // tag 0: raw fp32 weights
        return d
    }

    func test_crafted_ncnnParameters_nonFiniteHugeOrZero_areRefused() throws {
        let bin = Self.ncnnBin(108) + Data(count: 4 * 4) + Self.ncnnBin(432) + Data(count: 12 * 4)
        // The well-formed graph loads (so the cases below fail for their one edit).
        let ok = try NCNNModel(paramText: Self.ncnnParam(conv0: "0=4 1=3 4=1 5=1 6=108"), bin: bin)
        XCTAssertNoThrow(try SRVGGNetCompact(ncnn: ok))
        for (edit, needle) in [
            ("0=4 1=1e30 4=1 5=1 6=108", "kernel"), ("0=4 1=nan 4=1 5=1 6=108", "finite"),
            ("0=4 1=inf 4=1 5=1 6=108", "finite"), ("0=4 1=0 4=1 5=1 6=108", "kernel"),
            ("0=0 1=3 4=1 5=1 6=108", "weight size"), ("0=4 1=3 3=0 4=1 5=1 6=108", "stride"),
            ("0=4 1=3 4=-7 5=1 6=108", "padding"), ("0=4 1=3 4=1 5=1 6=108 -9223372036854775808=1", "bad parameter"),
            ("0=4 1=3 4=1 5=1 6=108 -23310=2,nan,1", "array"), ("0=4 1=3 4=1 5=1 6=108 9=2 -23310=1,1e39", "array"),
            ("0=99999999999999999999 1=3 4=1 5=1 6=108", "weight size"), ("0=4 1=3 4=1 5=1 6=107", "weight size"),
        ] {
            XCTAssertThrowsError(
                try SRVGGNetCompact(ncnn: try NCNNModel(paramText: Self.ncnnParam(conv0: edit), bin: bin)), edit
            ) {
                XCTAssertTrue("\($0)".lowercased().contains(needle), "\(edit): \($0)")
            }
        }
    }

    // MARK: fuzz

    /// Seeded mutations of real checkpoints of every format, through the whole load (file → weights →
    /// network): bit flips, truncations and field edits (numbers in the ncnn text and the
    /// safetensors header, integers in the pickle). Each case ends in an error or a model.
    func test_fuzz_realCheckpoints_throughTheNetworkBuilders_neverCrash() throws {
        // A fixed seed in CI; FILMRESTORE_FUZZ_SEED runs another set by hand.
        var g = SplitMix64(
            ProcessInfo.processInfo.environment["FILMRESTORE_FUZZ_SEED"].flatMap(UInt64.init) ?? 20261127)
        let torch = CheckpointTests.dir
        let models = URL(fileURLWithPath: NCNNTests.modelsDir)
        var seeds: [(name: String, data: Data, build: (URL) throws -> Void)] = []
        for f in ["srvgg-tiny.pth", "srvgg-tiny-legacy.pth", "srvgg-tiny.safetensors", "rrdb-tiny.pth"] {
            seeds.append(
                (
                    f, try Data(contentsOf: torch.appendingPathComponent(f)),
                    { _ = try SuperResolutionModels.loadCheckpoint($0) }
                ))
        }
        let colorizer = models.appendingPathComponent("colorizer/compact-colorizer.safetensors")
        if let d = try? Data(contentsOf: colorizer) {
            seeds.append(("colorizer.safetensors", d, { _ = try CompactColorizer(contentsOf: $0) }))
        }
        let film = models.appendingPathComponent("colorizer/film-colorizer.safetensors")
        if let d = try? Data(contentsOf: film) {
            seeds.append(("film-colorizer.safetensors", d, { _ = try BinColorizers.load($0) }))
        }
        let niqe = models.appendingPathComponent("niqe/niqe_pris_params.npz")
        if let d = try? Data(contentsOf: niqe) { seeds.append(("niqe.npz", d, { _ = try NumPyArchive.load($0) })) }
        // Real checkpoints written by torch itself: RIFE's flownet (zip, 35 MB: a few cases) and FFDNet's (legacy).
        let rife = models.appendingPathComponent("rife-v4.0-flownet.pkl")
        if let d = try? Data(contentsOf: rife) { seeds.append(("rife.pkl", d, { _ = try IFNet(contentsOf: $0) })) }
        let ffdnet = models.appendingPathComponent("ffdnet_weights_gray.pth")
        if let d = try? Data(contentsOf: ffdnet) { seeds.append(("ffdnet.pth", d, { _ = try StateDict.load($0) })) }
        var ncnnCases = 0, ncnnFailures = 0
        let param = models.appendingPathComponent("realesr-animevideov3-x4.param")
        if let text = try? String(contentsOf: param, encoding: .utf8),
            let bin = try? Data(contentsOf: models.appendingPathComponent("realesr-animevideov3-x4.bin"))
        {
            let words = text.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            let edits = [
                "0", "-1", "1e30", "nan", "inf", "-inf", "99999999999", "3.5", "-23310=1,nan", "x", "=", "1=", "",
            ]
            for _ in 0..<120 {
                var w = words, b = bin
                switch g.next() % 3 {
                case 0:  // edit a parameter value
                    let i = Int(g.next() % UInt64(w.count))
                    if let eq = w[i].firstIndex(of: "=") {
                        w[i] = String(w[i][...eq]) + edits[Int(g.next() % UInt64(edits.count))]
                    } else {
                        w[i] = edits[Int(g.next() % UInt64(edits.count))]
                    }
                case 1: b = b.prefix(Int(g.next() % UInt64(b.count)))
                default: for _ in 0..<8 { b[Int(g.next() % UInt64(b.count))] = UInt8(g.next() & 0xFF) }
                }
                ncnnCases += 1
                do { _ = try SRVGGNetCompact(ncnn: try NCNNModel(paramText: w.joined(separator: " "), bin: b)) } catch {
                    ncnnFailures += 1
                }
            }
        }
        var cases = 0, failures = 0
        for seed in seeds {
            let n = seed.data.count > 16 << 20 ? 10 : seed.data.count > 1 << 20 ? 40 : 120
            for _ in 0..<n {
                var d = seed.data
                switch g.next() % 5 {
                case 4:  // damage the end (a zip's central directory, a legacy file's last storages)
                    for _ in 0..<4 {
                        d[d.count - 1 - Int(g.next() % UInt64(min(4096, d.count)))] = UInt8(g.next() & 0xFF)
                    }
                case 0: d = d.prefix(Int(g.next() % UInt64(d.count)))
                case 1:
                    for _ in 0..<(1 + Int(g.next() % 16)) {
                        d[Int(g.next() % UInt64(d.count))] = UInt8(g.next() & 0xFF)
                    }
                case 2:  // damage the headers (pickle opcodes, zip directory, safetensors JSON)
                    let head = min(2048, d.count)
                    for _ in 0..<4 { d[Int(g.next() % UInt64(head))] = UInt8(g.next() & 0xFF) }
                default:  // replace a run of digits in a textual header with a hostile number
                    let head = min(d.count, 4096)
                    let digits = (0..<head).filter { d[$0] >= 0x30 && d[$0] <= 0x39 }
                    if let at = digits.isEmpty ? nil : digits[Int(g.next() % UInt64(digits.count))] {
                        var end = at
                        while end < head && d[end] >= 0x30 && d[end] <= 0x39 { end += 1 }
                        let hostile = ["0", "9223372036854775807", "18446744073709551616", "4294967295", "1e30"][
                            Int(g.next() % 5)]
                        d.replaceSubrange(at..<end, with: Data(hostile.utf8))
                    } else {
                        d[Int(g.next() % UInt64(d.count))] ^= 0xFF
                    }
                }
                let u = try write(d, "fuzz-" + seed.name)
                cases += 1
                do { try seed.build(u) } catch { failures += 1 }
            }
        }
        XCTAssertGreaterThanOrEqual(cases, 480)
        XCTAssertGreaterThan(failures, cases / 3, "most damage is detected")
        if ncnnCases > 0 { XCTAssertGreaterThan(ncnnFailures, ncnnCases / 3) }
    }
}
