import TensorCore

/// One family of super-resolution network, recognized in a checkpoint by keys every checkpoint of
/// the family holds and no other family's does (as spandrel's detectors).
public struct SRArchitecture: Sendable {
    public let name: String
    public let keys: [String]
    public let build: @Sendable (StateDict) throws -> any SuperResolutionNetwork

    public func matches(_ sd: StateDict) -> Bool { keys.allSatisfy { sd[$0] != nil } }
    /// How many of the family's keys the checkpoint holds.
    public func score(_ sd: StateDict) -> Int { keys.filter { sd[$0] != nil }.count }
}

/// The table of checkpoint architectures: one line per family.
public enum SRArchitectures {
    public static let all: [SRArchitecture] = [
        SRArchitecture(
            name: "RRDBNet (ESRGAN, Real-ESRGAN x4plus; BasicSR keys)",
            keys: [
                "conv_first.weight", "body.0.rdb1.conv1.weight", "body.0.rdb3.conv5.weight", "conv_body.weight",
                "conv_up1.weight", "conv_up2.weight", "conv_hr.weight", "conv_last.weight",
            ],
            build: { try RRDBNet(stateDict: $0) }),
        SRArchitecture(
            name: "RRDBNet (original ESRGAN keys)",
            keys: [
                "model.0.weight", "model.1.sub.0.RDB1.conv1.0.weight", "model.3.weight", "model.6.weight",
                "model.8.weight", "model.10.weight",
            ],
            build: { try RRDBNet(stateDict: $0) }),
        SRArchitecture(
            name: "SRVGGNetCompact (Real-ESRGAN compact)", keys: ["body.0.weight", "body.0.bias", "body.1.weight"],
            build: { try SRVGGNetCompact(stateDict: $0) }),
        SRArchitecture(
            name: "MSRResNet (SRResNet, SRGAN's generator)",
            keys: [
                "conv_first.weight", "body.0.conv1.weight", "body.0.conv2.weight", "upconv1.weight",
                "conv_hr.weight", "conv_last.weight",
            ],
            build: { try MSRResNet(stateDict: $0) }),
        SRArchitecture(
            name: "SPAN",
            keys: [
                "conv_1.sk.weight", "conv_1.conv.1.weight", "block_1.c1_r.sk.weight", "block_6.c3_r.conv.2.weight",
                "conv_cat.weight", "conv_2.sk.weight", "upsampler.0.weight",
            ],
            build: { try SPAN(stateDict: $0) }),
    ]

    /// The one family whose keys the checkpoint holds; otherwise an error naming the closest.
    public static func detect(_ sd: StateDict, file: String = "checkpoint") throws -> SRArchitecture {
        let found = all.filter { $0.matches(sd) }
        if found.count == 1 { return found[0] }
        if found.count > 1 {
            throw TensorError.format(
                "\(file): keys of several architectures (\(found.map(\.name).joined(separator: "; ")))")
        }
        let families = all.map(\.name).joined(separator: "; ")
        guard
            let best = all.max(by: {
                Double($0.score(sd)) / Double($0.keys.count) < Double($1.score(sd)) / Double($1.keys.count)
            }),
            best.score(sd) > 0
        else {
            throw TensorError.format(
                "\(file): not a checkpoint of a known upscaler (\(families)); first keys: \(sd.names.prefix(3).joined(separator: ", "))"
            )
        }
        let missing = best.keys.filter { sd[$0] == nil }
        throw TensorError.format(
            "\(file): not a checkpoint of a known upscaler; closest is \(best.name) (\(best.score(sd)) of \(best.keys.count) keys; missing \(missing.prefix(3).joined(separator: ", ")))"
        )
    }
}
