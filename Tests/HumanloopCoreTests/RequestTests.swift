import Testing
@testable import HumanloopCore

private func prepare(_ text: String, _ endpoint: Endpoint = .completion, stream: Bool = false,
                     keys: ProviderKeys = ProviderKeys()) throws(CallError) -> String {
    let request = try PreparedRequest(json: Array(text.utf8), endpoint: endpoint, forceStream: stream, providerKeys: keys)
    return String(decoding: request.body, as: UTF8.self)
}

private func issues(_ text: String, _ endpoint: Endpoint = .completion) -> [ValidationIssue] {
    do {
        _ = try prepare(text, endpoint)
        return []
    } catch {
        if case .invalidRequest(let issues) = error { return issues }
        return [ValidationIssue(path: "?", message: "unexpected \(error)")]
    }
}

@Suite struct RequestValidationTests {
    @Test func minimalBodiesGetProviderKeys() throws {
        #expect(try prepare(#"{"model_config":{"model":"m","prompt_template":"{{q}}"}}"#)
                == #"{"model_config":{"model":"m","prompt_template":"{{q}}"},"provider_api_keys":{}}"#)
        #expect(try prepare("{}", .deployed) == #"{"provider_api_keys":{}}"#)
        #expect(try prepare(#"{"experiment_id":"e"}"#, .experiment) == #"{"experiment_id":"e","provider_api_keys":{}}"#)
        #expect(try prepare(#"{"model_config_id":"c"}"#, .modelConfiguration) == #"{"model_config_id":"c","provider_api_keys":{}}"#)
    }

    /// Key order as the caller gave it; numbers as the official SDK sends them (Python's repr of
    /// the float: `0.70` -> `0.7`, `1e-7` -> `1e-07`, `1E2` -> `100.0`), integers as integers.
    @Test func keepsCallerOrderAndWritesNumbersAsTheSDK() throws {
        let body = try prepare(#"{"project":"p","model_config":{"temperature":0.70,"max_tokens":-1,"model":"m","prompt_template":"t","top_p":1e-7,"presence_penalty":1E2,"frequency_penalty":0.1e1},"inputs":{"é":"ü"}}"#)
        #expect(body == #"{"project":"p","model_config":{"temperature":0.7,"max_tokens":-1,"model":"m","prompt_template":"t","top_p":1e-07,"presence_penalty":100.0,"frequency_penalty":1.0},"inputs":{"é":"ü"},"provider_api_keys":{}}"#)
    }

    /// The SDK would send an integer beyond 64 bits; we cannot (documented difference).
    @Test func anIntegerBeyond64BitsIsAnInvalidRequestNamingItsPath() {
        let found = issues(#"{"model_config":{"model":"m","prompt_template":"t","max_tokens":123456789012345678901234567890}}"#)
        #expect(found.map(\.path) == ["model_config.max_tokens"])
        #expect(found.first?.message.hasPrefix("model_config.max_tokens holds a number out of range") == true)
        #expect(issues(#"{"inputs":{"x":[1,1e400]},"model_config":{"model":"m","prompt_template":"t"}}"#).map(\.path) == ["inputs.x[1]"])
    }

    @Test func streamingSetsStreamTrue() throws {
        #expect(try prepare(#"{"stream":false,"project":"p"}"#, .deployed, stream: true)
                == #"{"stream":true,"project":"p","provider_api_keys":{}}"#)
        #expect(try prepare(#"{"project":"p"}"#, .deployed, stream: true) == #"{"project":"p","stream":true,"provider_api_keys":{}}"#)
    }

    @Test func requestKeysWinOverClientKeys() throws {
        var keys = ProviderKeys()
        keys.set("client-openai", for: "openai")
        keys.set("client-azure", for: "openai_azure")
        keys.set("client-anthropic", for: "anthropic")
        keys.set("client-mock", for: "mock")
        let body = try prepare(#"{"provider_api_keys":{"openai":"req-openai","openai_azure":"req-azure","other":5}}"#, .deployed, keys: keys)
        #expect(body == #"{"provider_api_keys":{"openai":"req-openai","openai_azure":"req-azure","other":5,"anthropic":"client-anthropic","mock":"client-mock"}}"#)
    }

    @Test func reportsEveryProblemWithPaths() {
        let found = issues(#"{"model_config":{"model":1,"temperature":"hot","max_tokens":2.0,"provider":"foo","endpoint":null,"stop":["a",3],"bogus":1},"num_samples":null,"extra":true,"provider_api_keys":{"openai":7,"unknown":7}}"#)
        #expect(found.map(\.path) == ["model_config.model", "model_config.temperature", "model_config.max_tokens",
                                      "model_config.provider", "model_config.endpoint", "model_config.stop[1]",
                                      "model_config.bogus", "model_config.prompt_template", "num_samples", "extra",
                                      "provider_api_keys.openai"])
        #expect(found[0].message == "model_config.model must be a string, not an integer (1)")
        #expect(found[2].message == "model_config.max_tokens must be an integer, not a number (2.0)")
        #expect(found[3].message.hasPrefix("model_config.provider must be one of openai, openai_azure, ai21, mock, anthropic, langchain, cohere, replicate (ModelProviders)"))
        #expect(found[4].message == "model_config.endpoint must be a string, not null")
        #expect(found[6].message == "model_config.bogus is not a field of model_config")
        #expect(found[7].message == "model_config.prompt_template is required")
        #expect(found[9].message == "extra is not a field of CompletionRequest")
    }

    @Test func requiredFieldsPerEndpoint() {
        #expect(issues("{}").map(\.path) == ["model_config"])
        #expect(issues("{}", .experiment).map(\.path) == ["experiment_id"])
        #expect(issues("{}", .modelConfiguration).map(\.path) == ["model_config_id"])
        #expect(issues("{}", .deployed).isEmpty)
        #expect(issues(#"{"environment":"x","experiment_id":"e"}"#, .experiment).map(\.path) == ["environment"])
    }

    @Test func notJSONOrNotAnObject() {
        #expect(issues("[1]").first?.message == "the request must be a JSON object, not an array")
        #expect(issues("nope").first?.message == "the request is not valid JSON: invalid token near 'nope' at byte 4")
        #expect(issues("").first?.path == "")
    }

    @Test func crossFieldRulesAreLeftToTheServer() {
        #expect(issues(#"{"project":"a","project_id":"b","session_id":"s","session_reference_id":"r","model_config":{"model":"m","prompt_template":"t","presence_penalty":9}}"#).isEmpty)
    }

    @Test func multipleIssuesMessageCountsTheRest() {
        let error = CallError.invalidRequest([ValidationIssue(path: "a", message: "a is wrong"),
                                                   ValidationIssue(path: "b", message: "b is wrong")])
        #expect(error.message == "a is wrong (and 1 more problem)")
    }
}

@Suite struct NulKeyTests {
    @Test func aKeyHoldingNulIsRefusedWithTheReason() {
        do {
            _ = try PreparedRequest(json: Array(#"{"model_config":{"model":"m","prompt_template":"t"},"inputs":{"a\u0000b":"x"}}"#.utf8),
                                    endpoint: .completion, forceStream: false, providerKeys: ProviderKeys())
            Issue.record("accepted")
        } catch {
            guard case .invalidRequest(let issues) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(issues.first?.message.hasPrefix("the request is not valid JSON: an object key contains U+0000 (\\u0000) at byte") == true,
                    "\(issues)")
            #expect(issues.first?.message.hasSuffix("which this library cannot send (jansson does not support it; the official SDK would send it)") == true)
        }
    }
}
