#!/usr/bin/env python3
"""Keeps the guides in doc/ true to the code. Two checks, each a ctest (label docs):

  check_docs.py troubleshooting ROOT
      Every sentence pattern quoted in the first column of doc/troubleshooting.md's tables
      still occurs in the sources, and every error sentence literal of the library's error
      paths (see ERROR_SOURCES) is covered by a row.
  check_docs.py citations ROOT
      Every test cited as `tst_x::function` in doc/*.md is a test function (a slot) of
      tests/**/tst_x.cpp, and every `tst_x` cited alone is a test source.
  check_docs.py snippets ROOT
      Every code block of every guide (doc/*.md and README.md) is, line for line, a part of a
      file that the suite builds or runs (see SNIPPET_SOURCES): ```cpp blocks of a
      doc/snippets/*.cpp, ```cmake and ```make blocks of the consumer project of the package
      tests or of a CMake file under doc/snippets/, ```ini blocks of a doc/snippets/*.ini that a
      test names. A block may be indented as a whole (in a list): the common indentation of
      the block and of the lines it matches is ignored. ```sh, ```text and ```json blocks are
      not checked.

Exits 1 with one line per problem, 0 when all is well. Never skips: a missing file fails.
"""
import pathlib
import re
import sys

# Files whose string literals are error sentences. For src/*.cpp only the tr("...") texts count
# (the rest are log lines and names); for the engine, every literal of two words or more.
ENGINE_ERROR_SOURCES = [
    "src/engine/contextbuilder.cpp", "src/engine/pem.cpp", "src/engine/keylog.cpp",
    "src/engine/pinning.cpp", "src/engine/sessions.cpp", "src/engine/verify.cpp",
    "src/engine/errors.cpp", "src/engine/handshake.cpp", "src/engine/connection.cpp",
    "src/engine/ocsp.cpp", "src/engine/identitycheck.cpp", "src/engine/psk.cpp",
]
QT_ERROR_SOURCES = [
    "src/securesocket.cpp", "src/securesocketprivate.cpp", "src/securesockettimeouts.cpp",
    "src/secureserver.cpp", "src/serveradmission.cpp", "src/tlsdriver.cpp",
]
# Where a pattern of the guide may be found (the above, the examples, the rest of src/).
PATTERN_SOURCES = ["src", "examples"]

# Literals of the error sources that are not sentences of their own, with the reason.
EXCLUDED = {
    "an unreadable date": "stands for a date in other sentences (<date>)",
    "in less than a day": "stands for a time span in a warning (<when>)",
    "OCSP response refused": "fallback never reached: an OCSP refusal always has its sentence",
    "certificate verification failed": "the summary of a verification failure; the reasons "
                                       "that follow it have rows",
    "no certificate": "stands for the serials an OCSP response answers for (<serials>)",
    "SecureSocket ticket keys v1": "a key derivation salt, not a sentence",
}

# The guides whose code blocks must come from SNIPPET_SOURCES: all of them.
SNIPPET_GUIDES = ["doc/*.md", "README.md"]
# For each checked language of a fenced block, the files its blocks may come from (globs under
# ROOT). All are built or run by the suite: doc/snippets/CMakeLists.txt builds the .cpp files;
# tests/package/ configures and builds consumer/ (main.cpp with CMake and with the Makefile)
# and doc/snippets/getting-started/CMakeLists.txt; the .ini files must be named by a test
# (INI_USERS).
SNIPPET_SOURCES = {
    "cpp": ["doc/snippets/*.cpp", "tests/package/consumer/main.cpp"],
    "cmake": ["tests/package/consumer/CMakeLists.txt", "doc/snippets/**/CMakeLists.txt"],
    "make": ["tests/package/consumer/Makefile"],
    "ini": ["doc/snippets/*.ini"],
}
# Where a doc/snippets/*.ini must be named, so that a test reads it.
INI_USERS = ["tests/**/*.cpp", "tests/**/CMakeLists.txt", "doc/snippets/CMakeLists.txt"]
# Languages not checked: shell sessions, program output, file formats.
UNCHECKED = {"sh", "text", "json", ""}

LITERAL = re.compile(r'"((?:[^"\\\n]|\\.)*)"')


def strip_comments(text):
    """Removes // and /* */ comments, keeping string literals (and line count) intact."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == '\\' else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif c == "'" :
            j = i + 1
            while j < n and text[j] != "'":
                j += 2 if text[j] == '\\' else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            out.append("\n" * text.count("\n", i, n if j < 0 else j))
            i = n if j < 0 else j + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def strip_traces(code):
    """Removes the engine's trace("...") calls (debug lines for securesocket.engine, not error
    sentences), with their balanced parentheses; string literals may hold parentheses."""
    out, i = [], 0
    for m in re.finditer(r"\btrace\(", code):
        if m.start() < i:
            continue
        out.append(code[i:m.start()])
        j, depth = m.end(), 1
        while j < len(code) and depth > 0:
            c = code[j]
            if c == '"':
                j += 1
                while j < len(code) and code[j] != '"':
                    j += 2 if code[j] == "\\" else 1
            elif c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
            j += 1
        i = j
    out.append(code[i:])
    return "".join(out)


def literals(code):
    """The string literals of code, adjacent ones ("a" "b", "a" + "b") joined, each with the
    text just before it (to tell a tr() from a log line)."""
    found = []
    for m in LITERAL.finditer(code):
        value = bytes(m.group(1), "utf-8").decode("unicode_escape")
        between = code[found[-1][2]:m.start()] if found else None
        if found and between is not None and re.fullmatch(r"\s*\+?\s*", between):
            prefix, text, _ = found[-1]
            found[-1] = (prefix, text + value, m.end())
        else:
            found.append((code[max(0, m.start() - 40):m.start()], value, m.end()))
    return [(prefix, text) for prefix, text, _ in found]


def is_sentence(text):
    """Two words or more, not all capitals: not a name ("self-signed") or a PEM label."""
    return (len(re.findall(r"[A-Za-z]{2,}", text)) >= 2 and " " in text.strip()
            and re.search(r"[a-z]", text) is not None)


def fragments(text, placeholder):
    """The pieces of text between placeholders, stripped, that say something."""
    out = []
    for piece in re.split(placeholder, text):
        piece = piece.strip(" '\"`:;,.()")
        if re.search(r"[A-Za-z]{3,}", piece):
            out.append(piece)
    return out


def guide_patterns(guide):
    """The code spans in the first column of the guide's tables whose first heading is
    "sentence", "fault" or "placeholder" (the other tables quote no sentence)."""
    patterns, quoting = [], False
    for line in guide.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            quoting = False
            continue
        first = line.split("|")[1].strip()
        if line.startswith("|---"):
            continue
        if re.fullmatch(r"[a-z ]+", first):  # a heading row
            quoting = first in ("sentence", "fault", "placeholder")
            continue
        if quoting:
            patterns += [a or b for a, b in re.findall(r"``\s?(.+?)\s?``|`([^`]+)`", first)]
    return patterns


def check_troubleshooting(root):
    problems = []
    guide = root / "doc" / "troubleshooting.md"
    if not guide.is_file():
        return ["doc/troubleshooting.md is missing"]
    patterns = guide_patterns(guide)
    if len(patterns) < 50:
        problems.append(f"doc/troubleshooting.md: only {len(patterns)} patterns found in its tables")

    corpus = []
    for top in PATTERN_SOURCES:
        for path in sorted((root / top).rglob("*.cpp")) + sorted((root / top).rglob("*.h")):
            corpus += [text for _, text in literals(strip_comments(path.read_text(encoding="utf-8")))]
    # Qt's %1 markers are placeholders too: search each piece of a literal on its own.
    corpus = [piece for text in corpus for piece in re.split(r"%\d", text)]
    for pattern in patterns:
        for fragment in fragments(pattern, r"<[^>]*>|\.\.\."):
            if not any(fragment in text for text in corpus):
                problems.append(f"doc/troubleshooting.md: '{fragment}' (of `{pattern}`) "
                                "is in no string of src/ or examples/")

    table = "\n".join(patterns)
    excluded_seen = set()
    sources = [(name, False) for name in ENGINE_ERROR_SOURCES] + \
              [(name, True) for name in QT_ERROR_SOURCES]
    for name, only_tr in sources:
        path = root / name
        if not path.is_file():
            problems.append(f"{name}: missing (update ERROR_SOURCES in {pathlib.Path(__file__).name})")
            continue
        code = strip_traces(strip_comments(path.read_text(encoding="utf-8")))
        for prefix, text in literals(code):
            if only_tr and not re.search(r"tr\(\s*$", prefix):
                continue
            if prefix.rstrip().endswith("#include") or not is_sentence(text):
                continue
            if text.strip() in EXCLUDED:
                excluded_seen.add(text.strip())
                continue
            for fragment in fragments(text, r"%\d"):
                if fragment not in table:
                    problems.append(f"{name}: the sentence \"{fragment}\" has no row in "
                                    "doc/troubleshooting.md")
    for text in sorted(set(EXCLUDED) - excluded_seen):
        problems.append(f"EXCLUDED in {pathlib.Path(__file__).name}: \"{text}\" is no longer "
                        "in the error sources: drop it")
    return problems


def check_citations(root):
    problems = []
    tests = {}
    for path in (root / "tests").rglob("tst_*.cpp"):
        code = strip_comments(path.read_text(encoding="utf-8"))
        slots = set()
        for block in re.finditer(r"(?:private|public|protected)\s+(?:Q_SLOTS|slots)\s*:(.*?)"
                                 r"(?=\b(?:private|public|protected)\b[^:]*:|\};)", code, re.S):
            slots |= set(re.findall(r"\bvoid\s+(\w+)\s*\(", block.group(1)))
        tests[path.stem] = slots
    docs = sorted((root / "doc").glob("*.md"))
    if not docs:
        return ["doc/ holds no guide"]
    cited = 0
    for doc in docs:
        text = doc.read_text(encoding="utf-8")
        for m in re.finditer(r"\b(tst_\w+)(?:::(\w+))?", text):
            executable, function = m.group(1), m.group(2)
            cited += 1
            where = f"doc/{doc.name}:{text.count(chr(10), 0, m.start()) + 1}"
            if executable not in tests:
                problems.append(f"{where}: {executable} is not a test (no tests/**/{executable}.cpp)")
            elif function and function not in tests[executable]:
                problems.append(f"{where}: {executable}::{function} is not a test function "
                                f"of {executable}")
    if cited == 0:
        problems.append("doc/*.md cite no test at all")
    return problems


def dedent(lines):
    """The lines without their common leading whitespace (blank lines do not count)."""
    indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    cut = min(indents, default=0)
    return [line[cut:] if line.strip() else "" for line in lines]


def is_part_of(block, lines):
    """Whether block (a list of lines) is, line for line, a run of lines, up to a common
    indentation."""
    n = len(block)
    return any(dedent(lines[i:i + n]) == block for i in range(len(lines) - n + 1))


def check_snippets(root):
    problems = []
    sources = {}
    for language, patterns in SNIPPET_SOURCES.items():
        paths = sorted({path for pattern in patterns for path in root.glob(pattern)})
        if not paths:
            problems.append(f"no file for ```{language} blocks: {', '.join(patterns)}")
        sources[language] = [(path, path.read_text(encoding="utf-8").splitlines())
                             for path in paths]
    users = "\n".join(path.read_text(encoding="utf-8") for pattern in INI_USERS
                      for path in sorted(root.glob(pattern)))
    for path, _ in sources["ini"]:
        if path.name not in users:
            problems.append(f"doc/snippets/{path.name}: no test reads it (name it in a test: "
                            f"{', '.join(INI_USERS)})")
    guides = sorted({path for pattern in SNIPPET_GUIDES for path in root.glob(pattern)})
    if len(guides) < 10:
        problems.append(f"only {len(guides)} guides found ({', '.join(SNIPPET_GUIDES)})")
    checked = 0
    for guide in guides:
        name = guide.relative_to(root).as_posix()
        text = guide.read_text(encoding="utf-8")
        for block in re.finditer(r"^([ \t]*)```(\S*)\n(.*?)^\1```[ \t]*$", text, re.S | re.M):
            language = block.group(2)
            line = text.count("\n", 0, block.start()) + 1
            if language in UNCHECKED:
                continue
            if language not in sources:
                problems.append(f"{name}:{line}: a ```{language} block: say what it is (one of "
                                f"{', '.join(sorted(sources) + sorted(UNCHECKED - {''}))})")
                continue
            checked += 1
            lines = dedent(block.group(3).splitlines())
            if not any(is_part_of(lines, source) for _, source in sources[language]):
                problems.append(f"{name}:{line}: this ```{language} block is not a part of any "
                                f"of {', '.join(SNIPPET_SOURCES[language])} (copy it from "
                                "there, as it is)")
    if checked == 0:
        problems.append("the guides have no code block to check")
    return problems


def main():
    checks = {"troubleshooting": check_troubleshooting, "citations": check_citations,
              "snippets": check_snippets}
    if len(sys.argv) != 3 or sys.argv[1] not in checks:
        print(__doc__, file=sys.stderr)
        return 2
    root = pathlib.Path(sys.argv[2])
    problems = checks[sys.argv[1]](root)
    for problem in problems:
        print(problem)
    print(f"{sys.argv[1]}: {'FAILED, ' + str(len(problems)) + ' problem(s)' if problems else 'all good'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
