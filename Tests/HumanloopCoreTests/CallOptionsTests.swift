import Testing
@testable import HumanloopCore

private func options(_ text: String) throws(CallError) -> CallOptions {
    try CallOptions(json: Array(text.utf8))
}

private func problems(_ text: String) -> [String] {
    do {
        _ = try options(text)
        return []
    } catch {
        #expect(error.typeName == "invalid_request")
        return error.issues.map(\.path)
    }
}

@Suite struct CallOptionsTests {
    @Test func everyOptionIsRead() throws {
        let read = try options(#"{"timeout":2.5,"connect_timeout":1,"low_speed_timeout":3,"max_retries":0,"stream":true,"headers":{"X-Trace":"abc","User-Agent":"mine/1","Accept":""}}"#)
        #expect(read.timeout == 2.5)
        #expect(read.connectTimeout == 1)
        #expect(read.lowSpeedTimeout == 3)
        #expect(read.maxRetries == 0)
        #expect(read.stream)
        #expect(read.headers.map(\.name) == ["X-Trace", "User-Agent", "Accept"])
        #expect(read.headers.map(\.value) == ["abc", "mine/1", ""])
    }

    @Test func noOptionsChangeNothing() throws {
        let none = try CallOptions(json: nil)
        #expect(none.timeout == nil && none.maxRetries == nil && none.headers.isEmpty && !none.stream)
        #expect(try options("{}").headers.isEmpty)
    }

    @Test func everyProblemIsReportedWithItsPath() {
        #expect(problems(#"{"bogus":1,"timeout":0,"max_retries":101,"stream":"yes"}"#)
                == ["options.bogus", "options.timeout", "options.max_retries", "options.stream"])
        #expect(problems(#"{"headers":[]}"#) == ["options.headers"])
        #expect(problems(#"{"headers":{"X-A":1,"Bad Name":"v","X-B":"a\r\nX-Injected: 1","X-C":"a\u0000b"}}"#)
                == ["options.headers.X-A", "options.headers.Bad Name", "options.headers.X-B", "options.headers.X-C"])
        #expect(problems("[]") == ["options"])
        #expect(problems("{") == ["options"])
    }

    @Test func theLibrarysOwnHeadersCannotBeReplaced() {
        for name in ["X-API-KEY", "x-api-key", "Content-Type", "content-length", "Host", "HOST"] {
            #expect(problems(#"{"headers":{"\#(name)":"v"}}"#) == ["options.headers.\(name)"])
        }
    }
}

@Suite struct BatchRequestTests {
    @Test func itemsKeepTheirOrderAndTheirOwnErrors() throws {
        let json = #"{"concurrency":3,"requests":[{"call":"complete_deployed","request":{"project":"p"}},{"call":"nope","request":{}},{"call":"complete","request":{}},{"call":"complete_deployed","request":{"project":"p"},"options":{"stream":true,"max_retries":1}},7]}"#
        let batch = try BatchRequest(json: Array(json.utf8), providerKeys: ProviderKeys())
        #expect(batch.concurrency == 3)
        #expect(batch.items.count == 5)
        guard case .success(let first) = batch.items[0], case .success(let fourth) = batch.items[3] else {
            Issue.record("items 0 and 3 should be ready")
            return
        }
        #expect(first.endpoint == .deployed && !first.request.isStream)
        #expect(fourth.request.isStream && fourth.options.maxRetries == 1)
        for index in [1, 2, 4] {
            guard case .failure(let error) = batch.items[index] else {
                Issue.record("item \(index) should have failed")
                continue
            }
            #expect(error.typeName == "invalid_request")
        }
    }

    @Test func defaultConcurrencyIs16() throws {
        #expect(try BatchRequest(json: Array(#"{"requests":[]}"#.utf8), providerKeys: ProviderKeys()).concurrency == 16)
    }

    @Test func aMalformedBatchIsOneError() {
        for json in ["{", "[]", #"{"requests":{}}"#, #"{"requests":[],"bogus":1}"#, #"{"concurrency":0,"requests":[]}"#,
                     #"{"concurrency":10001,"requests":[]}"#, #"{"concurrency":"2","requests":[]}"#, "{}"] {
            do {
                _ = try BatchRequest(json: Array(json.utf8), providerKeys: ProviderKeys())
                Issue.record("accepted \(json)")
            } catch {
                #expect(error.typeName == "invalid_request", "\(json)")
            }
        }
    }
}
