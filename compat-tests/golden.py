"""Golden wire fixtures: normalize what varies between runs (ids, times, keys, account numbers)
by pattern, keeping every element, key and their order, then compare with a committed file.
`CIRRUS_UPDATE_GOLDEN=1` (or `CIRRUS_TEST_UPDATE_GOLDEN=1`, which the harness's environment
cleaning keeps) rewrites the files instead of comparing; review the diff by eye."""

from __future__ import annotations

import difflib
import os
import pathlib
import re

import pytest

from harness import REPO

# The harness clears CIRRUS_* variables other than CIRRUS_TEST_* before tests run, so the switch
# is also read under that prefix.
UPDATE = "1" in (os.environ.get("CIRRUS_UPDATE_GOLDEN"), os.environ.get("CIRRUS_TEST_UPDATE_GOLDEN"))


class Numbering:
    """Gives each distinct value a stable placeholder in order of first appearance, so a value
    that appears twice in one body still shows as the same placeholder twice."""

    def __init__(self):
        self.seen: dict[str, str] = {}

    def __call__(self, kind: str, value: str) -> str:
        key = f"{kind}\0{value}"
        if key not in self.seen:
            count = sum(1 for k in self.seen if k.startswith(kind + "\0")) + 1
            self.seen[key] = f"{kind}{count}"
        return self.seen[key]


# EC2-style resource ids and MAC addresses, in both doors' bodies.
ID_PREFIXES = ("i|ami|vol|snap|sg|sgr|subnet|vpc|key|eipalloc|eipassoc|igw|rtb|acl|eni|r|dopt|"
               "attach|vpce|import-ami|import-snap|aclassoc|rtbassoc|subnet-cidr-assoc|"
               "vpc-cidr-assoc|ela-attach|eni-attach")
ID = re.compile(rf"\b({ID_PREFIXES})-([0-9a-f]{{8}}|[0-9a-f]{{17}})\b")
MAC = re.compile(r"\b[0-9a-f]{2}(:[0-9a-f]{2}){5}\b", re.I)


def same_shape_time(match: re.Match) -> str:
    """A timestamp with every digit zeroed: its format (fraction, zone) stays visible."""
    return re.sub(r"\d", "0", match.group(0))


TOKEN = re.compile(r"<[^>]*>|[^<]+")


def pretty_xml(body: str) -> str:
    """One element a line, indented by depth, for readable diffs. Only whitespace between tags
    is added (and whitespace-only text between tags dropped): the elements, their text, their
    order and their spelling (`<a/>` versus `<a></a>`) are exactly as received."""
    tokens = [t for t in TOKEN.findall(body.strip()) if t.strip()]
    lines: list[str] = []
    depth = 0
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t.startswith("<?") or t.startswith("<!"):
            lines.append(t)
        elif t.startswith("</"):
            depth -= 1
            lines.append("  " * depth + t)
        elif t.endswith("/>"):
            lines.append("  " * depth + t)
        elif t.startswith("<"):
            # <a>text</a> and <a></a> stay on one line.
            if i + 2 < len(tokens) and not tokens[i + 1].startswith("<") \
                    and tokens[i + 2].startswith("</"):
                lines.append("  " * depth + t + tokens[i + 1] + tokens[i + 2])
                i += 3
                continue
            if i + 1 < len(tokens) and tokens[i + 1].startswith("</"):
                lines.append("  " * depth + t + tokens[i + 1])
                i += 2
                continue
            lines.append("  " * depth + t)
            depth += 1
        else:
            lines.append("  " * depth + t)
        i += 1
    return "\n".join(lines) + "\n"


def compare(path: pathlib.Path, text: str, hint: str):
    """Compares `text` with the golden file (or writes it when updating)."""
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    if not path.exists():
        pytest.fail(f"{path.relative_to(REPO)} does not exist: {hint}, then run with "
                    f"CIRRUS_UPDATE_GOLDEN=1 and review the new file against the client's model")
    want = path.read_text()
    if want != text:
        diff = "".join(difflib.unified_diff(want.splitlines(True), text.splitlines(True),
                                            str(path.relative_to(REPO)), "this run"))
        pytest.fail(f"the response differs from {path.relative_to(REPO)} (run with "
                    f"CIRRUS_UPDATE_GOLDEN=1 if the change is meant):\n{diff}")
