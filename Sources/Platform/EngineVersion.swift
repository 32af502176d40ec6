public enum EngineVersion { public static let string = "0.1.0" }
