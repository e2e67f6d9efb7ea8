import Testing
@testable import HumanloopCore

@Suite struct PythonFloatTests {
    @Test func namedCases() {
        let cases: [(Double, String)] = [
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1e17, "1e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (0.7, "0.7"),
            (1e-07, "1e-07"),
            (0.30000000000000004, "0.30000000000000004"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1.0, "1.0"),
            (100.0, "100.0"),
            (1e20, "1e+20"),
            (1e21, "1e+21"),
            (1e22, "1e+22"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (5e-324, "5e-324"),
            (1.7976931348623157e+308, "1.7976931348623157e+308"),
            (-1.7976931348623157e+308, "-1.7976931348623157e+308"),
            (2.2250738585072014e-308, "2.2250738585072014e-308"),
            (Double(9007199254740993 as Int64), "9007199254740992.0"),
            (9007199254740994.0, "9007199254740994.0"),
            (123.456, "123.456"),
            (-1.5, "-1.5"),
            (1.5e300, "1.5e+300"),
            (0.00012, "0.00012"),
            (1.5e-05, "1.5e-05"),
            (1234567890123456.7, "1234567890123456.8"),
            (12345678901234567.0, "1.2345678901234568e+16"),
        ]
        for (value, expected) in cases {
            #expect(PythonFloat.repr(value) == expected, "bit pattern \(value.bitPattern)")
        }
    }

    @Test func nonFiniteGivesZero() {
        #expect(PythonFloat.repr(.infinity) == "0")
        #expect(PythonFloat.repr(-.infinity) == "0")
        #expect(PythonFloat.repr(.nan) == "0")
        #expect(PythonFloat.repr(.signalingNaN) == "0")
    }

    /// Every entry of the table generated with CPython by make_python_float_table.py.
    @Test func matchesCPythonTable() {
        #expect(pythonFloatTable.count > 2000)
        var mismatches: [String] = []
        for entry in pythonFloatTable {
            let got = PythonFloat.repr(Double(bitPattern: entry.bitPattern))
            if got != entry.repr {
                mismatches.append("0x\(String(entry.bitPattern, radix: 16)): got \(got), want \(entry.repr)")
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches: \(mismatches.prefix(20))")
    }

    /// The repr reads back as the same double.
    @Test func roundTrips() {
        for entry in pythonFloatTable {
            let value = Double(bitPattern: entry.bitPattern)
            let text = PythonFloat.repr(value)
            #expect(Double(text)?.bitPattern == value.bitPattern, "\(text)")
        }
    }
}
