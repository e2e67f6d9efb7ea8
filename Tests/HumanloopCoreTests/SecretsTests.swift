import Testing
@testable import HumanloopCore

@Suite struct SecretsTests {
    @Test func redactsByValueFromEightBytesOnly() {
        let secrets = Secrets(["sk-12345", "short", "sk-1234"])
        #expect(secrets.redact("a sk-12345 b short c sk-1234") == "a [redacted] b short c sk-1234")
    }

    @Test func aSecretContainingAnotherIsReplacedWhole() {
        let secrets = Secrets(["abcdefgh", "abcdefgh-long-key"])
        #expect(secrets.redact("x abcdefgh-long-key y abcdefgh") == "x [redacted] y [redacted]")
    }

    @Test func addingKeepsTheClientsSecrets() {
        let secrets = Secrets(["client-key-1"]).adding(["request-key-2"])
        #expect(secrets.redact("client-key-1 request-key-2") == "[redacted] [redacted]")
        #expect(Secrets().isEmpty && Secrets(["short"]).isEmpty)
    }

    @Test func aLoggedRequestBodyHidesProviderKeysByPath() throws {
        let body = try JSONReader.parse(#"{"a":"k","provider_api_keys":{"openai":"k","x":[1]},"b":1}"#)
        #expect(JSONSerializer.string(of: Secrets.redactingRequestKeys(body))
                == #"{"a":"k","provider_api_keys":{"openai":"[redacted]","x":"[redacted]"},"b":1}"#)
        let wrong = try JSONReader.parse(#"{"provider_api_keys":"k"}"#)
        #expect(JSONSerializer.string(of: Secrets.redactingRequestKeys(wrong)) == #"{"provider_api_keys":"[redacted]"}"#)
    }

    @Test func validationNamesThePathAndTypeNotTheValue() {
        func messages(_ text: String) -> [String] {
            do {
                _ = try PreparedRequest(json: Array(text.utf8), endpoint: .deployed, forceStream: false, providerKeys: ProviderKeys())
                return []
            } catch {
                guard case .invalidRequest(let issues) = error else { return ["unexpected \(error)"] }
                return issues.map(\.message)
            }
        }
        #expect(messages(#"{"provider_api_keys":"k"}"#) == ["provider_api_keys must be an object, not a string"])
        #expect(messages(#"{"provider_api_keys":12}"#) == ["provider_api_keys must be an object, not an integer"])
        #expect(messages(#"{"provider_api_keys":{"openai":7,"cohere":true}}"#)
                == ["provider_api_keys.openai must be a string, not an integer",
                    "provider_api_keys.cohere must be a string, not a boolean"])
        // a key repeated in another field is redacted by value
        #expect(messages(#"{"provider_api_keys":{"openai":"sk-repeated"},"num_samples":"sk-repeated"}"#)
                == [#"num_samples must be an integer, not a string ("[redacted]")"#])
    }

    @Test func theRequestsKeysAreItsSecrets() throws {
        let request = try PreparedRequest(json: Array(#"{"provider_api_keys":{"openai":"a","zz":{"n":[5,"b"]}}}"#.utf8),
                                          endpoint: .deployed, forceStream: false, providerKeys: ProviderKeys())
        #expect(Set(request.secrets) == ["a", "5", "b"])
    }

    @Test func unparsableTextThatNamesAKeyQuotesNothing() {
        func message(_ text: String) -> String {
            do {
                _ = try PreparedRequest(json: Array(text.utf8), endpoint: .deployed, forceStream: false, providerKeys: ProviderKeys())
                return ""
            } catch {
                guard case .invalidRequest(let issues) = error else { return "unexpected \(error)" }
                return issues.first?.message ?? ""
            }
        }
        #expect(message(#"{"provider_api_keys":{"openai":"sk-abc\x"}}"#) == "the request is not valid JSON: invalid escape at byte 40")
        #expect(message(#"{"project":"p\x"}"#).contains("near"))
    }
}
