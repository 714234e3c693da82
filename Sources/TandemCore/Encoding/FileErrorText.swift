#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The reason a file could not be read or written, worded for a log line or an error after the
/// file's name ("no such file", "permission denied"), for the errors that `Data(contentsOf:)`,
/// `FileManager` and `Data.write(to:)` throw (`CocoaError` file codes), without full Foundation
/// (which brings ICU) and without its "The operation could not be completed." boilerplate.
/// Errors of Tandem's own (such as `PosixError`) are told by their `description`.
public enum FileErrorText {
    public static func describe(_ error: any Error) -> String {
        if let cocoa = error as? CocoaError {
            let code = cocoa.code.rawValue
            if let reason = cocoaReasons[code] { return reason }
            return "file error \(code) (NSCocoaErrorDomain)"
        }
        return String(describing: error)
    }

    /// The file error codes of `CocoaError` (Foundation's FoundationErrors.h), in plain words.
    private static let cocoaReasons: [Int: String] = [
        4: "no such file",
        255: "the file could not be locked",
        257: "permission denied",
        258: "the file name is not valid",
        259: "the file is not in the expected format",
        260: "no such file",
        261: "the text encoding does not apply",
        262: "the URL type is not supported",
        263: "the file is too large",
        264: "the text encoding of the contents cannot be determined",
        513: "permission denied",
        514: "the file name is not valid",
        516: "a file of that name already exists",
        517: "the text encoding does not apply",
        518: "the URL type is not supported",
        640: "no space left on the device",
        642: "the file system is read-only",
    ]
}
