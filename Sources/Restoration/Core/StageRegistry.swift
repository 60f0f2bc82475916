/// Every stage a preset can name. Adding a stage is one file plus one line here.
public enum StageRegistry {
    public static var stages: [any Stage.Type] {
        [
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
    }

    /// Stages the product plans but this build does not have yet, with what they will do. A preset
    /// naming one fails with a clear message instead of silently skipping it.
    public static let planned: [String: String] = [:]

    public static func type(named name: String) -> (any Stage.Type)? {
        stages.first { $0.name == name }
    }

    public static var names: [String] { stages.map { $0.name } }

    public static func spec(named name: String) -> StageSpec? { type(named: name)?.spec }

    /// The first registered stage with a trait.
    public static func first(with trait: StageTrait) -> StageSpec? {
        stages.lazy.map { $0.spec }.first { $0.has(trait) }
    }

    /// The stage appended when a chain has no stage with a role (`\.sizeOption`, `\.rateOption`).
    public static func fallback(for role: KeyPath<StageSpec, String?>) -> StageSpec? {
        stages.lazy.map { $0.spec }.first { $0[keyPath: role] != nil && $0.has(.fallback) }
    }

    /// Builds a stage from options checked against its spec.
    public static func make(_ name: String, options: StageOptions) throws -> any Stage {
        guard let t = type(named: name) else {
            if planned[name] != nil { throw RestoreError.stageUnavailable(preset: options.stage, stages: [name]) }
            throw RestoreError.unknownStage(name, known: names)
        }
        precondition(t.spec.name == options.spec.name, "options of \(options.stage) given to \(name)")
        return try t.init(options: options)
    }

    /// Builds a stage from a preset's option text (parsed and checked against the spec).
    public static func make(_ name: String, text: [String: String], modelsDir: String? = nil) throws -> any Stage {
        guard let t = type(named: name) else {
            if planned[name] != nil { throw RestoreError.stageUnavailable(preset: name, stages: [name]) }
            throw RestoreError.unknownStage(name, known: names)
        }
        return try t.init(options: StageOptions(spec: t.spec, text: text, modelsDir: modelsDir))
    }
}
