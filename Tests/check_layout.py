#!/usr/bin/env python3
"""One type per file, named after it: every top-level class, struct, enum, protocol or actor of
the Swift sources lives in <Type>.swift, and an extension of another type in <Type>+<What>.swift.
A file holds at most one type (its nested types aside); type aliases and free functions may sit
with the type that uses them. Exits 1 and lists the misplaced declarations otherwise."""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DECL = re.compile(r"^(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|internal|private|fileprivate|final|package|indirect)\s+)*"
                  r"(class|struct|enum|protocol|actor|extension)\s+([A-Za-z_][\w.]*)")
problems = []
for path in sorted((ROOT / "Sources").rglob("*.swift")):
    stem = path.stem
    owner, _, what = stem.partition("+")
    types = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        match = DECL.match(line)
        if not match:
            continue
        kind, name = match.groups()
        where = f"{path.relative_to(ROOT)}:{number}"
        if kind == "extension":
            if name != owner:
                problems.append(f"{where}: extension {name} belongs in {name}+<What>.swift")
        else:
            types.append(name)
            if what:
                problems.append(f"{where}: {kind} {name} in an extension file ({stem}.swift)")
            elif name != stem:
                problems.append(f"{where}: {kind} {name} belongs in {name}.swift")
    if len(types) > 1:
        problems.append(f"{path.relative_to(ROOT)}: {len(types)} types ({', '.join(types)})")
for problem in problems:
    print(problem)
if problems:
    sys.exit(1)
print("check_layout: every type lives in the file named after it")
