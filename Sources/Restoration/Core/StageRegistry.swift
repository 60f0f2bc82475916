/// Every stage a preset can name. Adding a stage is one file plus one line here.
public enum StageRegistry {
    public static let stages: [any Stage.Type] = [
        ColorizeStage.self,
        DeflickerStage.self,
        DeinterlaceStage.self,
        DenoiseStage.self,
        DespeckleStage.self,
        FitStage.self,
        GrainStage.self,
        FrameRateStage.self,
        InterpolateStage.self,
        SceneCutStage.self,
        UpscaleStage.self,
    ]

    /// Stages the product plans but this build does not have yet, with what they will do. A preset
    /// naming one fails with a clear message instead of silently skipping it.
    public static let planned: [String: String] = [:]

    public static func type(named name: String) -> (any Stage.Type)? {
        stages.first { $0.name == name }
    }

    public static var names: [String] { stages.map { $0.name } }

    /// Builds a stage from its options, rejecting options it does not know.
    public static func make(_ name: String, options: StageOptions) throws -> any Stage {
        guard let t = type(named: name) else {
            if planned[name] != nil { throw RestoreError.stageUnavailable(preset: options.stage, stages: [name]) }
            throw RestoreError.unknownStage(name, known: names)
        }
        let s = try t.init(options: options)
        try options.checkAllUsed(known: t.options)
        return s
    }
}
