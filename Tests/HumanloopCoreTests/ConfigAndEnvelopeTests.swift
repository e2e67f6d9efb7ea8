import Testing
@testable import HumanloopCore

private func configuration(_ text: String?, env: [String: String] = [:]) throws(CallError) -> ClientConfiguration {
    try ClientConfiguration(json: text.map { Array($0.utf8) }, version: "9.9.9", environment: { env[$0] })
}

private func configError(_ text: String?, env: [String: String] = [:]) -> String? {
    do {
        _ = try configuration(text, env: env)
        return nil
    } catch {
        return error.message
    }
}

@Suite struct ConfigurationTests {
    @Test func defaultsAndEnvironment() throws {
        let config = try configuration(nil, env: ["HUMANLOOP_API_KEY": "k", "HUMANLOOP_HOST": "http://127.0.0.1:1/v4/"])
        #expect(config.apiKey == "k")
        #expect(config.host == "http://127.0.0.1:1/v4")
        #expect(config.timeout == 600)
        #expect(config.connectTimeout == 10)
        #expect(config.userAgent == "libhumanloop/9.9.9")
        let explicit = try configuration(#"{"api_key":"a","host":"https://h.example/v4","timeout":2.5,"openai_api_key":"o","cohere_api_key":"c"}"#,
                                         env: ["HUMANLOOP_API_KEY": "env"])
        #expect(explicit.apiKey == "a")
        #expect(explicit.host == "https://h.example/v4")
        #expect(explicit.timeout == 2.5)
        #expect(explicit.providerKeys.key(for: "openai") == "o")
        #expect(explicit.providerKeys.key(for: "cohere") == "c")
        #expect(try configuration("{}", env: ["HUMANLOOP_API_KEY": "k"]).host == ClientConfiguration.defaultHost)
    }

    @Test func aNullTimeoutIsNoLimit() throws {
        #expect(try configuration(#"{"timeout":null}"#, env: ["HUMANLOOP_API_KEY": "k"]).timeout == .infinity)
        #expect(try CallOptions(json: Array(#"{"timeout":null}"#.utf8)).timeout == .infinity)
        #expect(try CallOptions(json: Array(#"{}"#.utf8)).timeout == nil)
    }

    @Test func rejectsBadConfigurations() {
        #expect(configError(nil) == "no API key: give \"api_key\" in the configuration or set HUMANLOOP_API_KEY")
        #expect(configError(#"{"api_key":"k","colour":1}"#) == "unknown configuration key \"colour\"")
        #expect(configError(#"{"api_key":5}"#) == "configuration key \"api_key\" must be a string, not an integer")
        #expect(configError(#"{"api_key":"k","timeout":"1"}"#) == "configuration key \"timeout\" must be a number of seconds or null (no limit), not a string")
        #expect(configError(#"{"api_key":"k","connect_timeout":null}"#) == "configuration key \"connect_timeout\" must be a number of seconds, not null")
        #expect(configError(#"{"api_key":"k","timeout":0}"#) == "configuration key \"timeout\" must be greater than 0 and at most one year, not 0")
        #expect(configError(#"{"api_key":"k","host":"ftp://x"}"#) == "host must be an http:// or https:// URL")
        #expect(configError(#"{"api_key":"k","host":"file:///etc/passwd"}"#) == "host must be an http:// or https:// URL")
        #expect(configError(#"{"api_key":"k","host":"http://"}"#) == "host must name a server (scheme://server[:port][/path])")
        #expect(configError(#"{"api_key":"k","host":"http://h/?q=1"}"#) == "host must not have a query or a fragment")
        #expect(configError(#"{"api_key":"sk-SECRET\r\nX: y"}"#) == "api_key contains a CR, LF or NUL character")
        #expect(configError(#"{"api_key":"k","user_agent":"a\nb"}"#) == "user_agent contains a CR, LF or NUL character")
        #expect(configError(#"{"api_key":"k","max_retries":1.5}"#) == "configuration key \"max_retries\" must be an integer, not a number")
        #expect(configError("[]") == "the client configuration must be a JSON object, not an array")
        #expect(configError("{") != nil)
        #expect(configError(#"{"api_key":"k"}"#, env: ["HUMANLOOP_HOST": "gopher://x"]) == "HUMANLOOP_HOST must be an http:// or https:// URL")
    }
}

@Suite struct EnvelopeTests {
    @Test func successEnvelope() {
        let head = ResponseHead(status: 200, reason: "OK", headers: JSONObject([("content-type", .string("application/json"))]))
        let envelope = Envelope.success(head: head, body: Array(#"{"data":[]}"#.utf8), roundTripTime: 0.25,
                                        attempts: 1, timings: nil)
        #expect(String(decoding: envelope, as: UTF8.self)
                == #"{"ok":true,"status":200,"headers":{"content-type":"application/json"},"body":{"data":[]},"round_trip_time":0.25,"attempts":1}"#)
    }

    /// Bodies and events go into the envelope as the server's exact bytes.
    @Test func successEnvelopeSplicesBytesExactly() throws {
        let body = #"{ "data" : [ {"n": 1E+2, "z": -0.0, "p": 1.50, "big": 123456789012345678901234567890, "t": "é é"} ] }"#
        let event = #"{"b":1.50}"#
        let envelope = Envelope.success(head: ResponseHead(status: 200, reason: "OK", headers: JSONObject()), body: Array(body.utf8),
                                        roundTripTime: 1, attempts: 2, timings: nil, events: [Array(event.utf8), Array("{}".utf8)])
        let text = String(decoding: envelope, as: UTF8.self)
        #expect(text == #"{"ok":true,"status":200,"headers":{},"body":"# + body + #","round_trip_time":1.0,"attempts":2,"events":["# + event + ",{}]}")
        #expect(try JSONReader.check(envelope) == "object")
    }

    @Test func apiErrorEnvelopeParsesJSONBodiesAndKeepsText() {
        let head = ResponseHead(status: 422, reason: "Unprocessable Entity", headers: JSONObject())
        let json = Envelope.failure(.apiError(head, body: Array(#"{"detail":[]}"#.utf8), roundTripTime: 0.5), attempts: 1)
        #expect(JSONSerializer.string(of: json)
                == #"{"ok":false,"error":{"type":"api_error","message":"the server answered 422 Unprocessable Entity","status":422,"reason":"Unprocessable Entity","body":{"detail":[]},"headers":{},"round_trip_time":0.5},"attempts":1}"#)
        let text = Envelope.failure(.apiError(ResponseHead(status: 500, reason: "", headers: JSONObject()),
                                              body: Array("<html>".utf8), roundTripTime: 1), attempts: 3)
        #expect(text["error"]?["body"] == .string("<html>"))
        #expect(text["error"]?["message"] == .string("the server answered 500"))
    }

    @Test func invalidRequestEnvelopeListsEveryIssue() {
        let error = CallError.invalidRequest([ValidationIssue(path: "a.b", message: "a.b is required"),
                                                   ValidationIssue(path: "c", message: "c is not a field of X")])
        #expect(JSONSerializer.string(of: Envelope.failure(error, attempts: 0))
                == #"{"ok":false,"error":{"type":"invalid_request","message":"a.b is required (and 1 more problem)","path":"a.b","errors":[{"path":"a.b","message":"a.b is required"},{"path":"c","message":"c is not a field of X"}]},"attempts":0}"#)
    }

    @Test func secretsAreRedacted() {
        let envelope = Envelope.failure(.connectionError("proxy said sk-SECRET-1 is bad"), attempts: 1, secrets: Secrets(["sk-SECRET-1"]))
        #expect(envelope["error"]?["message"] == .string("proxy said [redacted] is bad"))
    }

    @Test func secretsEchoedByTheServerAreRedacted() throws {
        let head = ResponseHead(status: 401, reason: "Unauthorized",
                                headers: JSONObject([("x-echo", .string("key=sk-SECRET-1"))]))
        let body = Array(#"{"detail":"bad key sk-SECRET-1","sk-SECRET-1":[1,"sk-SECRET-1"]}"#.utf8)
        let envelope = Envelope.failure(.apiError(head, body: body, roundTripTime: 0.1), attempts: 1, secrets: Secrets(["sk-SECRET-1"]))
        let text = JSONSerializer.string(of: envelope)
        #expect(!text.contains("sk-SECRET-1"))
        #expect(envelope["error"]?["headers"]?["x-echo"] == .string("key=[redacted]"))
        #expect(envelope["error"]?["body"]?["detail"] == .string("bad key [redacted]"))
        #expect(envelope["error"]?["status"] == .int(401))
        let textBody = Envelope.failure(.invalidResponse("bad", status: 200, body: "echo sk-SECRET-1"), attempts: 1,
                                        secrets: Secrets(["sk-SECRET-1"]))
        #expect(textBody["error"]?["body"] == .string("echo [redacted]"))
    }

    @Test func streamEventKeepsBytes() {
        let raw = Array(#"{"data":[{"output":"data: x"}] , "n": 1.50}"#.utf8)
        #expect(String(decoding: Envelope.streamEvent(rawJSON: raw), as: UTF8.self)
                == #"{"ok":true,"event":{"data":[{"output":"data: x"}] , "n": 1.50}}"#)
    }
}

@Suite struct StreamMergerTests {
    @Test func mergesPerSampleInArrivalOrder() throws {
        var merger = StreamMerger()
        let events = [
            #"{"data":[{"id":"a","index":0,"output":"Hel","raw_output":"Hel","finish_reason":null}],"project_id":"p"}"#,
            #"{"data":[{"id":"b","index":1,"output":"Wor","finish_reason":null}],"project_id":"p"}"#,
            #"{"data":[{"id":"a","index":0,"output":"lo","raw_output":"lo ","finish_reason":"stop"}],"project_id":"p"}"#,
            #"{"data":[{"id":"b","index":1,"output":"ld","finish_reason":"length"}],"project_id":"p2"}"#,
        ]
        for event in events { merger.add(try JSONReader.parse(event)) }
        #expect(JSONSerializer.string(of: merger.body)
                == #"{"data":[{"id":"a","index":0,"output":"Hello","raw_output":"Hello ","finish_reason":"stop"},{"id":"b","index":1,"output":"World","finish_reason":"length"}],"project_id":"p2"}"#)
    }
}

@Suite struct RetryPolicyTests {
    let policy = RetryPolicy(maxRetries: 2, baseDelay: 0.5, maxDelay: 8)

    @Test func retryableStatuses() {
        #expect([408, 409, 429, 500, 502, 503, 599].allSatisfy(RetryPolicy.isRetryable(status:)))
        #expect(![400, 401, 403, 404, 422, 302, 200].contains(where: RetryPolicy.isRetryable(status:)))
    }

    @Test func exponentialBackoffWithJitterAndCap() {
        #expect(policy.backoff(retry: 1, random: 1) == 0.5)
        #expect(policy.backoff(retry: 1, random: 0) == 0.25)
        #expect(policy.backoff(retry: 3, random: 1) == 2)
        #expect(policy.backoff(retry: 10, random: 1) == 8)
    }

    @Test func honoursRetryAfterUpToSixtySeconds() {
        let now = 784_111_777.0  // Sun, 06 Nov 1994 08:49:37 GMT
        func delay(_ headers: [(String, String)]) -> Double {
            policy.delay(retry: 1, headers: JSONObject(headers.map { ($0.0, JSONValue.string($0.1)) }), now: now, random: 1)
        }
        #expect(delay([("retry-after", "3")]) == 3)
        #expect(delay([("retry-after-ms", "250")]) == 0.25)
        #expect(delay([("retry-after", "Sun, 06 Nov 1994 08:49:47 GMT")]) == 10)
        #expect(delay([("retry-after", "120")]) == 0.5)
        #expect(delay([("retry-after", "soon")]) == 0.5)
        #expect(HTTPDate.unixTime("Sun, 06 Nov 1994 08:49:37 GMT") == now)
        #expect(HTTPDate.unixTime("Sunday, 06-Nov-94 08:49:37 GMT") == now)
        #expect(HTTPDate.unixTime("Sun Nov  6 08:49:37 1994") == now)
    }

    /// Every hostile form is ignored (the backoff is used) and nothing traps.
    @Test func hostileRetryAfterFormsFallBackToTheBackoff() {
        let now = 784_111_777.0
        func delay(_ name: String, _ value: String) -> Double {
            policy.delay(retry: 1, headers: JSONObject([(name, .string(value))]), now: now, random: 1)
        }
        for value in ["Sun, 06 Nov 1000000000000 08:49:37 GMT", "Sun, 06 Nov 99999999999999999999 08:49:37 GMT",
                      "Sun, 06 Nov -5 08:49:37 GMT", "99999999999999999999", "18446744073709551617",
                      "9223372036854775807", "-1", "-9223372036854775808", "NaN", "nan", "inf", "1e400", "1e3",
                      "0x10", "Mon, 31 Feb 2024 08:49:37 GMT", "Sun, 06 Nov 1994 25:61:99 GMT",
                      "Sunday, 06-Nov-99999999999999999999 08:49:37 GMT", "Sun Nov 99999999999999999999 08:49:37 1994",
                      "Sun, 06 Nov 1994 08:49:37", "", "+5", "Thu, 29 Feb 2001 00:00:00 GMT"] {
            #expect(delay("retry-after", value) == 0.5, "Retry-After: \(value)")
        }
        for value in ["1e400", "NaN", "-inf", "-5", "18446744073709551617", "1e308", "99999999999999999999999999"] {
            #expect(delay("retry-after-ms", value) == 0.5, "retry-after-ms: \(value)")
        }
        #expect(delay("retry-after", "Thu, 29 Feb 2024 00:00:00 GMT") == 0.5)  // a valid date, but far ahead
        #expect(delay("retry-after", "Sat, 06 Nov 1993 08:49:37 GMT") == 0)    // in the past: no wait
        #expect(HTTPDate.unixTime("Fri, 31 Dec 9999 23:59:59 GMT") == 253_402_300_799)
    }
}

@Suite struct ConfigurationProblemTests {
    @Test func reportsEveryProblemWithItsKey() {
        do {
            _ = try configuration(#"{"api_key":"k","timeout":"x","max_retries":-1,"bogus":1}"#)
            Issue.record("the configuration was accepted")
        } catch {
            #expect(error.typeName == "invalid_config")
            #expect(Set(error.issues.map(\.path)) == ["timeout", "max_retries", "bogus"])
            #expect(error.message.hasSuffix("(and 2 more problems)"))
            let envelope = JSONSerializer.string(of: Envelope.failure(error, attempts: 0))
            #expect(envelope.contains(#""errors":[{"path":"#))
            #expect(envelope.contains(#""path":"bogus""#))
        }
    }

    @Test func hostileNumbersAreProblemsNotTraps() {
        for text in [#"{"api_key":"k","timeout":1e400}"#, #"{"api_key":"k","timeout":-1e400}"#,
                     #"{"api_key":"k","max_retries":18446744073709551617}"#, #"{"api_key":"k","max_retries":1e400}"#,
                     #"{"api_key":"k","max_response_bytes":99999999999999999999999}"#,
                     #"{"api_key":"k","connect_timeout":1e-400}"#, #"{"api_key":"k","retry_max_delay":1.7976931348623157e308}"#] {
            #expect(configError(text) != nil, "\(text)")
        }
    }
}
