import CCurl
import HumanloopCore

/// A libcurl header list, freed with its owner.
final class HeaderList: @unchecked Sendable {
    let list: UnsafeMutablePointer<curl_slist>?

    init(_ lines: [String]) {
        var list: UnsafeMutablePointer<curl_slist>?
        ForkGate.shared.inside { for line in lines { list = curl_slist_append(list, line) } }
        self.list = list
    }

    deinit { ForkGate.shared.inside { curl_slist_free_all(list) } }
}
