import CJansson

/// A jansson document owned from Swift: the tree is freed with this object.
final class JanssonDocument {
    let root: JanssonValue

    /// Takes ownership of `root` (one reference).
    init(owning root: UnsafeMutablePointer<json_t>) { self.root = JanssonValue(json: root) }

    deinit { json_decref(root.json) }
}
