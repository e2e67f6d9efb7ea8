import CJansson

// libFuzzer harness: the quick JSON check in front of jansson (`JSONValidator`, the fast path of
// `JSONReader.check` for answers and events). Whatever it accepts, jansson must accept with the
// same type (the same flags as `JSONReader`, and its retry with big integers read as doubles).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONCheck(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    guard let name = JSONValidator.typeName(of: bytes) else { return 0 }
    let base = UnsafeRawPointer(data).assumingMemoryBound(to: CChar.self)
    var error = json_error_t()
    let flags = Int(JSON_DECODE_ANY | JSON_ALLOW_NUL)
    guard let root = json_loadb(base, size, flags, &error)
        ?? json_loadb(base, size, flags | Int(JSON_DECODE_INT_AS_REAL), &error) else {
        fatalError("the quick check accepted what jansson refuses: \(String(decoding: bytes, as: UTF8.self).debugDescription)")
    }
    defer { json_decref(root) }
    let janssonName = JanssonValue(json: root).typeName
    guard janssonName == name else { fatalError("type \(name), jansson says \(janssonName)") }
    return 0
}
