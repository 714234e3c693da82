#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The text that full Foundation's `localizedDescription` gives for the file errors that
/// `Data(contentsOf:)`, `FileManager` and `Data.write(to:)` throw, without full Foundation (which
/// brings ICU): "The operation could not be completed. The file doesn’t exist." and the like.
/// Errors of Tandem's own (such as `PosixError`) are told by their `description`.
public enum FileErrorText {
    public static func describe(_ error: any Error) -> String {
        let prefix = "The operation could not be completed. "
        if let cocoa = error as? CocoaError {
            let code = cocoa.code.rawValue
            if let reason = cocoaReasons[code] { return prefix + reason }
            return prefix + "(NSCocoaErrorDomain error \(code).)"
        }
        return String(describing: error)
    }

    /// Foundation's failure reasons for the file error codes of `CocoaError`.
    private static let cocoaReasons: [Int: String] = [
        4: "The file doesn’t exist.",
        255: "The file couldn’t be locked.",
        257: "You don’t have permission.",
        258: "The file name is invalid.",
        259: "The file isn’t in the correct format.",
        260: "The file doesn’t exist.",
        261: "The specified text encoding isn’t applicable.",
        262: "The specified URL type isn’t supported.",
        263: "The item is too large.",
        264: "The text encoding of the contents couldn’t be determined.",
        513: "You don’t have permission.",
        514: "The file name is invalid.",
        516: "A file with the same name already exists.",
        517: "The specified text encoding isn’t applicable.",
        518: "The specified URL type isn’t supported.",
        640: "There isn’t enough space.",
        642: "The volume is read only.",
    ]
}
