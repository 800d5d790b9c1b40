"""LaTeX in BibTeX values <-> the catalog's plain Unicode text, through pylatexenc.

Reading (`latex_to_text`): accents, escapes and math become Unicode
(G{\\"o}del -> Gödel, {\\o} -> ø, $\\alpha$ -> α, $\\mathcal{O}$ -> 𝒪). What pylatexenc
would silently drop or mangle is refused instead: a command it does not know,
braces nested deeper than MAX_DEPTH, LaTeX it cannot parse.

Writing (`text_to_latex`, `title_to_latex`): LaTeX's special characters are
escaped and every non-ASCII character is written as LaTeX ({\\"o}, {$\\alpha$}),
so an exported .bib is pure ASCII and survives a LaTeX run without inputenc.
Braces in the text become {\\textbraceleft}/{\\textbraceright}, never \\{ \\}: BibTeX
counts every brace, escaped or not, so an escaped lone brace would break the entry.
Titles also brace-protect the words a bibliography style must not lowercase.
"""

from __future__ import annotations

import re

from pylatexenc import latexwalker, macrospec
from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec, get_default_latex_context_db
from pylatexenc.latexencode import UnicodeToLatexEncoder

MAX_DEPTH = 16  # brace nesting a value may have; real titles use 2-3, pylatexenc recurses per level

# Commands pylatexenc's default tables lack or decode lossily, as (name, number of {} arguments, text).
_EXTRA_MACROS = [
    ("url", 1, "%s"),  # a link is its text (bibtexparser's LatexDecodingMiddleware does the same)
    ("textbraceleft", 0, "{"), ("textbraceright", 0, "}"), ("textless", 0, "<"), ("textgreater", 0, ">"),
    ("textasciicircum", 0, "^"), ("TeX", 0, "TeX"), ("LaTeX", 0, "LaTeX"), ("relax", 0, ""), ("xspace", 0, ""),
    ("mbox", 1, "%s"), ("hbox", 1, "%s"), ("texttt", 1, "%s"), ("textsuperscript", 1, "%s"),
    ("textsubscript", 1, "%s"), ("boldsymbol", 1, "%s"), ("bm", 1, "%s"), ("operatorname", 1, "%s"),
]


class LatexError(ValueError):
    """A value whose LaTeX cannot be turned into text without losing or inventing something."""


def _contexts():
    """(parsing context, text context): pylatexenc's defaults plus _EXTRA_MACROS."""
    parsing = latexwalker.get_default_latex_context_db()
    parsing.add_context_category("diffatlas", prepend=True, macros=[
        macrospec.MacroSpec(name, "{" * args) for name, args, _ in _EXTRA_MACROS])
    text = get_default_latex_context_db()
    text.add_context_category("diffatlas", prepend=True, macros=[
        MacroTextSpec(name, simplify_repl=repl) for name, _, repl in _EXTRA_MACROS])
    return parsing, text


_PARSING, _TEXT = _contexts()
_DECODER = LatexNodes2Text(latex_context=_TEXT, math_mode="text", strict_latex_spaces=True)
_BARE = re.compile(r"(?<!\\)([%&])")  # a bare % or & in a .bib value means the character itself


def brace_depth(value: str) -> int:
    """Deepest brace nesting in `value`, or -1 when a } closes nothing."""
    depth = deepest = 0
    for ch in value:
        if ch == "{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == "}":
            depth -= 1
            if depth < 0:
                return -1
    return deepest


def _missing_argument(node) -> bool:
    """A command whose {argument} is absent (`{\\u}`): pylatexenc would drop the command and print nothing."""
    args = getattr(node, "nodeargd", None)
    spec = getattr(args, "argspec", "") or ""
    for kind, arg in zip(spec, getattr(args, "argnlist", None) or []):
        empty = arg is None or (arg.isNodeType(latexwalker.LatexCharsNode) and not arg.chars)
        if kind == "{" and empty:
            return True
    return False


def _unreadable(nodes) -> list[str]:
    """What in the parsed nodes pylatexenc would drop: unknown commands or environments, missing arguments."""
    problems, stack = [], list(nodes or [])
    while stack:
        node = stack.pop()
        if node is None:
            continue
        if node.isNodeType(latexwalker.LatexMacroNode):
            if _TEXT.get_macro_spec(node.macroname) is None:
                problems.append(f"LaTeX command \\{node.macroname} is not known here and would be dropped")
            elif _missing_argument(node):
                problems.append(f"LaTeX command \\{node.macroname} has no argument and would be dropped")
        if node.isNodeType(latexwalker.LatexEnvironmentNode) and _TEXT.get_environment_spec(node.environmentname) is None:
            problems.append(f"LaTeX environment {node.environmentname!r} is not known here and would be dropped")
        stack.extend(getattr(node, "nodelist", None) or [])
        stack.extend(getattr(getattr(node, "nodeargd", None), "argnlist", None) or [])
    return sorted(set(problems))


def latex_to_text(value: str) -> str:
    """The Unicode text a LaTeX value prints, whitespace collapsed; LatexError if that would lose something."""
    depth = brace_depth(value)
    if depth > MAX_DEPTH:
        raise LatexError(f"braces are nested {depth} deep (at most {MAX_DEPTH}); simplify the value")
    try:
        nodes, _, _ = latexwalker.LatexWalker(_BARE.sub(r"\\\1", value), latex_context=_PARSING,
                                              tolerant_parsing=False).get_latex_nodes()
        problems = _unreadable(nodes)
        if problems:
            raise LatexError("; ".join(problems) + "; write the text it stands for")
        text = _DECODER.nodelist_to_text(nodes)
    except LatexError:
        raise
    except (latexwalker.LatexWalkerError, IndexError, KeyError, ValueError, TypeError, RecursionError) as exc:
        raise LatexError(f"cannot read this LaTeX ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}); "
                         "write it as plain text") from None
    return re.sub(r"\s+", " ", text).strip()


# --- writing ------------------------------------------------------------------------------

_SPECIAL = {
    "\\": r"{\textbackslash}", "{": r"{\textbraceleft}", "}": r"{\textbraceright}", "&": r"\&", "%": r"\%",
    "$": r"\$", "#": r"\#", "_": r"\_", "~": r"{\textasciitilde}", "^": r"{\textasciicircum}",
    "<": r"{\textless}", ">": r"{\textgreater}",
}
_ENCODER = UnicodeToLatexEncoder(non_ascii_only=True, replacement_latex_protection="braces-all",
                                 unknown_char_policy="keep", unknown_char_warning=False)


def _math_delimiters(latex: str) -> str:
    r"""pylatexenc's {\ensuremath{\alpha}} as {$\alpha$}, the form BibTeX styles and readers expect."""
    out, start = [], 0
    for match in re.finditer(r"\\ensuremath\{", latex):
        if match.start() < start:
            continue
        depth, end = 1, match.end()
        while depth and end < len(latex):
            depth += {"{": 1, "}": -1}.get(latex[end], 0)
            end += 1
        out += [latex[start:match.start()], "$", latex[match.end():end - 1], "$"]
        start = end
    return "".join(out) + latex[start:]


def text_to_latex(text: str) -> str:
    """Plain Unicode text as ASCII LaTeX that prints the same text (and reads back with latex_to_text)."""
    escaped = "".join(_SPECIAL.get(ch, ch) for ch in text)
    escaped = re.sub(r"-(?=-)", "-{}", escaped)  # an ASCII '--' stays two hyphens, not an en dash
    return _math_delimiters(_ENCODER.unicode_to_latex(escaped))


# Words a title capitalises only at their start that are names (people, models, languages) in
# catalog titles: a sentence-casing style must not lowercase them. Extend when a title needs it.
PROPER_NOUNS = {
    "Adams", "Baichuan", "Bayes", "Bayesian", "Chinese", "Diffsound", "Dreamix", "Euler", "Fourier", "Frido",
    "Gaussian", "Heun", "Hunyuan", "Imagen", "Imagic", "Karras", "Kolors", "Langevin", "Llama", "Lumiere",
    "Mamba", "Markov", "Nash", "Phenaki", "Python", "Schrödinger", "Sora", "Wasserstein",
}
_EDGE = re.compile(r"^([\"'(\[]*)(.*?)([\"'):;,.!?\]]*)$", re.S)


def _needs_protection(part: str, first_word: bool) -> bool:
    """An acronym or inner capital (DDIM, PixArt, 3D), a lone capital (U-Net), or a proper noun."""
    core = part.rstrip("+")
    if len(core) == 1:
        return core.isupper() and not first_word
    return any(ch.isupper() for ch in core[1:]) or core.removesuffix("’s").removesuffix("'s") in PROPER_NOUNS


def title_to_latex(title: str) -> str:
    """The title as LaTeX with each word a style must keep as written wrapped in braces.

    A hyphenated word is protected whole when any part needs it ({DPM-Solver++}, {U-Net});
    punctuation at a word's edges stays outside the braces ({DDIM}:).
    """
    words = []
    for index, word in enumerate(title.split(" ")):
        lead, core, trail = _EDGE.match(word).groups()
        parts = [p for p in re.split(r"[-–/]", core) if p]
        protect = any(_needs_protection(p, index == 0 and len(parts) == 1) for p in parts)
        latex = text_to_latex(core)
        words.append(text_to_latex(lead) + (f"{{{latex}}}" if protect and core else latex) + text_to_latex(trail))
    return " ".join(words)
